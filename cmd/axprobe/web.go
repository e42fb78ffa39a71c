package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/web"
)

// webHooks wires /metrics and the status page to the daemon of `axprobe run`.
func webHooks(cfg *config.Config, log *slog.Logger) serverHooks {
	return newWebHooks(cfg, log, nil, nil)
}

// demoWebHooks is webHooks for `axprobe demo`: the status page also gets buttons that break
// and mend env's fake Axigen.
func demoWebHooks(cfg *config.Config, log *slog.Logger, env *demoEnv) serverHooks {
	return newWebHooks(cfg, log, &demoFaults{env: env}, nil)
}

// newWebHooks returns the hooks through which the metrics observe the daemon, the socket
// and config reloads, and which serve the web side while the daemon runs, on the listener
// listen returns (nil: listen on cfg.HTTP.Listen). With http.listen "" there is no web side
// and no metrics.
func newWebHooks(cfg *config.Config, log *slog.Logger, faults web.FaultInjector, listen func() (net.Listener, error)) serverHooks {
	if cfg.HTTP.Listen == "" {
		return serverHooks{}
	}
	if listen == nil {
		addr := cfg.HTTP.Listen
		listen = func() (net.Listener, error) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("http.listen: %w", err)
			}
			return ln, nil
		}
	}
	m := web.NewMetrics(buildVersion())
	webConfig := cfg.HTTP.WebConfigFile
	return serverHooks{
		observer: m,
		ipc:      m,
		reloaded: func(ok bool) { m.Reloaded(ok, time.Now()) },
		serve: func(ctx context.Context, d *daemon.Daemon) error {
			srv, err := web.New(web.Options{Source: d, Metrics: m, Faults: faults, Logger: log, WebConfigFile: webConfig})
			if err != nil {
				return err
			}
			ln, err := listen()
			if err != nil {
				return err
			}
			return srv.Serve(ctx, ln)
		},
	}
}

// demoFaults lets the demo's status page break and mend the fake Axigen node.
type demoFaults struct {
	env *demoEnv
	mu  sync.Mutex // one process action at a time, so a double click starts one stand-in
}

func (f *demoFaults) Listeners() []string {
	return []string{"smtp", "imap", "pop3", "webmail", "webadmin", "cli"}
}

func (f *demoFaults) Faults() []string {
	var out []string
	for _, fault := range mailtest.Faults() {
		out = append(out, string(fault))
	}
	return out
}

func (f *demoFaults) server(listener string) (*mailtest.Server, error) {
	if !slices.Contains(f.Listeners(), listener) {
		return nil, fmt.Errorf("listener %q is not one of %v", listener, f.Listeners())
	}
	return f.env.axigen.Servers()[listener], nil
}

func (f *demoFaults) Fault(listener string) string {
	s, err := f.server(listener)
	if err != nil {
		return ""
	}
	return string(s.Fault())
}

func (f *demoFaults) SetFault(listener, fault string) error {
	s, err := f.server(listener)
	if err != nil {
		return err
	}
	parsed, err := mailtest.ParseFault(fault)
	if err != nil {
		return err
	}
	return s.ApplyFault(parsed)
}

func (f *demoFaults) ProcessRunning() bool {
	f.env.mu.Lock()
	defer f.env.mu.Unlock()
	return f.env.standIn != nil
}

func (f *demoFaults) KillProcess() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.env.stopStandIn()
	return nil
}

func (f *demoFaults) RestartProcess() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ProcessRunning() {
		return nil
	}
	return f.env.startStandIn()
}
