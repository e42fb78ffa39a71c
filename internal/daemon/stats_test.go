package daemon

import (
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// TestStatsFollowTheChecks: each check and gate carries its cumulative stats in every
// snapshot; a reload keeps those of checks that keep their name and protocol, starts a
// check whose protocol changed from zero, and a state change counts under the state
// entered.
func TestStatsFollowTheChecks(t *testing.T) {
	spec := idleTargets(t, "axigen")[0]
	d, state := foldRig(t, spec)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := trace("connect", "banner")
	refused := &probe.Error{Reason: probe.ReasonRefused, Phase: "connect"}
	for i, r := range []result{
		{target: "axigen", check: "imap", trace: tr, at: at},
		{target: "axigen", check: "imap", trace: tr, err: refused, at: at},
		{target: "axigen", check: "smtp", trace: tr, err: refused, at: at},
		{target: "axigen", check: "vip", gate: true, trace: tr, at: at},
	} {
		var pub publisher
		pub.mark(d.fold(state, r))
		d.publishDirty(state, &pub, r.at.Add(time.Duration(i)))
	}
	snap := d.Snapshot()
	imap := snap.Targets[0].Checks[1].Stats.View()
	if imap.Failures[0] != 1 || imap.Phases[0].Phase != PhaseTotal || imap.Phases[0].Count() != 2 {
		t.Fatalf("imap stats = %+v, want 1 refused and 2 whole probes", imap)
	}
	if names := []string{imap.Phases[1].Phase, imap.Phases[2].Phase}; names[0] != "connect" || names[1] != "banner" {
		t.Errorf("imap phases = %v, want connect then banner after total", names)
	}
	if v := snap.Targets[0].Gates[0].Stats.View(); v.Phases[0].Count() != 1 {
		t.Errorf("vip gate stats = %+v, want one probe", v)
	}

	// Reload: imap kept, smtp becomes a tcp check (a different protocol), pop3 dropped.
	next := spec
	next.Checks = []CheckSpec{spec.Checks[1], spec.Checks[0]}
	next.Checks[1].Probe.Protocol = "tcp"
	ns, err := state.reconfigure([]TargetSpec{next})
	if err != nil {
		t.Fatal(err)
	}
	d.publish(ns, at.Add(time.Minute))
	got := d.Snapshot().Targets[0]
	if got.Checks[0].Name != "imap" || got.Checks[0].Stats != snap.Targets[0].Checks[1].Stats {
		t.Error("the kept check imap lost its stats across the reload")
	}
	if v := got.Checks[1].Stats.View(); got.Checks[1].Name != "smtp" || v.Failures[0] != 0 {
		t.Errorf("smtp, now tcp, stats = %+v, want fresh ones", v)
	}

	ts := ns.targets[0]
	d.transition(ts, Transition{At: at, From: "starting", To: "online"})
	d.transition(ts, Transition{At: at, From: "online", To: "offline"})
	d.transition(ts, Transition{At: at, From: "offline", To: "online"})
	if n := ts.snapshot().Stats.Transitions("online"); n != 2 {
		t.Errorf("transitions to online = %d, want 2", n)
	}
}

// TestHistogramBucketsAreInclusive: an observation equal to a bound counts in that bound's
// bucket (Prometheus' le is "less than or equal"); above every bound, in the last.
func TestHistogramBucketsAreInclusive(t *testing.T) {
	h := newHistogram([]float64{0.1, 1})
	for _, v := range []float64{0.05, 0.1, 0.5, 1, 2} {
		h.observe(v)
	}
	if want := []uint64{2, 2, 1}; h.Counts[0] != want[0] || h.Counts[1] != want[1] || h.Counts[2] != want[2] {
		t.Errorf("counts = %v, want %v", h.Counts, want)
	}
	if h.Count() != 5 || h.Sum != 3.65 {
		t.Errorf("count %d sum %v, want 5 and 3.65", h.Count(), h.Sum)
	}
}
