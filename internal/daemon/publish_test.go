package daemon

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// TestPublishDirtyMatchesFullPublish: the snapshot published after results, which rebuilds
// only the results' targets, is exactly the snapshot a full rebuild gives.
func TestPublishDirtyMatchesFullPublish(t *testing.T) {
	d, state := foldRig(t, idleTargets(t, "a", "b", "c")...)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d.publish(state, t0)
	before := d.snap.Load()

	tr := trace("connect")
	for k, r := range []result{
		{target: "b", check: "imap", trace: tr, at: t0.Add(time.Second)},
		{target: "b", check: "vip", gate: true, trace: tr, at: t0.Add(2 * time.Second)},
		{target: "c", check: "smtp", trace: tr, err: &probe.Error{Reason: probe.ReasonRefused, Phase: "connect"}, at: t0.Add(3 * time.Second)},
	} {
		var pub publisher
		pub.mark(d.fold(state, r))
		d.publishDirty(state, &pub, r.at)
		got := d.snap.Load()
		d.publish(state, r.at)
		want := d.snap.Load()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("result %d (%s/%s): publishTarget published\n%+v\nwant (full rebuild)\n%+v", k, r.target, r.check, got, want)
		}
	}
	if got := d.snap.Load(); reflect.DeepEqual(got.Targets[1], before.Targets[1]) {
		t.Error("target b's snapshot did not change after its results: the test exercised nothing")
	}
}

// TestFoldUnknownTargetMarksNothing: a result for a name the state does not hold (one
// racing a reload) is dropped, and publishing with nothing marked keeps the snapshot.
func TestFoldUnknownTargetMarksNothing(t *testing.T) {
	d, state := foldRig(t, idleTargets(t, "axigen")...)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	before := d.snap.Load()
	if i := d.fold(state, result{target: "gone", check: "imap", at: at}); i != -1 {
		t.Fatalf("fold of an unknown target = %d, want -1", i)
	}
	var pub publisher
	d.publishDirty(state, &pub, at)
	if d.snap.Load() != before {
		t.Error("publishing with no target marked replaced the snapshot")
	}
}

// TestSpreadIsCentred: the steady-state schedule stays within ±frac of the interval and
// averages the interval itself, so a check runs as often as configured.
func TestSpreadIsCentred(t *testing.T) {
	const d, n = time.Second, 20000
	var sum time.Duration
	lo, hi := d, d
	for range n {
		v := spread(d, 0.1)
		if v < 900*time.Millisecond || v > 1100*time.Millisecond {
			t.Fatalf("spread(1s, 0.1) = %s, outside [0.9s, 1.1s]", v)
		}
		sum += v
		lo, hi = min(lo, v), max(hi, v)
	}
	// The mean of n uniform draws over ±100 ms has a standard deviation of ~0.4 ms.
	if mean := sum / n; mean < 995*time.Millisecond || mean > 1005*time.Millisecond {
		t.Errorf("mean of %d draws = %s, want 1s ± 5ms", n, mean)
	}
	if lo > 950*time.Millisecond || hi < 1050*time.Millisecond {
		t.Errorf("draws span only [%s, %s]: not spread over ±10 %%", lo, hi)
	}
}

// TestPublisherPublishesLateResults: a result that arrives while the pace holds
// publications back is published by the publisher's timer, without another result to
// trigger it; and a batch that marks several targets publishes what a full rebuild gives.
func TestPublisherPublishesLateResults(t *testing.T) {
	d, state := foldRig(t, idleTargets(t, "a", "b", "c")...)
	d.publish(state, time.Now())
	before := d.snap.Load()

	tr := trace("connect")
	var pub publisher
	defer pub.stop()
	pub.next = time.Now().Add(50 * time.Millisecond) // as after a costly publication
	pub.mark(d.fold(state, result{target: "a", check: "imap", trace: tr, at: time.Now()}))
	pub.mark(d.fold(state, result{target: "c", check: "smtp", trace: tr, err: &probe.Error{Reason: probe.ReasonRefused}, at: time.Now()}))
	pub.publishSoon(d, state)
	if d.snap.Load() != before {
		t.Fatal("published before the pace allowed")
	}
	select {
	case now := <-pub.due():
		pub.fire()
		d.publishDirty(state, &pub, now)
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher's timer never fired: the results would wait for the next one")
	}
	got := d.snap.Load()
	if got == before {
		t.Fatal("nothing published after the timer")
	}
	d.publish(state, got.Published)
	if want := d.snap.Load(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the batch published\n%+v\nwant (full rebuild)\n%+v", got, want)
	}
}

// TestStartingCountFollowsTransitions: the loop's count of starting targets, which decides
// readiness without walking every target, always equals a walk.
func TestStartingCountFollowsTransitions(t *testing.T) {
	specs := idleTargets(t, "a", "b")
	for i := range specs {
		specs[i].Gates = specs[i].Gates[:1] // vip only
	}
	d, state := foldRig(t, specs...)
	walk := func() int {
		n := 0
		for _, ts := range state.targets {
			if ts.score.Decision().State == "starting" {
				n++
			}
		}
		return n
	}
	tr := trace()
	at := time.Now()
	for _, target := range []string{"a", "b"} {
		for _, c := range append(specs[0].Checks, specs[0].Gates...) {
			d.fold(state, result{target: target, check: c.Name, gate: c.Name == "vip", trace: tr, at: at})
			if state.starting != walk() {
				t.Fatalf("after %s/%s: count %d, walk %d", target, c.Name, state.starting, walk())
			}
		}
	}
	if state.starting != 0 || !state.ready {
		t.Fatalf("every target probed: starting %d, ready %v", state.starting, state.ready)
	}
	// A reload that adds a check puts the target back to starting until it is probed.
	next := specs[0]
	next.Checks = append(slices.Clone(next.Checks), CheckSpec{Name: "extra", Weight: 1, Probe: probe.Spec{Protocol: "tcp", Address: next.Checks[1].Probe.Address}})
	ns, err := state.reconfigure([]TargetSpec{next, specs[1]})
	if err != nil {
		t.Fatal(err)
	}
	state = ns
	if state.starting != walk() {
		t.Fatalf("after the reload: count %d, walk %d", state.starting, walk())
	}
}
