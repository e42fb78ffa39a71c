package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/mailtest"
)

func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe demo", `Usage: axprobe demo [--scenario story|none] [--dir DIR] [--http.listen ADDR]

Runs the real daemon, with no setup and no root, against built-in fake Axigen listeners
(SMTP, IMAP, POP3, WebMail, WebAdmin, CLI) on 127.0.0.1, and prints the live state and VCS
code every second. The story scenario breaks things one at a time so you can watch the
confidence drop, the code fall to 100 and come back. Ctrl-C stops and cleans up everything.

While it runs, try in another terminal (the demo prints the exact socket path):
  axprobe monitor --socket DIR/axprobe.sock; echo "exit code $?"
  axprobe status --socket DIR/axprobe.sock

Examples:
  go run ./cmd/axprobe demo
  axprobe demo --scenario none --http.listen 127.0.0.1:9728

Flags:
`, stderr)
	scenario := fs.String("scenario", "story", "story: play healthy → IMAP hang → recovery → SMTP refuses → process gone → mail queue stuck; none: stay healthy")
	dir := fs.String("dir", "", "working directory for the config, socket and logs (default: a new temp dir, removed on exit)")
	listen := fs.String("http.listen", "127.0.0.1:9728", "address of the status page and /metrics, \"\" to disable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *scenario != "story" && *scenario != "none" {
		fmt.Fprintf(stderr, "axprobe demo: --scenario %q: want story or none\n", *scenario)
		return 2
	}
	env, err := startDemoEnv(*dir, *listen)
	if err != nil {
		fmt.Fprintf(stderr, "axprobe demo: %v\n", err)
		return 1
	}
	defer env.close()

	srv, err := newServer(env.cfg, env.load, env.log, demoWebHooks(env.cfg, env.log, env))
	if err != nil {
		fmt.Fprintf(stderr, "axprobe demo: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()

	fmt.Fprintf(stdout, "axprobe demo: fake Axigen on 127.0.0.1, daemon running (Ctrl-C to stop)\n")
	fmt.Fprintf(stdout, "  config:  %s\n  log:     %s\n  socket:  %s\n", env.configPath, env.logPath, env.cfg.Socket)
	if env.cfg.HTTP.Listen != "" {
		fmt.Fprintf(stdout, "  status:  http://%s/\n", env.cfg.HTTP.Listen)
	}
	fmt.Fprintf(stdout, "  try:     axprobe monitor --socket %s; echo $?\n\n", env.cfg.Socket)

	var steps []demoStep
	if *scenario == "story" {
		steps = env.story()
	}
	playDemo(ctx, stdout, srv.daemon, steps)
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(stderr, "axprobe demo: %v\n", err)
		return 1
	}
	return 0
}

// demoEnv is the fake node the demo runs against: the listeners, a stand-in process for
// Axigen, a storage directory, and a config file that points the daemon at them.
type demoEnv struct {
	dir, configPath, logPath string
	removeDir                bool
	axigen                   *mailtest.Axigen
	cfg                      *config.Config
	load                     func() (*config.Config, error)
	log                      *slog.Logger
	logFile                  *os.File

	mu      sync.Mutex
	standIn *exec.Cmd // plays the Axigen process for the process gate
}

const demoUser, demoPassword = "probe", "demo-password"

func startDemoEnv(dir, listen string) (_ *demoEnv, err error) {
	env := &demoEnv{dir: dir}
	if env.dir == "" {
		// Short, under /tmp: a Unix socket path must fit in 108 bytes.
		if env.dir, err = os.MkdirTemp("", "axprobe-demo-"); err != nil {
			return nil, err
		}
		env.removeDir = true
	}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if env.axigen, err = mailtest.StartAxigen(mailtest.AxigenOptions{
		Dir: env.dir, Hostname: "mail.demo.test", Users: map[string]string{demoUser: demoPassword},
	}); err != nil {
		return nil, err
	}
	if err := env.startStandIn(); err != nil {
		return nil, err
	}
	for _, d := range []string{"storage"} {
		if err := os.MkdirAll(filepath.Join(env.dir, d), 0o750); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(env.dir, "probe.pw"), []byte(demoPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	env.configPath = filepath.Join(env.dir, "axprobe.yaml")
	if err := env.writeConfig(listen); err != nil {
		return nil, err
	}
	env.load = func() (*config.Config, error) { return config.Load(env.configPath, nil, nil) }
	if env.cfg, err = env.load(); err != nil {
		return nil, fmt.Errorf("the demo's own config does not load: %w", err)
	}
	env.logPath = filepath.Join(env.dir, "axprobe.log")
	if env.logFile, err = os.OpenFile(env.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640); err != nil {
		return nil, err
	}
	env.log = slog.New(slog.NewTextHandler(env.logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return env, nil
}

// startStandIn starts a long sleep to play the Axigen process and writes its pidfile.
func (e *demoEnv) startStandIn() error {
	cmd := exec.Command("sleep", "86400")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stand-in Axigen process: %w", err)
	}
	e.mu.Lock()
	e.standIn = cmd
	e.mu.Unlock()
	return os.WriteFile(filepath.Join(e.dir, "axigen.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

func (e *demoEnv) stopStandIn() {
	e.mu.Lock()
	cmd := e.standIn
	e.standIn = nil
	e.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func (e *demoEnv) close() {
	e.stopStandIn()
	if e.axigen != nil {
		_ = e.axigen.Close()
	}
	if e.logFile != nil {
		_ = e.logFile.Close()
	}
	if e.removeDir {
		_ = os.RemoveAll(e.dir)
	}
}

var demoConfig = template.Must(template.New("demo").Parse(`# Written by "axprobe demo": the daemon's real config format, pointed at fake listeners.
# Intervals are short so that the story plays in about a minute; scoring (window, rise,
# fall) is the production default. See deploy/axprobe.example.yaml for a real node.
socket: {{.Dir}}/axprobe.sock
http:
  listen: "{{.Listen}}"
log:
  level: debug
targets:
  - name: axigen
    vip: 127.0.0.1
    require_local_vip: true
    process: { pidfile: {{.Dir}}/axigen.pid, name: sleep }   # the demo's stand-in process
    storage: { path: {{.Dir}}/storage, require_mount: false }
    maintenance_file: {{.Dir}}/maintenance
    interval: 1s
    fast_interval: 500ms
    timeout: 800ms
    checks:
      # Weights: mail flow (SMTP, IMAP) matters most, the admin listeners least.
      - { name: smtp, protocol: smtp, port: {{.SMTP}}, weight: 3, tls: starttls, ca_file: {{.CA}}, banner_regex: "Axigen ESMTP",
          auth: { username: {{.User}}, password_file: {{.Dir}}/probe.pw } }
      - { name: imap, protocol: imap, port: {{.IMAP}}, weight: 3, tls: starttls, ca_file: {{.CA}},
          auth: { username: {{.User}}, password_file: {{.Dir}}/probe.pw } }
      - { name: pop3, protocol: pop3, port: {{.POP3}}, weight: 2, tls: starttls, ca_file: {{.CA}},
          auth: { username: {{.User}}, password_file: {{.Dir}}/probe.pw } }
      - { name: webmail, protocol: http, port: {{.WebMail}}, expect_header: "Server: Axigen-Webmail" }
      - { name: webadmin, protocol: http, port: {{.WebAdmin}}, weight: 0.5, expect_header: "Server: Axigen-Webadmin" }
      - { name: cli, protocol: cli, port: {{.CLI}}, weight: 0.5 }
      # Axigen's own /metrics on WebAdmin: the mail queue. Not critical: a stuck queue lowers
      # the confidence and alerts, it does not fail the node over.
      - name: queue
        protocol: metrics
        port: {{.WebAdmin}}
        interval: 1s
        auth: { username: {{.User}}, password_file: {{.Dir}}/probe.pw }
        series:
          - { name: queue_size, degraded_above: 100, failed_above: 500, growth_degraded_above: 300 }
`))

func (e *demoEnv) writeConfig(listen string) error {
	port := func(s *mailtest.Server) string {
		_, p, _ := net.SplitHostPort(s.Addr())
		return p
	}
	var b strings.Builder
	err := demoConfig.Execute(&b, map[string]string{
		"Dir": e.dir, "Listen": listen, "CA": e.axigen.Certs.CAFile, "User": demoUser,
		"SMTP": port(e.axigen.SMTP), "IMAP": port(e.axigen.IMAP), "POP3": port(e.axigen.POP3),
		"WebMail": port(e.axigen.WebMail), "WebAdmin": port(e.axigen.WebAdmin), "CLI": port(e.axigen.CLI),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(e.configPath, []byte(b.String()), 0o640)
}

// demoStep is one act of the story: do something to the fake node, then wait (bounded) until
// the daemon's answer shows it.
type demoStep struct {
	title string
	apply func()
	until func(daemon.TargetSnapshot) bool
	hold  time.Duration // keep showing the result this long once until holds
}

func (e *demoEnv) story() []demoStep {
	ax := e.axigen
	faulter := mailtest.Faulter{Axigen: ax}
	healthy := func(t daemon.TargetSnapshot) bool { return t.Code == 110 }
	offline := func(t daemon.TargetSnapshot) bool { return t.State == "offline" }
	return []demoStep{
		{title: "healthy: every listener answers", until: healthy, hold: 3 * time.Second},
		{title: "IMAP hangs: accepts, never greets", apply: func() { ax.IMAP.SetFault(mailtest.FaultHang) }, until: offline, hold: 2 * time.Second},
		{title: "IMAP recovers", apply: func() { ax.IMAP.SetFault(mailtest.FaultNone) }, until: healthy, hold: 2 * time.Second},
		{title: "SMTP refuses connections", apply: func() { ax.SMTP.SetFault(mailtest.FaultRefuse) }, until: offline, hold: 2 * time.Second},
		{title: "SMTP back", apply: func() { ax.SMTP.SetFault(mailtest.FaultNone) }, until: healthy, hold: 2 * time.Second},
		{title: "Axigen process gone (listeners still answer)", apply: e.stopStandIn, until: offline, hold: 2 * time.Second},
		{title: "Axigen process restarted", apply: func() { _ = e.startStandIn() }, until: healthy, hold: 2 * time.Second},
		{title: "mail queue stuck: delivery stops, Axigen's queue_size grows (not critical: confidence drops, no failover)",
			apply: func() { _ = faulter.SetSignal("queue_stuck") }, until: checkOutcome("queue", "failed"), hold: 3 * time.Second},
		{title: "queue delivered", apply: func() { _ = faulter.SetSignal("") }, until: healthy, hold: 2 * time.Second},
	}
}

// checkOutcome is a story step's condition: the named check's last outcome is outcome.
func checkOutcome(check, outcome string) func(daemon.TargetSnapshot) bool {
	return func(t daemon.TargetSnapshot) bool {
		for _, c := range t.Checks {
			if c.Name == check {
				return c.Outcome == outcome
			}
		}
		return false
	}
}

// playDemo prints the daemon's answer every second while it plays the steps, then keeps
// printing until ctx ends.
func playDemo(ctx context.Context, w io.Writer, d *daemon.Daemon, steps []demoStep) {
	const stepLimit = 60 * time.Second
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	step, stepStart, heldSince := -1, time.Now(), time.Time{}
	lastState := ""
	next := func() {
		step++
		stepStart, heldSince = time.Now(), time.Time{}
		if step < len(steps) {
			fmt.Fprintf(w, "\n== %s\n", steps[step].title)
			if steps[step].apply != nil {
				steps[step].apply()
			}
		} else if len(steps) > 0 {
			fmt.Fprintf(w, "\n== story complete; the daemon keeps running (Ctrl-C to stop)\n")
		}
	}
	next()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t, ok := d.Snapshot().Target("")
		if !ok {
			continue
		}
		if t.State != lastState {
			if lastState != "" {
				fmt.Fprintf(w, "   → %s: %s\n", strings.ToUpper(t.State), t.Reason)
			}
			lastState = t.State
		}
		fmt.Fprintln(w, demoLine(t))
		if step >= len(steps) {
			continue
		}
		s := steps[step]
		switch {
		case !heldSince.IsZero() && time.Since(heldSince) >= s.hold:
			next()
		case heldSince.IsZero() && s.until(*t):
			heldSince = time.Now()
		case heldSince.IsZero() && time.Since(stepStart) > stepLimit:
			fmt.Fprintf(w, "   (not seen within %s; moving on)\n", stepLimit)
			next()
		}
	}
}

// demoLine is one status line: time, state, code, confidence, each check's health.
func demoLine(t *daemon.TargetSnapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s %d  conf %.2f |", time.Now().Format("15:04:05"), strings.ToUpper(t.State), t.Code, t.Confidence)
	for _, c := range t.Checks {
		mark := " "
		if c.HasResult && !c.OK {
			mark = "!"
		}
		fmt.Fprintf(&b, " %s %.1f%s", c.Name, c.Health, mark)
	}
	b.WriteString(" |")
	for _, g := range t.Gates {
		status := "ok"
		if g.HasResult && !g.OK {
			status = "FAIL"
		}
		fmt.Fprintf(&b, " %s %s", g.Name, status)
	}
	return b.String()
}
