package web

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
)

// snapshotOf builds a snapshot with one online target per name, each with the given checks
// and a vip gate, every check and gate with its own empty stats.
func snapshotOf(targets map[string][]string) *daemon.Snapshot {
	s := &daemon.Snapshot{Version: "test", Published: time.Now()}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		t := daemon.TargetSnapshot{Name: name, State: "online", Code: 109, Confidence: 0.85, Stats: &daemon.TargetStats{},
			Gates: []daemon.CheckSnapshot{{Name: "vip", Protocol: "vip", Outcome: "ok", Stats: daemon.NewCheckStats()}}}
		for _, c := range targets[name] {
			t.Checks = append(t.Checks, daemon.CheckSnapshot{Name: c, Protocol: c, Health: 0.5, Outcome: "degraded", Stats: daemon.NewCheckStats()})
		}
		s.Targets = append(s.Targets, t)
	}
	return s
}

// swapSource is a Source whose snapshot a test replaces, as the daemon's loop does.
type swapSource struct {
	p atomic.Pointer[daemon.Snapshot]
}

func (s *swapSource) LiveSnapshot() *daemon.Snapshot { return s.p.Load() }

// metricsOf returns metrics attached to a source holding snap.
func metricsOf(version string, snap *daemon.Snapshot) (*Metrics, *swapSource) {
	src := &swapSource{}
	src.p.Store(snap)
	m := NewMetrics(version)
	m.Attach(src)
	return m, src
}

// check returns the named check or gate of the named target in s.
func check(t *testing.T, s *daemon.Snapshot, target, name string) *daemon.CheckSnapshot {
	t.Helper()
	ts, ok := s.Target(target)
	if !ok {
		t.Fatalf("no target %s", target)
	}
	for _, list := range [][]daemon.CheckSnapshot{ts.Checks, ts.Gates} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	t.Fatalf("no check %s/%s", target, name)
	return nil
}

// value returns the value of the one series of name with exactly labels, failing the test
// when there is none.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := lookup(t, reg, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func lookup(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsEqual(m.GetLabel(), labels) {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

func traceWith(phases ...string) *probe.Trace {
	tr := probe.NewTrace()
	for _, p := range phases {
		tr.Begin(p)
	}
	tr.Finish()
	return tr
}

func TestMetricsFromSnapshot(t *testing.T) {
	snap := snapshotOf(map[string][]string{"ax": {"smtp", "imap"}})
	m, _ := metricsOf("v1.2.3", snap)
	reg := m.Registry()
	// What the daemon's loop does with each result: record it in the check's stats and
	// update the check's evidence in the next snapshot.
	probeDone := func(name string, trace *probe.Trace, err error) {
		c := check(t, snap, "ax", name)
		c.Stats.Record(trace, err)
		c.HasResult, c.OK = true, err == nil
	}

	// Every reason is pre-created at 0 for every check and gate.
	for _, check := range []string{"smtp", "imap", "vip"} {
		for _, r := range probe.Reasons() {
			if v := value(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": check, "reason": string(r)}); v != 0 {
				t.Errorf("failures{%s,%s} = %v before any probe, want 0", check, r, v)
			}
		}
	}
	if n := testutil.CollectAndCount(reg, "axprobe_probe_failures_total"); n != 3*len(probe.Reasons()) {
		t.Errorf("failure series = %d, want %d", n, 3*len(probe.Reasons()))
	}
	for _, st := range States() {
		want := 0.0
		if st == "online" {
			want = 1
		}
		if v := value(t, reg, "axprobe_state", map[string]string{"target": "ax", "state": st}); v != want {
			t.Errorf("state{%s} = %v, want %v", st, v, want)
		}
		if v := value(t, reg, "axprobe_transitions_total", map[string]string{"target": "ax", "to": st}); v != 0 {
			t.Errorf("transitions{to=%s} = %v, want 0", st, v)
		}
	}
	if v := value(t, reg, "axprobe_confidence", map[string]string{"target": "ax"}); v != 0.85 {
		t.Errorf("confidence = %v, want 0.85", v)
	}
	if v := value(t, reg, "axprobe_monitor_code", map[string]string{"target": "ax"}); v != 109 {
		t.Errorf("monitor code = %v, want 109", v)
	}
	if v := value(t, reg, "axprobe_check_health", map[string]string{"target": "ax", "check": "imap"}); v != 0.5 {
		t.Errorf("check health = %v, want 0.5", v)
	}

	// A successful TLS probe: success 1, one observation per phase and one total, cert expiry.
	expiry := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	ok := traceWith("connect", "banner", "starttls")
	ok.SetTLS(tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{{NotAfter: expiry}}}, true)
	if _, ok := lookup(t, reg, "axprobe_probe_success", map[string]string{"target": "ax", "check": "smtp"}); ok {
		t.Error("probe_success exists before the check's first result")
	}
	probeDone("smtp", ok, nil)
	if v := value(t, reg, "axprobe_probe_success", map[string]string{"target": "ax", "check": "smtp"}); v != 1 {
		t.Errorf("success after ok = %v, want 1", v)
	}
	for _, phase := range []string{"connect", "banner", "starttls", PhaseTotal} {
		if v := value(t, reg, "axprobe_probe_duration_seconds", map[string]string{"target": "ax", "check": "smtp", "phase": phase}); v != 1 {
			t.Errorf("duration{phase=%s} count = %v, want 1", phase, v)
		}
	}
	if v := value(t, reg, "axprobe_tls_cert_expiry_timestamp_seconds", map[string]string{"target": "ax", "check": "smtp"}); v != float64(expiry.Unix()) {
		t.Errorf("cert expiry = %v, want %d", v, expiry.Unix())
	}

	// A failed probe counts under its reason; a gate failure under local; an error that is
	// not a probe.Error still lands in the closed set.
	probeDone("imap", traceWith("connect", "banner"), &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"})
	probeDone("imap", nil, &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"})
	probeDone("vip", nil, &probe.Error{Reason: probe.ReasonLocal, Phase: "vip"})
	probeDone("smtp", nil, errors.New("something odd"))
	for _, c := range []struct {
		check, reason string
		want          float64
	}{{"imap", "timeout", 2}, {"vip", "local", 1}, {"smtp", "protocol", 1}, {"imap", "refused", 0}} {
		if v := value(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": c.check, "reason": c.reason}); v != c.want {
			t.Errorf("failures{%s,%s} = %v, want %v", c.check, c.reason, v, c.want)
		}
	}
	if v := value(t, reg, "axprobe_probe_success", map[string]string{"target": "ax", "check": "vip"}); v != 0 {
		t.Errorf("gate success after failure = %v, want 0", v)
	}

	// Transitions, socket requests, reloads.
	snap.Targets[0].Stats.Entered("offline")
	if v := value(t, reg, "axprobe_transitions_total", map[string]string{"target": "ax", "to": "offline"}); v != 1 {
		t.Errorf("transitions{to=offline} = %v, want 1", v)
	}
	if n := testutil.CollectAndCount(reg, "axprobe_ipc_requests_total"); n != len(ipc.Commands())*len(ipc.Results()) {
		t.Errorf("ipc series = %d, want every command × result pre-created", n)
	}
	m.Request("monitor", ipc.ResultOK)
	m.Request("monitor", ipc.ResultOK)
	if v := value(t, reg, "axprobe_ipc_requests_total", map[string]string{"command": "monitor", "result": "ok"}); v != 2 {
		t.Errorf("ipc monitor ok = %v, want 2", v)
	}
	at := time.Unix(1700000000, 0)
	m.Reloaded(true, at)
	m.Reloaded(false, at.Add(time.Hour))
	if v := value(t, reg, "axprobe_config_last_reload_successful", nil); v != 0 {
		t.Errorf("reload successful = %v after a failed reload, want 0", v)
	}
	if v := value(t, reg, "axprobe_config_last_reload_success_timestamp_seconds", nil); v != 1700000000 {
		t.Errorf("reload success time = %v, want the last success 1700000000", v)
	}
	if v := value(t, reg, "axprobe_build_info", map[string]string{"version": "v1.2.3", "goversion": goVersion()}); v != 1 {
		t.Errorf("build info = %v, want 1", v)
	}
}

// TestMetricsFollowTheSnapshot: after a reload the series of removed targets, checks and
// gates are gone and new ones exist, with no bookkeeping: a scrape shows what the current
// snapshot has. Kept checks keep their counters (their stats carry over).
func TestMetricsFollowTheSnapshot(t *testing.T) {
	before := snapshotOf(map[string][]string{"ax": {"smtp", "imap"}, "old": {"pop3"}})
	m, src := metricsOf("test", before)
	reg := m.Registry()
	check(t, before, "ax", "smtp").Stats.Record(traceWith("connect"), &probe.Error{Reason: probe.ReasonAuth})
	check(t, before, "ax", "imap").Stats.Record(traceWith("connect"), nil)
	check(t, before, "old", "pop3").Stats.Record(traceWith("connect"), nil)
	before.Targets[1].Stats.Entered("online")
	if _, ok := lookup(t, reg, "axprobe_transitions_total", map[string]string{"target": "old", "to": "online"}); !ok {
		t.Fatal("the test's first snapshot is not exported: it exercises nothing")
	}

	// After the reload: target old is gone, ax lost imap and gained cli.
	after := snapshotOf(map[string][]string{"ax": {"smtp", "cli"}})
	check(t, after, "ax", "smtp").Stats = check(t, before, "ax", "smtp").Stats
	src.p.Store(after)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "axprobe_") {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if (l.GetName() == "target" && l.GetValue() == "old") || (l.GetName() == "check" && l.GetValue() == "imap") {
					t.Errorf("%s still has a series for a removed target or check: %v", mf.GetName(), s.GetLabel())
				}
			}
		}
	}
	if _, ok := lookup(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": "cli", "reason": "auth"}); !ok {
		t.Error("the new check cli has no pre-created failure series")
	}
	if v := value(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": "smtp", "reason": "auth"}); v != 1 {
		t.Errorf("the kept check smtp's auth failures = %v, want its count before the reload, 1", v)
	}
}

// TestMetricsSizeBoundedByChecksAndPhases: /metrics has as many series after thousands of
// results as after the first of each phase; results never add series.
func TestMetricsSizeBoundedByChecksAndPhases(t *testing.T) {
	snap := snapshotOf(map[string][]string{"ax": {"smtp", "imap"}})
	m, _ := metricsOf("test", snap)
	smtp := check(t, snap, "ax", "smtp")
	smtp.HasResult = true
	errs := []error{nil, &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"}, errors.New("an error that is not a probe.Error"),
		&probe.Error{Reason: "made-up", Phase: "x"}}
	count := func() int {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "axprobe_") {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	for _, err := range errs {
		smtp.Stats.Record(traceWith("connect", "banner", "auth"), err)
	}
	first := count()
	for i := range 5000 {
		smtp.Stats.Record(traceWith("connect", "banner", "auth"), errs[i%len(errs)])
	}
	if n := count(); n != first {
		t.Errorf("%d axprobe series after 5,000 more results, %d before: results add series", n, first)
	}
	if v := value(t, m.Registry(), "axprobe_probe_duration_seconds", map[string]string{"target": "ax", "check": "smtp", "phase": "total"}); v != 5004 {
		t.Errorf("total duration count = %v, want 5004", v)
	}
}

func TestMetricsLint(t *testing.T) {
	snap := snapshotOf(map[string][]string{"ax": {"smtp"}})
	m, _ := metricsOf("test", snap)
	check(t, snap, "ax", "smtp").Stats.Record(traceWith("connect"), nil)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func goVersion() string { return runtime.Version() }

func TestMetricsRoundTripDelivery(t *testing.T) {
	snap := snapshotOf(map[string][]string{"ax": {"smtp", "roundtrip"}})
	m, _ := metricsOf("v1", snap)
	check(t, snap, "ax", "smtp").Stats.Record(traceWith("connect", "banner"), nil)
	if n := testutil.CollectAndCount(m.Registry(), "axprobe_roundtrip_delivery_seconds"); n != 0 {
		t.Fatalf("a banner probe created %d delivery series", n)
	}
	tr := traceWith("submit", "queued", "delivered", "cleanup")
	tr.SetMeasure("delivery", 1500*time.Millisecond)
	check(t, snap, "ax", "roundtrip").Stats.Record(tr, nil)
	want := `
# HELP axprobe_roundtrip_delivery_seconds Time from a round-trip check's SMTP submission until the message was seen over IMAP.
# TYPE axprobe_roundtrip_delivery_seconds histogram
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="0.1"} 0
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="0.25"} 0
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="0.5"} 0
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="1"} 0
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="2.5"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="5"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="10"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="30"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="60"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="120"} 1
axprobe_roundtrip_delivery_seconds_bucket{check="roundtrip",target="ax",le="+Inf"} 1
axprobe_roundtrip_delivery_seconds_sum{check="roundtrip",target="ax"} 1.5
axprobe_roundtrip_delivery_seconds_count{check="roundtrip",target="ax"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "axprobe_roundtrip_delivery_seconds"); err != nil {
		t.Fatal(err)
	}
}
