package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/web"
)

// server is one running daemon with its socket and its fallback file. `run` and `demo` both
// use it, so the demo runs exactly what production runs.
type server struct {
	log    *slog.Logger
	load   func() (*config.Config, error) // re-reads the config on SIGHUP
	cfg    *config.Config
	daemon *daemon.Daemon
	sock   *ipc.Server
	hooks  serverHooks
	web    func(ctx context.Context) error // the bound web side; nil without one
	// procsFixed: GOMAXPROCS came from the environment; otherwise the server sizes it to
	// the schedule on start and on every reload (tuneProcs).
	procsFixed bool
}

// serverHooks let the web side (metrics, status page) observe the daemon. Every field is
// optional.
type serverHooks struct {
	observer daemon.Observer
	ipc      ipc.Observer // told the outcome of every socket request
	reloaded func(ok bool)
	// web builds the HTTP side before anything listens, so a bad web config fails the
	// start with no socket or fallback file made. The bind function it returns binds the
	// listener once the socket listens (a port in use still fails the start); the
	// function bind returns serves alongside the daemon until ctx ends, and if it fails
	// the daemon stops too.
	web func(d *daemon.Daemon, sock web.SocketReporter) (bind func() (func(ctx context.Context) error, error), err error)
}

// socketRef reports the socket's status to the web side, which is built before the socket
// listens: until then there is nothing to report.
type socketRef struct{ sock *ipc.Server }

func (r *socketRef) SocketStatus() ipc.SocketStatus {
	if r.sock == nil {
		return ipc.SocketStatus{}
	}
	return r.sock.SocketStatus()
}

// newLogger builds the slog logger the config asks for.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// newServer builds the daemon for cfg and opens its socket. Nothing runs until run.
func newServer(cfg *config.Config, load func() (*config.Config, error), log *slog.Logger, hooks serverHooks) (*server, error) {
	specs := cfg.Resolve() // what runs: the daemon's targets and the fallback file's
	d, err := daemon.New(daemon.Options{
		Targets:       specs,
		MaxConcurrent: cfg.MaxConcurrentProbes,
		Logger:        log,
		Observer:      hooks.observer,
		Version:       buildVersion(),
	})
	if err != nil {
		return nil, err
	}
	ref := &socketRef{}
	var bindWeb func() (func(ctx context.Context) error, error)
	if hooks.web != nil {
		if bindWeb, err = hooks.web(d, ref); err != nil {
			return nil, err
		}
	}
	sock, err := ipc.Listen(cfg.Socket, cfg.SocketMode, cfg.SocketGroup)
	if err != nil {
		return nil, err
	}
	ref.sock = sock
	sock.Observer = hooks.ipc
	sock.Events = func(e ipc.SocketEvent) {
		switch e.Kind {
		case ipc.SocketRecreated:
			log.Warn("socket file recreated", "socket", e.Path, "detail", e.Detail)
		default:
			log.Error("socket file unusable", "socket", e.Path, "problem", e.Kind, "detail", e.Detail)
		}
	}
	_, procsFixed := os.LookupEnv("GOMAXPROCS")
	s := &server{log: log, load: load, cfg: cfg, daemon: d, sock: sock, hooks: hooks, procsFixed: procsFixed}
	s.tuneProcs(specs)
	if err := writeFallback(cfg.Socket, specs); err != nil {
		sock.Close()
		return nil, err
	}
	if bindWeb != nil {
		if s.web, err = bindWeb(); err != nil {
			sock.Close()
			return nil, err
		}
	}
	return s, nil
}

// tuneProcs sizes GOMAXPROCS to the schedule of specs and says so when it changes.
func (s *server) tuneProcs(specs []config.TargetSpec) {
	before := runtime.GOMAXPROCS(0)
	if procs := tuneProcs(s.procsFixed, specs); procs != 0 && procs != before {
		s.log.Info("GOMAXPROCS set to the schedule", "gomaxprocs", procs, "peak_probes_per_second", math.Round(peakProbeRate(specs)))
	}
}

// writeFallback leaves beside the socket what the monitor shim needs to check the node
// directly when the daemon cannot answer: the resolved model's gates and critical checks.
func writeFallback(socket string, specs []config.TargetSpec) error {
	if err := ipc.WriteFallback(ipc.FallbackPath(socket), config.Fallbacks(specs)); err != nil {
		return fmt.Errorf("fallback file: %w", err)
	}
	return nil
}

// run serves until ctx ends: the probe loop, the socket, SIGHUP reloads, and the systemd
// notifications (READY=1 once the first round is in, STOPPING=1 on the way out). The socket
// is removed on the way out; the fallback file is kept for the shim.
func (s *server) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 3)
	parts := 2
	go func() { errs <- s.daemon.Run(ctx) }()
	go func() { errs <- s.sock.Serve(ctx, s.daemon) }()
	if s.web != nil {
		parts++
		go func() { errs <- s.web(ctx) }()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s.log.Info("axprobe started", "version", buildVersion(), "socket", s.cfg.Socket, "targets", len(s.cfg.Targets))
	ready := s.daemon.Ready()
	var first error
	for running := parts; running > 0; {
		select {
		case <-ready:
			ready = nil
			s.log.Info("first round complete")
			_ = daemon.Notify("READY=1")
		case <-hup:
			s.reload(ctx)
		case err := <-errs:
			running--
			if err != nil && first == nil {
				first = err
			}
			cancel() // one part ended: stop the others
		}
	}
	_ = daemon.Notify("STOPPING=1")
	// The fallback file stays: while the daemon is down (restart, upgrade, crash) it is
	// exactly what lets the shim check the node directly instead of reporting offline.
	s.log.Info("axprobe stopped")
	return first
}

// reload re-reads the config. A config that does not load or validate is rejected with every
// problem logged; the running one stays.
func (s *server) reload(ctx context.Context) {
	s.log.Info("reloading config")
	// A reload is also when an operator expects a deleted socket file back; the server
	// checks every second anyway (and logs what it finds).
	_ = s.sock.CheckSocket()
	cfg, err := s.load()
	var specs []config.TargetSpec
	if err == nil {
		specs = cfg.Resolve()
		err = s.daemon.Reload(ctx, specs)
	}
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				s.log.Error("config reload rejected", "problem", p.String())
			}
		} else {
			s.log.Error("config reload rejected", "err", err)
		}
		if s.hooks.reloaded != nil {
			s.hooks.reloaded(false)
		}
		return
	}
	if cfg.Socket != s.cfg.Socket || cfg.HTTP != s.cfg.HTTP {
		s.log.Warn("socket and http settings change only on restart; keeping the running ones",
			"socket", s.cfg.Socket, "config_socket", cfg.Socket, "http.listen", s.cfg.HTTP.Listen, "config_http.listen", cfg.HTTP.Listen)
	}
	// The running socket first: the fallback file belongs beside the socket that is served.
	cfg.Socket, cfg.HTTP = s.cfg.Socket, s.cfg.HTTP
	if err := writeFallback(cfg.Socket, specs); err != nil {
		s.log.Error("fallback file not updated", "err", err)
	}
	s.cfg = cfg
	s.tuneProcs(specs)
	if s.hooks.reloaded != nil {
		s.hooks.reloaded(true)
	}
	s.log.Info("config reloaded", "targets", len(cfg.Targets))
}
