package web

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"runtime"
	"strings"
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
// and a vip gate.
func snapshotOf(targets map[string][]string) *daemon.Snapshot {
	s := &daemon.Snapshot{Version: "test", Published: time.Now()}
	for name, checks := range targets {
		t := daemon.TargetSnapshot{Name: name, State: "online", Code: 109, Confidence: 0.85,
			Gates: []daemon.CheckSnapshot{{Name: "vip", Protocol: "vip", Outcome: "ok"}}}
		for _, c := range checks {
			t.Checks = append(t.Checks, daemon.CheckSnapshot{Name: c, Protocol: c, Health: 0.5, Outcome: "degraded"})
		}
		s.Targets = append(s.Targets, t)
	}
	return s
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

func TestMetricsFromObserverCalls(t *testing.T) {
	m := NewMetrics("v1.2.3")
	reg := m.Registry()
	m.Published(snapshotOf(map[string][]string{"ax": {"smtp", "imap"}}))

	// Every reason is pre-created at 0 for every check and gate.
	for _, check := range []string{"smtp", "imap", "vip"} {
		for _, r := range probe.Reasons() {
			if v := value(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": check, "reason": string(r)}); v != 0 {
				t.Errorf("failures{%s,%s} = %v before any probe, want 0", check, r, v)
			}
		}
	}
	if n := testutil.CollectAndCount(m.probeFailures); n != 3*len(probe.Reasons()) {
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
	m.ProbeDone("ax", "smtp", false, ok, nil)
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
	m.ProbeDone("ax", "imap", false, traceWith("connect", "banner"), &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"})
	m.ProbeDone("ax", "imap", false, nil, &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"})
	m.ProbeDone("ax", "vip", true, nil, &probe.Error{Reason: probe.ReasonLocal, Phase: "vip"})
	m.ProbeDone("ax", "smtp", false, nil, errors.New("something odd"))
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
	m.Transition("ax", daemon.Transition{From: "online", To: "offline", Reason: "imap failed"})
	if v := value(t, reg, "axprobe_transitions_total", map[string]string{"target": "ax", "to": "offline"}); v != 1 {
		t.Errorf("transitions{to=offline} = %v, want 1", v)
	}
	if n := testutil.CollectAndCount(m.ipcRequests); n != len(ipc.Commands())*len(ipc.Results()) {
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

func TestMetricsReloadDeletesRemovedSeries(t *testing.T) {
	m := NewMetrics("test")
	reg := m.Registry()
	m.Published(snapshotOf(map[string][]string{"ax": {"smtp", "imap"}, "old": {"pop3"}}))
	m.ProbeDone("ax", "imap", false, traceWith("connect"), nil)
	m.ProbeDone("old", "pop3", false, traceWith("connect"), nil)
	m.Transition("old", daemon.Transition{From: "starting", To: "online"})

	// After the reload: target old is gone, ax lost imap and gained cli.
	m.Published(snapshotOf(map[string][]string{"ax": {"smtp", "cli"}}))

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
	if _, ok := lookup(t, reg, "axprobe_probe_failures_total", map[string]string{"target": "ax", "check": "smtp", "reason": "auth"}); !ok {
		t.Error("the kept check smtp lost its failure series")
	}
}

func TestMetricsLint(t *testing.T) {
	m := NewMetrics("test")
	m.Published(snapshotOf(map[string][]string{"ax": {"smtp"}}))
	m.ProbeDone("ax", "smtp", false, traceWith("connect"), nil)
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
	m := NewMetrics("v1")
	m.ProbeDone("ax", "smtp", false, traceWith("connect", "banner"), nil)
	if n := testutil.CollectAndCount(m.delivery); n != 0 {
		t.Fatalf("a banner probe created %d delivery series", n)
	}
	tr := traceWith("submit", "queued", "delivered", "cleanup")
	tr.SetMeasure("delivery", 1500*time.Millisecond)
	m.ProbeDone("ax", "roundtrip", false, tr, nil)
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
	if err := testutil.CollectAndCompare(m.delivery, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
