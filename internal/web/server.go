package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
)

// DefaultListen is the default address of the web side (config key http.listen). 9728 is
// axprobe's port, next to the exporter ports of the Prometheus default-port allocations.
const DefaultListen = "127.0.0.1:9728"

// Bounds of the HTTP server.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
	// DefaultStaleAfter is how old the daemon's last snapshot may be before /healthz says 503.
	// The daemon publishes at least every 10 s (its history sample), so three missed
	// publications mean its loop is stuck.
	DefaultStaleAfter = 30 * time.Second
)

// Source is what the web side reads: the daemon's latest published snapshot with the live
// facts of this moment applied (a VIP gone now shows offline now). *daemon.Daemon
// implements it. LiveSnapshot must be quick, safe for concurrent use and never return nil.
type Source interface {
	LiveSnapshot() *daemon.Snapshot
}

// Options configure a Server.
type Options struct {
	Source  Source        // required
	Metrics *Metrics      // required
	Faults  FaultInjector // nil except in `axprobe demo`: enables the /demo/ endpoints and buttons
	Logger  *slog.Logger  // nil discards
	// WebConfigFile is an exporter-toolkit web config (TLS, basic auth); "" serves plain
	// HTTP with no authentication.
	WebConfigFile string
	// StaleAfter: /healthz answers 503 when the last snapshot is older (DefaultStaleAfter
	// when 0).
	StaleAfter time.Duration
	// Socket, when set, reports the daemon's Unix socket file to /healthz: 503 while it is
	// missing or taken by something else, a note once it was recreated.
	Socket SocketReporter
}

// SocketReporter tells /healthz about the socket file; *ipc.Server implements it.
type SocketReporter interface {
	SocketStatus() ipc.SocketStatus
}

// Server serves /metrics, /status.json, /healthz, the status page at / and, in the demo, the
// fault buttons' endpoints under /demo/.
type Server struct {
	opts    Options
	log     *slog.Logger
	tmpl    *template.Template
	handler http.Handler
}

// New checks the options (including the web config file, so that a bad one is reported
// before anything listens) and returns a Server that does not serve yet.
func New(opts Options) (*Server, error) {
	if opts.Source == nil || opts.Metrics == nil {
		return nil, errors.New("web: Source and Metrics are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.WebConfigFile != "" {
		if err := web.Validate(opts.WebConfigFile); err != nil {
			return nil, fmt.Errorf("web config file %s: %w", opts.WebConfigFile, err)
		}
	}
	opts.Metrics.Attach(opts.Source)
	s := &Server{opts: opts, log: opts.Logger, tmpl: pageTemplate()}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", opts.Metrics.metricsHandler(opts.Logger))
	mux.HandleFunc("GET /status.json", s.statusJSON)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /static/", staticHandler())
	if opts.Faults != nil {
		s.demoRoutes(mux)
	}
	s.handler = securityHeaders(mux)
	return s, nil
}

// Handler returns the server's routes without TLS or authentication (for tests and for
// embedding); Serve wraps them with the web config's.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully (in-flight requests get a few
// seconds) and returns nil. It closes ln. An error is returned only when serving fails.
//
// It uses the exporter-toolkit's web.Serve with a FlagConfig, exactly as an exporter's
// web.ListenAndServe does once it has its listener; taking the listener from the caller
// lets a bind error surface before the daemon starts and lets tests listen on port 0.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	addrs := []string{ln.Addr().String()}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &s.opts.WebConfigFile}

	served := make(chan error, 1)
	go func() { served <- web.Serve(ln, srv, flags, s.log) }()
	select {
	case err := <-served:
		ln.Close()
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	}
	return nil
}

// statusJSON serves the snapshot as the socket's STATUS does; ?target=NAME narrows it to
// one target.
func (s *Server) statusJSON(w http.ResponseWriter, r *http.Request) {
	snap := s.opts.Source.LiveSnapshot()
	if name := r.URL.Query().Get("target"); name != "" {
		t, ok := snap.Target(name)
		if !ok {
			http.Error(w, fmt.Sprintf("no target %q", name), http.StatusNotFound)
			return
		}
		one := *snap
		one.Targets = []daemon.TargetSnapshot{*t}
		snap = &one
	}
	body, err := json.Marshal(snap)
	if err != nil {
		http.Error(w, "cannot encode the status", http.StatusInternalServerError)
		s.log.Error("status.json", "err", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// healthz answers 200 "ok" while the daemon's loop publishes and its socket file is in
// place, 503 once its last snapshot is older than StaleAfter or while the socket file is
// missing or taken by something else. A socket file that was deleted and recreated is
// noted on a second line.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	age := time.Since(s.opts.Source.LiveSnapshot().Published)
	if age > s.opts.StaleAfter {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "stale: last snapshot %s ago (limit %s)\n", age.Round(time.Second), s.opts.StaleAfter)
		return
	}
	var sock ipc.SocketStatus
	if s.opts.Socket != nil {
		sock = s.opts.Socket.SocketStatus()
	}
	if sock.Problem != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "socket: %s\n", sock.Problem)
		return
	}
	fmt.Fprintln(w, "ok")
	if sock.Recreated > 0 {
		fmt.Fprintf(w, "socket recreated %d times after it was deleted, last at %s\n", sock.Recreated, sock.LastRecreated.UTC().Format(time.RFC3339))
	}
}
