package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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
	return newWebHooks(cfg, log, &demoFaults{Faulter: mailtest.Faulter{Axigen: env.axigen}, env: env}, nil)
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
		ipc:      m,
		reloaded: func(ok bool) { m.Reloaded(ok, time.Now()) },
		web: func(d *daemon.Daemon, sock web.SocketReporter) (func() (func(ctx context.Context) error, error), error) {
			srv, err := web.New(web.Options{Source: d, Metrics: m, Faults: faults, Logger: log, WebConfigFile: webConfig, Socket: sock})
			if err != nil {
				return nil, err
			}
			return func() (func(ctx context.Context) error, error) {
				ln, err := listen()
				if err != nil {
					return nil, err
				}
				return func(ctx context.Context) error { return srv.Serve(ctx, ln) }, nil
			}, nil
		},
	}
}

// demoFaults lets the demo's status page break and mend the fake Axigen node: the
// listeners through mailtest.Faulter, the stand-in process here.
type demoFaults struct {
	mailtest.Faulter
	env *demoEnv
	mu  sync.Mutex // one process action at a time, so a double click starts one stand-in
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
