package daemon

import (
	"reflect"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// TestPublishTargetMatchesFullPublish: the snapshot published after a result, which
// rebuilds only the result's target, is exactly the snapshot a full rebuild gives.
func TestPublishTargetMatchesFullPublish(t *testing.T) {
	ax := startAxigen(t) // only for addresses: nothing is probed
	var specs []TargetSpec
	for _, name := range []string{"a", "b", "c"} {
		spec := fastTarget(ax, "/nonexistent.pid")
		spec.Name = name
		specs = append(specs, spec)
	}
	d, err := New(Options{Targets: specs})
	if err != nil {
		t.Fatal(err)
	}
	state, err := newLoopState(specs, 10)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d.publish(state, t0)
	before := d.snap.Load()

	tr := probe.NewTrace()
	tr.Begin("connect")
	tr.Finish()
	for k, r := range []result{
		{target: "b", check: "imap", trace: tr, at: t0.Add(time.Second)},
		{target: "b", check: "vip", gate: true, trace: tr, at: t0.Add(2 * time.Second)},
		{target: "c", check: "smtp", trace: tr, err: &probe.Error{Reason: probe.ReasonRefused, Phase: "connect"}, at: t0.Add(3 * time.Second)},
	} {
		d.fold(state, r)
		d.publishTarget(state, r.target, r.at)
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

// TestPublishTargetUnknownNameRebuildsAll: a name the state does not hold (a result racing
// a reload) falls back to a full rebuild instead of indexing out of range.
func TestPublishTargetUnknownNameRebuildsAll(t *testing.T) {
	spec := fastTarget(startAxigen(t), "/nonexistent.pid")
	d, err := New(Options{Targets: []TargetSpec{spec}})
	if err != nil {
		t.Fatal(err)
	}
	state, err := newLoopState([]TargetSpec{spec}, 10)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d.publishTarget(state, "gone", at) // no previous snapshot either
	s := d.snap.Load()
	if s == nil || len(s.Targets) != 1 || s.Targets[0].Name != spec.Name || !s.Published.Equal(at) {
		t.Fatalf("snapshot %+v, want a full one of target %q published at %s", s, spec.Name, at)
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
