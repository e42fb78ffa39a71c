package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// FaultInjector breaks and mends the fake Axigen node of `axprobe demo`. Only the demo has
// one; with none, the /demo/ endpoints do not exist. Methods are called from HTTP handlers,
// concurrently, and must be safe for that.
type FaultInjector interface {
	// Listeners names the fake listeners (smtp, imap, ...) in display order.
	Listeners() []string
	// Faults names every fault a listener can be given (mailtest.Faults()).
	Faults() []string
	// Fault returns the listener's current fault, "" for none.
	Fault(listener string) string
	// SetFault gives the listener a fault; "" clears it. An unknown listener or fault is an
	// error naming it.
	SetFault(listener, fault string) error
	// Signals names the faults of Axigen's own state (mailtest.Faulter.Signals:
	// "queue_stuck"); Signal returns the one on ("" for none); SetSignal turns one on, or
	// all off with "". An unknown name is an error naming it.
	Signals() []string
	Signal() string
	SetSignal(name string) error
	// ProcessRunning reports whether the stand-in Axigen process runs.
	ProcessRunning() bool
	// KillProcess stops the stand-in Axigen process; RestartProcess starts it again.
	KillProcess() error
	RestartProcess() error
}

// demoHeader must be on every demo POST. A page on another origin cannot set it without a
// CORS preflight, which this server never grants, so its presence proves the request came
// from our own page's fetch (a plain cross-site form post cannot carry it).
const demoHeader = "X-Axprobe-Demo"

// demoState is the JSON of GET /demo/state.
type demoState struct {
	Faults         []string        `json:"faults"`
	Listeners      []listenerState `json:"listeners"`
	ProcessRunning bool            `json:"process_running"`
	Signals        []string        `json:"signals"`
	Signal         string          `json:"signal"`
}

type listenerState struct {
	Name  string `json:"name"`
	Fault string `json:"fault"`
}

func (s *Server) demoRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo/state", s.demoState)
	mux.Handle("POST /demo/fault", s.sameOrigin(http.HandlerFunc(s.demoFault)))
	mux.Handle("POST /demo/process", s.sameOrigin(http.HandlerFunc(s.demoProcess)))
	mux.Handle("POST /demo/signal", s.sameOrigin(http.HandlerFunc(s.demoSignal)))
}

func (s *Server) currentDemoState() demoState {
	fi := s.opts.Faults
	st := demoState{Faults: fi.Faults(), ProcessRunning: fi.ProcessRunning(), Signals: fi.Signals(), Signal: fi.Signal()}
	for _, l := range fi.Listeners() {
		st.Listeners = append(st.Listeners, listenerState{Name: l, Fault: fi.Fault(l)})
	}
	return st
}

func (s *Server) demoState(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s.currentDemoState())
}

// sameOrigin is the CSRF guard of the demo's POST endpoints: the request must carry
// demoHeader, and when the browser names the request's origin (Origin, Sec-Fetch-Site) it
// must be this server.
func (s *Server) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(demoHeader) != "1" {
			http.Error(w, "missing "+demoHeader+" header", http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
		next.ServeHTTP(w, r)
	})
}

// demoFault sets (fault=NAME) or clears (fault="" or "none") a listener's fault.
func (s *Server) demoFault(w http.ResponseWriter, r *http.Request) {
	listener, fault := r.FormValue("listener"), r.FormValue("fault")
	if fault == "none" {
		fault = ""
	}
	if err := s.opts.Faults.SetFault(listener, fault); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("demo: fault set", "listener", listener, "fault", fault)
	s.demoState(w, r)
}

// demoSignal turns a fault of Axigen's own state on (signal=queue_stuck) or off
// (signal=none).
func (s *Server) demoSignal(w http.ResponseWriter, r *http.Request) {
	signal := r.FormValue("signal")
	if signal == "none" {
		signal = ""
	}
	if err := s.opts.Faults.SetSignal(signal); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("demo: signal set", "signal", signal)
	s.demoState(w, r)
}

// demoProcess kills (action=kill) or restarts (action=restart) the stand-in process.
func (s *Server) demoProcess(w http.ResponseWriter, r *http.Request) {
	var err error
	switch action := r.FormValue("action"); action {
	case "kill":
		err = s.opts.Faults.KillProcess()
	case "restart":
		err = s.opts.Faults.RestartProcess()
	default:
		http.Error(w, fmt.Sprintf("action %q: want kill or restart", action), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.demoState(w, r)
}
