package mailtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// HTTP kinds accepted by StartHTTP.
const (
	KindWebMail  = "webmail"
	KindWebAdmin = "webadmin"
)

// The pages and Server headers the HTTP fakes answer with.
const (
	WebMailServer  = "Axigen-Webmail"
	WebAdminServer = "Axigen-Webadmin"
	WebMailPage    = "<!DOCTYPE html>\n<html><head><title>Axigen WebMail</title></head>\n" +
		"<body><h1>Axigen WebMail</h1><form method=\"post\" action=\"/index.hsp?login=\">" +
		"<input name=\"username\"><input name=\"password\" type=\"password\">" +
		"<button>Login</button></form></body></html>\n"
	WebAdminPage = "<!DOCTYPE html>\n<html><head><title>Axigen WebAdmin</title></head>\n" +
		"<body><h1>Axigen WebAdmin</h1><form method=\"post\" action=\"/\">" +
		"<input name=\"username\"><input name=\"password\" type=\"password\">" +
		"<button>Login</button></form></body></html>\n"
	wrongServer = "nginx/1.22.1"
	wrongPage   = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n" +
		"<body><h1>Welcome to nginx!</h1></body></html>\n"
)

// StartHTTP starts a fake Axigen WebMail (kind "webmail") or WebAdmin (kind "webadmin")
// listener on net/http, with implicit TLS when opts.TLS is implicit.
//
// Healthy: GET or HEAD / answers 200 with header "Server: Axigen-Webmail" and WebMailPage
// (also at /index.hsp), or "Server: Axigen-Webadmin" and WebAdminPage; a WebAdmin with
// opts.Reporting also serves /metrics (basic auth of opts.Users; see Reporting); other
// paths 404, other methods 405. Faults: wrong banner answers every request 200 as nginx; reject
// banner answers every request 503 (Axigen's Server header); slow banner delays the first
// answer; trickle sends every response one byte at a time; drop closes on the request's
// first byte; reject auth changes nothing. Like every fault, these hold for connections
// accepted after SetFault: a client that keeps a connection alive keeps its old fault.
func StartHTTP(opts Options, kind string) (*Server, error) {
	p := &httpProto{kind: kind}
	switch kind {
	case KindWebMail:
		p.server, p.page = WebMailServer, WebMailPage
	case KindWebAdmin:
		p.server, p.page = WebAdminServer, WebAdminPage
	default:
		return nil, fmt.Errorf("http kind %q is not one of %s, %s", kind, KindWebMail, KindWebAdmin)
	}
	if opts.TLS == TLSStartTLS {
		return nil, fmt.Errorf("tls %q: HTTP has no STARTTLS; use implicit", opts.TLS)
	}
	return newServer(opts, func(s *Server, addr net.Addr) (protocol, error) {
		p.srv, p.ho = s, newHandoff(addr)
		p.lib = &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       s.opts.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, faultKey{}, connFault(c))
			},
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.lib.Serve(p.ho)
		}()
		return p, nil
	})
}

// faultKey finds a request's connection fault in its context.
type faultKey struct{}

type httpProto struct {
	srv          *Server
	ho           *handoff
	lib          *http.Server
	kind         string
	server, page string
}

func (p *httpProto) greeting(*conn) []byte  { return nil }
func (p *httpProto) wrongGreeting() []byte  { return nil }
func (p *httpProto) rejectGreeting() []byte { return nil }
func (p *httpProto) serve(c *conn)          { p.ho.serve(c, c) }

func (p *httpProto) close() error {
	err := p.lib.Close()
	p.ho.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ServeHTTP answers as Axigen, or as the request's connection fault says.
func (p *httpProto) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault, _ := r.Context().Value(faultKey{}).(Fault)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case fault == FaultWrongBanner:
		h.Set("Server", wrongServer)
		fmt.Fprint(w, wrongPage)
		return
	case fault == FaultRejectBanner:
		h.Set("Server", p.server)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html><body>Service Unavailable</body></html>\n")
		return
	}
	h.Set("Server", p.server)
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		h.Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
	case p.kind == KindWebAdmin && r.URL.Path == "/metrics" && p.srv.opts.Reporting != nil:
		p.serveMetrics(w, r, fault)
	case r.URL.Path == "/" || (p.kind == KindWebMail && r.URL.Path == "/index.hsp"):
		fmt.Fprint(w, p.page)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body>Not Found</body></html>\n")
	}
}
