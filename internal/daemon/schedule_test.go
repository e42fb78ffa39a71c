package daemon

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/testkit"
)

// probeCounter is an Observer that counts probe results, gates apart from checks.
type probeCounter struct {
	checks, gates atomic.Int64
	gateDone      chan struct{} // one send per gate result, dropped when nobody listens
}

func (c *probeCounter) ProbeDone(_, _ string, gate bool, _ *probe.Trace, _ error) {
	if !gate {
		c.checks.Add(1)
		return
	}
	c.gates.Add(1)
	select {
	case c.gateDone <- struct{}{}:
	default:
	}
}
func (c *probeCounter) Transition(string, Transition) {}
func (c *probeCounter) Published(*Snapshot)           {}

// hungListener accepts loopback connections and never answers (every IMAP probe against
// it hangs until its timeout), counting how many are open at once.
type hungListener struct {
	addr          string
	mu            sync.Mutex
	open, maxOpen int
	accepted      chan struct{}
}

func listenHung(t *testing.T) *hungListener {
	t.Helper()
	l := &hungListener{accepted: make(chan struct{}, 1024)}
	l.addr = testkit.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		l.mu.Lock()
		l.open++
		l.maxOpen = max(l.maxOpen, l.open)
		l.mu.Unlock()
		go func() { // counts the close: the probe gave up or was cancelled
			_, _ = io.Copy(io.Discard, c)
			l.mu.Lock()
			l.open--
			l.mu.Unlock()
		}()
		l.accepted <- struct{}{}
	})
	return l
}

func (l *hungListener) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxOpen
}

// runCounted runs a daemon of targets with at most maxConcurrent probes in flight until
// the test ends.
func runCounted(t *testing.T, targets []TargetSpec, maxConcurrent int) (*Daemon, *probeCounter) {
	t.Helper()
	obs := &probeCounter{gateDone: make(chan struct{})}
	d, err := New(Options{Targets: targets, MaxConcurrent: maxConcurrent, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	d.noEvents = true
	testkit.Run(t, "Run", d.Run)
	return d, obs
}

// TestGoroutinesDoNotGrowWithChecks: 400 checks share max_concurrent_probes worker slots
// and wait on timers, not in a goroutine each (46 KiB a target at 10,000 targets before,
// docs/BENCHMARKS.md).
func TestGoroutinesDoNotGrowWithChecks(t *testing.T) {
	addr := testkit.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) { _ = c.Close() })
	const perTarget, nTargets, pool = 4, 100, 4
	var targets []TargetSpec
	for i := range nTargets {
		ts := TargetSpec{Name: fmt.Sprintf("t%03d", i), Interval: time.Hour, FastInterval: 200 * time.Millisecond,
			Timeout: 30 * time.Second, Window: 5, Rise: 1, Fall: 1, OfflineBelow: 0.5}
		for c := range perTarget {
			ts.Checks = append(ts.Checks, CheckSpec{Name: fmt.Sprintf("tcp%d", c), Weight: 1,
				Probe: probe.Spec{Protocol: "tcp", Address: addr}})
		}
		targets = append(targets, ts)
	}
	before := runtime.NumGoroutine()
	d, obs := runCounted(t, targets, pool)
	select {
	case <-d.Ready():
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d of %d first probes in after 2 minutes", obs.checks.Load(), perTarget*nTargets)
	}
	// The probes in flight, the scheduler's poke reader, the loop's own helpers: a handful,
	// whatever the number of checks (one goroutine per check made this 400 more).
	if grown := runtime.NumGoroutine() - before; grown > pool+20 {
		t.Errorf("%d goroutines more while running %d checks on a pool of %d", grown, perTarget*nTargets, pool)
	}
}

// TestGatesRunWhileEveryWorkerHangs: with every worker of the pool stuck on a listener
// that never greets, no more than max_concurrent_probes probes are in flight, and the
// gates keep being probed: a local fact must not wait behind a hung IMAP probe.
func TestGatesRunWhileEveryWorkerHangs(t *testing.T) {
	hung := listenHung(t)
	const pool = 2
	ts := TargetSpec{Name: "axigen", Interval: time.Hour, FastInterval: 20 * time.Millisecond,
		Timeout: 10 * time.Minute, Window: 5, Rise: 1, Fall: 1, OfflineBelow: 0.5}
	for c := range 5 {
		ts.Checks = append(ts.Checks, CheckSpec{Name: fmt.Sprintf("imap%d", c), Weight: 1,
			Probe: probe.Spec{Protocol: "imap", Address: hung.addr}})
	}
	ts.Gates = []CheckSpec{{Name: "vip", Interval: 20 * time.Millisecond, Probe: probe.Spec{Protocol: "vip", VIP: "127.0.0.1"}}}
	_, obs := runCounted(t, []TargetSpec{ts}, pool)
	for range pool {
		select {
		case <-hung.accepted:
		case <-time.After(time.Minute):
			t.Fatal("the pool did not start its probes")
		}
	}
	for i := range 5 {
		select {
		case <-obs.gateDone:
		case <-time.After(time.Minute):
			t.Fatalf("%d gate results while every worker hung, want 5", i)
		}
	}
	if n := hung.most(); n > pool {
		t.Errorf("%d probes in flight at once, max_concurrent_probes is %d", n, pool)
	}
}

// schedulerOf builds the scheduler of one target with n checks and a VIP gate, without
// starting it.
func schedulerOf(t *testing.T, n, pool int, now time.Time) (*scheduler, *liveSet) {
	t.Helper()
	ts := TargetSpec{Name: "axigen", Interval: time.Minute, FastInterval: time.Second, Timeout: time.Second,
		Window: 5, Rise: 1, Fall: 1, OfflineBelow: 0.5}
	for c := range n {
		ts.Checks = append(ts.Checks, CheckSpec{Name: fmt.Sprintf("tcp%d", c), Weight: 1,
			Probe: probe.Spec{Protocol: "tcp", Address: "127.0.0.1:1"}})
	}
	ts.Gates = []CheckSpec{{Name: "vip", Probe: probe.Spec{Protocol: "vip", VIP: "127.0.0.1"}}}
	d, err := New(Options{Targets: []TargetSpec{ts}, MaxConcurrent: pool})
	if err != nil {
		t.Fatal(err)
	}
	set := newLiveSet(d.opts.Targets)
	return newScheduler(d, 0, d.opts.Targets, set, now), set
}

// jobOf returns the job of check name in s.
func jobOf(t *testing.T, s *scheduler, name string) *job {
	t.Helper()
	for _, j := range s.jobs {
		if j.check == name {
			return j
		}
	}
	t.Fatalf("no job %q", name)
	return nil
}

// TestOverdueChecksStartInDueOrder: when every worker slot is taken, the checks that fall
// due wait, and each slot a probe frees goes to the longest overdue of them, whatever the
// order their timers fired in.
func TestOverdueChecksStartInDueOrder(t *testing.T) {
	now := time.Now()
	s, _ := schedulerOf(t, 4, 1, now)
	running := jobOf(t, s, "tcp3")
	if !s.startLocked(running) {
		t.Fatal("the first due check did not take the free slot")
	}
	dueAgo := map[string]time.Duration{"tcp0": time.Second, "tcp1": 2 * time.Second, "tcp2": 3 * time.Second}
	for _, name := range []string{"tcp0", "tcp1", "tcp2"} { // fired in this order
		j := jobOf(t, s, name)
		j.due = now.Add(-dueAgo[name])
		if s.startLocked(j) {
			t.Fatalf("%s started with no slot free", name)
		}
		if s.startLocked(j) {
			t.Fatalf("%s started when its timer fired a second time", name)
		}
	}
	var order []string
	for j := s.doneLocked(running, false, now); j != nil; j = s.doneLocked(j, false, now) {
		order = append(order, j.check)
	}
	if fmt.Sprint(order) != "[tcp2 tcp1 tcp0]" {
		t.Errorf("started %v, want the longest overdue first: [tcp2 tcp1 tcp0]", order)
	}
	if s.free != 1 {
		t.Errorf("%d slots free after every probe ended, want the pool of 1", s.free)
	}
}

// TestPokeWhileRunningProbesAgain: a gate poked while its probe runs is probed again as
// soon as that probe ends (the fact may have moved after the probe read it); one poked
// while idle is due at once.
func TestPokeWhileRunningProbesAgain(t *testing.T) {
	now := time.Now()
	s, set := schedulerOf(t, 1, 1, now)
	gate := set.gate("axigen", "vip")
	j := s.byGate[gate]

	j.due = now.Add(time.Hour)
	gate.poke()
	<-s.pokes.wake
	s.takePokes(now)
	if !j.due.Equal(now) {
		t.Fatalf("idle gate poked: due in %s, want now", j.due.Sub(now))
	}

	if !s.startLocked(j) {
		t.Fatal("a due gate did not start")
	}
	gate.poke()
	gate.poke() // a second poke before the scheduler looks is the same request
	<-s.pokes.wake
	if got := s.pokes.take(); len(got) != 1 {
		t.Fatalf("two pokes queued the gate %d times, want once", len(got))
	}
	gate.poke()
	s.takePokes(now)
	end := now.Add(time.Millisecond)
	s.doneLocked(j, false, end)
	if !j.due.Equal(end) {
		t.Errorf("poked while running: next probe %s after it ended, want at once", j.due.Sub(end))
	}
	s.startLocked(j)
	s.doneLocked(j, false, end)
	if !j.due.After(end) {
		t.Errorf("the re-probe was due at once again; one poke must give one extra probe")
	}
}
