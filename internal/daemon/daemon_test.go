package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/secret"
	"github.com/axprobe/axprobe/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// publishes is an Observer that signals every published snapshot, so tests wait on events
// instead of sleeping.
type publishes struct {
	mu          sync.Mutex
	ch          chan *Snapshot
	transitions []Transition
}

func newPublishes() *publishes { return &publishes{ch: make(chan *Snapshot, 1)} }

func (p *publishes) ProbeDone(string, string, bool, *probe.Trace, error) {}
func (p *publishes) Transition(_ string, tr Transition) {
	p.mu.Lock()
	p.transitions = append(p.transitions, tr)
	p.mu.Unlock()
}
func (p *publishes) Published(s *Snapshot) {
	select { // keep only the newest
	case <-p.ch:
	default:
	}
	p.ch <- s
}

// waitFor returns the first published snapshot of target that satisfies cond, failing the
// test after limit. It also returns every code seen on the way.
func (p *publishes) waitFor(t *testing.T, limit time.Duration, what string, cond func(TargetSnapshot) bool) (TargetSnapshot, []int) {
	t.Helper()
	deadline := time.After(limit)
	var codes []int
	for {
		select {
		case s := <-p.ch:
			ts := s.Targets[0]
			if n := len(codes); n == 0 || codes[n-1] != ts.Code {
				codes = append(codes, ts.Code)
			}
			if cond(ts) {
				return ts, codes
			}
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s (codes seen: %v)", limit, what, codes)
		}
	}
}

// standIn starts a process to play Axigen for the process gate and returns its pidfile.
func standIn(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pidfile := filepath.Join(t.TempDir(), "axigen.pid")
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd, pidfile
}

func fastTarget(ax *mailtest.Axigen, pidfile string) TargetSpec {
	check := func(name, proto string, srv *mailtest.Server, critical bool) CheckSpec {
		ps := probe.Spec{Protocol: proto, Address: srv.Addr()}
		switch proto {
		case "imap", "pop3", "smtp":
			ps.Username, ps.Password = "probe", secret.New("s3cret")
		case "http":
			ps.ExpectStatus = 200
		}
		return CheckSpec{Name: name, Probe: ps, Critical: critical, Weight: 1}
	}
	return TargetSpec{
		Name: "axigen",
		Checks: []CheckSpec{
			check("smtp", "smtp", ax.SMTP, true),
			// Weighted so that one IMAP failure alone takes confidence to 0.9 (code 109).
			{Name: "imap", Probe: probe.Spec{Protocol: "imap", Address: ax.IMAP.Addr(), Username: "probe", Password: secret.New("s3cret")}, Critical: true, Weight: 4},
			check("pop3", "pop3", ax.POP3, true),
			check("webmail", "http", ax.WebMail, false),
			check("cli", "cli", ax.CLI, false),
		},
		Gates: []CheckSpec{
			{Name: "vip", Probe: probe.Spec{Protocol: "vip", VIP: "127.0.0.1"}},
			{Name: "process", Probe: probe.Spec{Protocol: "process", PidFile: pidfile, ProcessName: "sleep"}},
		},
		// The timeout is what a hung listener costs, and also the most a healthy probe may
		// take: it must be long enough that a probe starved on a loaded machine does not
		// time out, or the transitions the tests expect gain a spurious one.
		Interval: 100 * time.Millisecond, FastInterval: 50 * time.Millisecond, Timeout: 2 * time.Second,
		DegradedAfter: 5 * time.Second,
		Window:        5, Rise: 2, Fall: 3, OfflineBelow: 0.5,
	}
}

// idleTargets returns one fastTarget per name, with the addresses of a fake Axigen that
// nothing probes: for tests that fold results into a loop state by hand.
func idleTargets(t *testing.T, names ...string) []TargetSpec {
	ax := startAxigen(t)
	var specs []TargetSpec
	for _, name := range names {
		spec := fastTarget(ax, "/nonexistent.pid")
		spec.Name = name
		specs = append(specs, spec)
	}
	return specs
}

// foldRig returns a daemon of specs that does not run and a loop state of them, into which
// a test folds results by hand.
func foldRig(t *testing.T, specs ...TargetSpec) (*Daemon, *loopState) {
	t.Helper()
	d, err := New(Options{Targets: specs})
	if err != nil {
		t.Fatal(err)
	}
	state, err := newLoopState(specs, 10)
	if err != nil {
		t.Fatal(err)
	}
	return d, state
}

// handState returns the state of a target "t" of checks and gates to which a test applies
// results by hand: probed every minute, each result counts at once (rise and fall 1).
func handState(t *testing.T, checks, gates []CheckSpec, degradedAfter time.Duration) *targetState {
	t.Helper()
	ts, err := newTargetState(TargetSpec{Name: "t", Checks: checks, Gates: gates,
		Interval: time.Minute, FastInterval: time.Second, Timeout: 10 * time.Second, DegradedAfter: degradedAfter,
		Window: 5, Rise: 1, Fall: 1, OfflineBelow: 0.5}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// trace returns a finished probe trace that went through phases.
func trace(phases ...string) *probe.Trace {
	tr := probe.NewTrace()
	for _, p := range phases {
		tr.Begin(p)
	}
	tr.Finish()
	return tr
}

// loadTestdata loads internal/config/testdata/name with AXPROBE_TEST_PASSWORD=pw.
func loadTestdata(t *testing.T, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load("../config/testdata/"+name, []string{"AXPROBE_TEST_PASSWORD=pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// resolveTestdata returns the first target that loadTestdata(name) resolves to, validated
// as the daemon validates it.
func resolveTestdata(t *testing.T, name string) TargetSpec {
	t.Helper()
	spec := loadTestdata(t, name).Resolve()[0]
	if err := validateSpec(&spec); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return spec
}

func startAxigen(t *testing.T) *mailtest.Axigen {
	t.Helper()
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: t.TempDir(), Users: map[string]string{"probe": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ax.Close() })
	return ax
}

func runDaemon(t *testing.T, spec TargetSpec) (*Daemon, *publishes) {
	t.Helper()
	return runDaemonWith(t, spec, true)
}

// runDaemonWith runs a daemon for spec until the test ends; events false turns the kernel
// event sources off (only the periodic gate probes remain).
func runDaemonWith(t *testing.T, spec TargetSpec, events bool) (*Daemon, *publishes) {
	t.Helper()
	obs := newPublishes()
	d, err := New(Options{Targets: []TargetSpec{spec}, Observer: obs, HistoryEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.noEvents = !events
	testkit.Run(t, "Run", d.Run)
	return d, obs
}

func online(ts TargetSnapshot) bool  { return ts.State == "online" }
func offline(ts TargetSnapshot) bool { return ts.State == "offline" }

// TestDaemonEndToEnd walks the product's main story against the fake Axigen: healthy, a
// hung IMAP listener, recovery, and the Axigen process disappearing.
func TestDaemonEndToEnd(t *testing.T) {
	ax := startAxigen(t)
	proc, pidfile := standIn(t)
	d, obs := runDaemon(t, fastTarget(ax, pidfile))

	select {
	case <-d.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("daemon never left the starting state")
	}
	ts, _ := obs.waitFor(t, 30*time.Second, "healthy 110", func(ts TargetSnapshot) bool { return ts.Code == 110 })
	if ts.Reason != "all checks healthy" {
		t.Errorf("healthy reason = %q", ts.Reason)
	}
	ans, err := d.Monitor("axigen")
	if err != nil || ans.Code != 110 || ans.State != "online" {
		t.Fatalf("Monitor = %+v, %v; want 110 online", ans, err)
	}

	// IMAP hangs: the code must drop below 110 while still online, then reach 100.
	ax.IMAP.SetFault(mailtest.FaultHang)
	ts, codes := obs.waitFor(t, 60*time.Second, "offline after imap hang", offline)
	if ts.Code != 100 {
		t.Fatalf("offline code = %d", ts.Code)
	}
	dropped := false
	for _, c := range codes {
		dropped = dropped || (c > 100 && c < 110)
	}
	if !dropped {
		t.Errorf("code went %v: want a drop below 110 before 100", codes)
	}
	want := "imap: 3 consecutive failures (timeout in banner)"
	if ts.Reason != want {
		t.Errorf("offline reason = %q, want %q", ts.Reason, want)
	}
	imap := ts.Checks[1]
	if imap.Reason != "timeout" || imap.Phase != "banner" {
		t.Errorf("imap evidence = reason %q phase %q, want timeout/banner", imap.Reason, imap.Phase)
	}

	// Recovery: back online, after rise good updates.
	ax.IMAP.SetFault(mailtest.FaultNone)
	obs.waitFor(t, 60*time.Second, "online after recovery", online)

	// The process disappears: offline on the next gate probe, whatever the listeners say.
	_ = proc.Process.Kill()
	_ = proc.Wait()
	ts, _ = obs.waitFor(t, 30*time.Second, "offline after process kill", offline)
	if ts.Code != 100 || ts.Gates[1].OK {
		t.Fatalf("after kill: code %d, process gate ok=%v", ts.Code, ts.Gates[1].OK)
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	var path []string
	for _, tr := range obs.transitions {
		path = append(path, tr.From+"→"+tr.To)
	}
	wantPath := []string{"starting→online", "online→offline", "offline→online", "online→offline"}
	if len(path) != len(wantPath) {
		t.Fatalf("transitions %v, want %v", path, wantPath)
	}
	for i := range wantPath {
		if path[i] != wantPath[i] {
			t.Fatalf("transitions %v, want %v", path, wantPath)
		}
	}
}

// TestGateFailsAtStart: a node where the VIP is not plumbed must never report online, even
// though every listener answers (the standby node's view).
func TestGateFailsAtStart(t *testing.T) {
	ax := startAxigen(t)
	_, pidfile := standIn(t)
	spec := fastTarget(ax, pidfile)
	spec.Gates[0].Probe.VIP = "192.0.2.77" // TEST-NET-1: never local
	_, obs := runDaemon(t, spec)
	// Every snapshot until offline, and the next rounds after it (the listeners all
	// answer by then), must say offline or starting, never more than 100.
	never := func(ts TargetSnapshot) {
		if ts.State == "online" || ts.Code > 100 {
			t.Fatalf("reported %s/%d with the VIP absent", ts.State, ts.Code)
		}
	}
	obs.waitFor(t, 30*time.Second, "offline with the VIP absent", func(ts TargetSnapshot) bool {
		never(ts)
		return ts.State == "offline"
	})
	rounds := 0
	obs.waitFor(t, 30*time.Second, "ten more snapshots", func(ts TargetSnapshot) bool {
		never(ts)
		rounds++
		return rounds == 10
	})
}

// TestReloadKeepsHistory: a reload that changes one check keeps the others' history and the
// target's state.
func TestReloadKeepsHistory(t *testing.T) {
	ax := startAxigen(t)
	_, pidfile := standIn(t)
	spec := fastTarget(ax, pidfile)
	d, obs := runDaemon(t, spec)
	obs.waitFor(t, 30*time.Second, "online", func(ts TargetSnapshot) bool { return ts.Code == 110 })
	before := d.Snapshot().Targets[0]

	next := fastTarget(ax, pidfile)
	next.Checks[4].Probe.BannerRegex = "Axigen" // change cli only
	next.Checks = next.Checks[:5]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Reload(ctx, []TargetSpec{next}); err != nil {
		t.Fatal(err)
	}
	after := d.Snapshot().Targets[0]
	if after.State != "online" || after.Since != before.Since {
		t.Fatalf("state after reload %s since %v; want online since %v", after.State, after.Since, before.Since)
	}
	if !after.Checks[1].HasResult || after.Checks[1].Health == 0 {
		t.Fatalf("imap lost its history across the reload: %+v", after.Checks[1])
	}

	bad := fastTarget(ax, pidfile)
	bad.Checks[0].Probe.BannerRegex = "(" // does not compile
	if err := d.Reload(ctx, []TargetSpec{bad}); err == nil {
		t.Fatal("a reload with a bad regex was accepted")
	}
	if got := d.Snapshot().Targets[0].State; got != "online" {
		t.Fatalf("state after rejected reload = %s", got)
	}
}

func TestMonitorStaleAnswer(t *testing.T) {
	s := &Snapshot{Published: time.Unix(100, 0), Targets: []TargetSnapshot{{
		Name: "axigen", State: "online", Code: 110, Confidence: 1, Updated: time.Unix(100, 0), MaxAge: Duration(30 * time.Second)}}}
	ans, err := answerFor(s, "", time.Unix(200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Stale() {
		t.Fatalf("an answer 100s old with max_age 30s is not stale: %+v", ans)
	}
	if _, err := answerFor(s, "nope", time.Unix(200, 0)); err == nil {
		t.Fatal("unknown target answered")
	}
}

// TestMaxAgeIgnoresSlowChecks: a 5-minute round trip must not stretch the staleness bound
// of a target whose gates are probed every 10 s.
func TestMaxAgeIgnoresSlowChecks(t *testing.T) {
	spec := TargetSpec{Interval: 10 * time.Second, Timeout: 3 * time.Second,
		Checks: []CheckSpec{{Name: "imap"}, {Name: "roundtrip", Interval: 5 * time.Minute, Timeout: 90 * time.Second}}}
	if got, want := maxAge(&spec), 39*time.Second; got != want {
		t.Fatalf("maxAge = %s, want %s", got, want)
	}
	rt := spec.Checks[1]
	if got := spec.FastIntervalOf(&rt); got != 0 {
		t.Fatalf("fastInterval with no override = %s, want the target's (0 here)", got)
	}
	rt.FastInterval = time.Minute
	if got := spec.FastIntervalOf(&rt); got != time.Minute {
		t.Fatalf("fastInterval = %s, want 1m", got)
	}
}

// TestCadence: after a failure a check is probed at the fast interval until rise successes
// in a row have been seen, so both confirming an outage and confirming the recovery take
// fast intervals, not normal ones.
func TestCadence(t *testing.T) {
	const interval, fast = 10 * time.Second, time.Second
	c := cadence{interval: interval, fast: fast, rise: 2}
	isFast := func(d time.Duration) bool { return d == fast }
	steps := []struct {
		failed bool
		fast   bool
	}{
		{false, false}, // healthy: normal interval
		{true, true},   // failure: re-probe fast
		{true, true},   // still failing
		{false, true},  // first success: confirm the recovery fast
		{false, false}, // second success (rise 2): back to normal
		{false, false},
		{true, true},
		{false, true},
		{true, true}, // a failure during the recovery restarts it
		{false, true},
		{false, false},
	}
	for i, s := range steps {
		d := c.next(s.failed)
		if isFast(d) != s.fast {
			t.Fatalf("step %d (failed=%v): delay %s, want fast=%v", i, s.failed, d, s.fast)
		}
		if !s.fast && (d < 9*time.Second || d > 11*time.Second) {
			t.Fatalf("step %d: normal delay %s is not within ±10%% of %s", i, d, interval)
		}
	}
}

// TestMaxAgeDoesNotOverflow is issue 13's "a huge interval overflows max_age": with
// interval 1000000h, 3 × (interval + timeout) wrapped negative and every MONITOR was an
// error. The bound saturates instead, and the answer formats.
func TestMaxAgeDoesNotOverflow(t *testing.T) {
	huge := 1000000 * time.Hour
	spec := TargetSpec{Interval: huge, Timeout: huge, Checks: []CheckSpec{{Name: "smtp"}}}
	got := maxAge(&spec)
	if got < huge {
		t.Fatalf("maxAge = %s, want at least %s", got, huge)
	}
	s := &Snapshot{Published: time.Unix(100, 0), Targets: []TargetSnapshot{{
		Name: "axigen", State: "online", Code: 110, Confidence: 1, Updated: time.Unix(100, 0), MaxAge: Duration(got)}}}
	a, err := answerFor(s, "", time.Unix(200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ipc.FormatAnswer(a); err != nil {
		t.Fatalf("the answer does not format: %v", err)
	}
}
