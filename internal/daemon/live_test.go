package daemon

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/local"
	"github.com/axprobe/axprobe/internal/score"
	"github.com/axprobe/axprobe/internal/vcs"
)

// defaultPace gives a target the default config's schedule (interval 10s, fast_interval 1s,
// timeout 3s) and a gate interval of gateEvery: the scheduled gate probes are too rare to
// explain an answer that follows a fact within the test.
func defaultPace(spec TargetSpec, gateEvery time.Duration) TargetSpec {
	spec.Interval, spec.FastInterval, spec.Timeout = 10*time.Second, time.Second, 3*time.Second
	spec.Rise = 1 // online after the first full round, so the test starts quickly
	for i := range spec.Gates {
		spec.Gates[i].Interval = gateEvery
	}
	return spec
}

func runLiveDaemon(t *testing.T, spec TargetSpec, events bool) (*Daemon, *publishes) {
	t.Helper()
	return runDaemonWith(t, spec, events)
}

// TestMonitorAnswersProcessDeathAtOnce: at the default schedule, with no kernel events,
// the answer given right after the Axigen process died (killed and reaped) is 100 — not the
// cached 110 of the last gate probe, which is up to an interval old.
func TestMonitorAnswersProcessDeathAtOnce(t *testing.T) {
	ax := startAxigen(t)
	proc, pidfile := standIn(t)
	d, obs := runLiveDaemon(t, defaultPace(fastTarget(ax, pidfile), time.Hour), false)
	obs.waitFor(t, 30*time.Second, "online", online)
	if ans, err := d.Monitor(""); err != nil || ans.Code != 110 {
		t.Fatalf("Monitor before the kill = %+v, %v; want 110", ans, err)
	}

	_ = proc.Process.Kill()
	_ = proc.Wait()
	ans, err := d.Monitor("")
	if err != nil || ans.Code != vcs.CodeOffline || ans.State != "offline" || !strings.HasPrefix(ans.Reason, "process: pid ") {
		t.Fatalf("Monitor right after the kill = %+v, %v; want 100 offline, reason process: pid ... not running", ans, err)
	}
	// STATUS and the page show the same.
	s := d.LiveSnapshot()
	if s.Targets[0].Code != vcs.CodeOffline || s.Targets[0].Gates[1].OK {
		t.Errorf("LiveSnapshot right after the kill: code %d, process gate ok=%v", s.Targets[0].Code, s.Targets[0].Gates[1].OK)
	}
	// The failed live read pokes the gate, so the loop itself follows (transition, metrics,
	// on_transition) although its scheduled probe is an hour away.
	obs.waitFor(t, 30*time.Second, "the loop's own offline", offline)
}

// TestProcessExitEventMovesTheLoop: nobody asks; the pidfd event alone makes the daemon's
// state follow the process death (gate probes scheduled an hour apart).
func TestProcessExitEventMovesTheLoop(t *testing.T) {
	ax := startAxigen(t)
	proc, pidfile := standIn(t)
	_, obs := runLiveDaemon(t, defaultPace(fastTarget(ax, pidfile), time.Hour), true)
	obs.waitFor(t, 30*time.Second, "online", online)
	_ = proc.Process.Kill()
	ts, _ := obs.waitFor(t, 30*time.Second, "offline on the pidfd event", offline)
	if !strings.HasPrefix(ts.Reason, "process: ") {
		t.Errorf("reason = %q, want the process gate", ts.Reason)
	}
}

// TestPeriodicGateWithoutEvents: with every event source lost, the periodic gate probe is
// the safety net and still catches the process death.
func TestPeriodicGateWithoutEvents(t *testing.T) {
	ax := startAxigen(t)
	proc, pidfile := standIn(t)
	_, obs := runLiveDaemon(t, defaultPace(fastTarget(ax, pidfile), 200*time.Millisecond), false)
	obs.waitFor(t, 30*time.Second, "online", online)
	_ = proc.Process.Kill()
	obs.waitFor(t, 30*time.Second, "offline from the periodic gate probe", offline)
}

// TestLiveReadBlockedAnswersOffline: a live read stuck in the kernel ends the answer
// within LiveBudget, offline with the reason, and a second request starts no second read.
func TestLiveReadBlockedAnswersOffline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var reads atomic.Int32
	pokes := newPokeQueue()
	set := liveSet{pokes: pokes, byTarget: map[string][]*liveGate{"axigen": {{name: "process", reads: new(local.Bounded),
		pokes: pokes, read: func() error { reads.Add(1); <-release; return nil }}}}}
	for range 2 {
		done := make(chan score.Reason, 1)
		go func() { done <- set.failure("axigen") }()
		select {
		case r := <-done:
			if r.Name != "process" || !strings.Contains(r.Detail, "did not finish in time") {
				t.Errorf("failure = %+v, want the process gate, did not finish in time", r)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a blocked live read hung the answer")
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads started, want 1 (the stuck one is shared)", n)
	}
}
