// Package web is the daemon's HTTP side: /metrics for Prometheus, /status.json, /healthz and
// the live status page, served through the exporter-toolkit so that TLS and basic auth work
// as in every official exporter.
//
// Metrics is a prometheus.Collector that reads the daemon's current snapshot at scrape time
// (docs/OBSERVABILITY.md, "Metrics"): nothing is pushed per probe result, and the series of
// a target, check or gate exist exactly as long as the snapshot has it. Nothing is
// registered globally.
package web

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
)

// PhaseTotal is the phase label of the whole probe's duration in
// axprobe_probe_duration_seconds. Summing over phases must exclude it.
const PhaseTotal = daemon.PhaseTotal

// DurationBuckets are the buckets of axprobe_probe_duration_seconds: 1 ms to 10 s, dense
// where mail listeners answer (a few ms on a LAN, a second or more when in trouble).
func DurationBuckets() []float64 { return daemon.DurationBuckets() }

// States lists the target states, the values of axprobe_state's state label and of
// axprobe_transitions_total's to label.
func States() []string { return daemon.States() }

// Metrics holds every axprobe metric on its own registry. The per-target, per-check and
// per-gate series are collected from the Source's snapshot when Prometheus scrapes; the
// socket's request counters and the reload gauges are updated as those events happen. Safe
// for concurrent use.
type Metrics struct {
	reg  *prometheus.Registry // everything
	rest *prometheus.Registry // everything but the per-target series (exposition.go)

	source atomic.Pointer[sourceBox] // nil until the daemon is attached

	ipcRequests  *prometheus.CounterVec // command, result
	reloadOK     prometheus.Gauge
	reloadOKTime prometheus.Gauge
}

type sourceBox struct{ Source }

// NewMetrics returns the metrics of a daemon built as version, on a fresh registry that also
// holds the Go and process collectors. The config counts as successfully loaded now. Until
// a Source is attached (New does it) the registry has no per-target series.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		rest: prometheus.NewRegistry(),
		ipcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axprobe_ipc_requests_total",
			Help: "Requests on the Unix socket by command and result.",
		}, []string{"command", "result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axprobe_config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded.",
		}),
		reloadOKTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "axprobe_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load or reload.",
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "axprobe_build_info",
		Help: "A constant 1 labelled with the axprobe version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	others := []prometheus.Collector{m.ipcRequests, m.reloadOK, m.reloadOKTime, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	m.rest.MustRegister(others...)
	m.reg.MustRegister(append(others, snapshotCollector{m})...)

	for _, c := range ipc.Commands() {
		for _, r := range ipc.Results() {
			m.ipcRequests.WithLabelValues(c, r)
		}
	}
	m.Reloaded(true, time.Now())
	return m
}

// Registry returns the registry every metric lives on, for the /metrics handler and tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Attach makes src the snapshot the per-target series are read from at each scrape.
func (m *Metrics) Attach(src Source) { m.source.Store(&sourceBox{src}) }

// Reloaded records the outcome of a configuration reload attempted at at.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadOKTime.Set(float64(at.UnixNano()) / 1e9)
}

// Request implements ipc.Observer.
func (m *Metrics) Request(command, result string) {
	m.ipcRequests.WithLabelValues(command, result).Inc()
}

// snapshotCollector is the prometheus.Collector of every per-target series. /metrics in
// the text format writes the same series straight from the same walk (exposition.go);
// other formats and tests gather them through this Collector.
type snapshotCollector struct{ m *Metrics }

func (c snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- f.desc
	}
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	box := c.m.source.Load()
	if box == nil {
		return
	}
	walk(box.LiveSnapshot(), collectSink{ch})
}

// family is one metric family read from the snapshot.
type family struct {
	name, help string
	typ        string // gauge, counter, histogram
	desc       *prometheus.Desc
}

func newFamily(name, typ, help string, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// The families read from the snapshot, in the order walk emits them.
var (
	famConfidence = newFamily("axprobe_confidence", "gauge",
		"A target's confidence: the weighted mean of its checks' health, 0 to 1.", "target")
	famMonitorCode = newFamily("axprobe_monitor_code", "gauge",
		"The exit code axprobe monitor gives VCS for a target: 100 offline, 101-110 online, 200 intentional offline.", "target")
	famState = newFamily("axprobe_state", "gauge",
		"1 for a target's current state (starting, online, offline, maintenance), 0 for the others.", "target", "state")
	famTransitions = newFamily("axprobe_transitions_total", "counter",
		"State changes of a target, by the state entered.", "target", "to")
	famProbeSuccess = newFamily("axprobe_probe_success", "gauge",
		"Whether the last probe of a check or local gate (vip, process, storage) succeeded (1) or failed (0).", "target", "check")
	famCheckHealth = newFamily("axprobe_check_health", "gauge",
		"A check's health: the mean of its recent results (1 ok, 0.5 degraded, 0 failed).", "target", "check")
	famProbeFailures = newFamily("axprobe_probe_failures_total", "counter",
		"Failed probes by reason.", "target", "check", "reason")
	famProbeDuration = newFamily("axprobe_probe_duration_seconds", "histogram",
		"Duration of the whole probe (phase=\"total\", with buckets) and of each of its phases (connect, banner, starttls, auth, ...; sum and count only).",
		"target", "check", "phase")
	famDelivery = newFamily("axprobe_roundtrip_delivery_seconds", "histogram",
		"Time from a round-trip check's SMTP submission until the message was seen over IMAP.", "target", "check")
	famCertExpiry = newFamily("axprobe_tls_cert_expiry_timestamp_seconds", "gauge",
		"Expiry (Unix time) of the leaf certificate the last TLS probe of a check saw.", "target", "check")

	families = append([]*family{famConfidence, famMonitorCode, famState, famTransitions, famProbeSuccess, famCheckHealth,
		famProbeFailures, famProbeDuration, famDelivery, famCertExpiry}, signalFamilies...)
)

// label is one label of a series. Series get their labels sorted by name.
type label struct{ name, value string }

// labels holds up to four labels without allocating.
type labels struct {
	n int
	l [4]label
}

func labelsOf(ls ...label) labels {
	var out labels
	out.n = copy(out.l[:], ls)
	return out
}

// sink receives the series of the snapshot, family by family.
type sink interface {
	value(f *family, ls labels, v float64)
	// histogram emits h; with buckets false only its sum and count (and the +Inf bucket).
	histogram(f *family, ls labels, h *daemon.Histogram, buckets bool)
}

// walk emits every per-target series of s, all of one family before the next: for each
// target its confidence, code, state and transition counters; for each check and gate the
// last probe's success (once it has a result), the health (checks), the failures by reason
// (every reason, 0 until it happens), the whole probe's duration histogram and each phase's
// sum and count, a round trip's delivery histogram and the last certificate expiry seen.
// The cost is one pass per family over the snapshot: proportional to checks × phases,
// whatever the number of results.
func walk(s *daemon.Snapshot, out sink) {
	type checkRef struct {
		target, check string
		c             *daemon.CheckSnapshot
		isCheck       bool
		stats         daemon.CheckStatsView
	}
	var refs []checkRef
	for i := range s.Targets {
		t := &s.Targets[i]
		for j := range t.Checks {
			refs = append(refs, checkRef{target: t.Name, check: t.Checks[j].Name, c: &t.Checks[j], isCheck: true, stats: t.Checks[j].Stats.View()})
		}
		for j := range t.Gates {
			refs = append(refs, checkRef{target: t.Name, check: t.Gates[j].Name, c: &t.Gates[j], stats: t.Gates[j].Stats.View()})
		}
	}
	states := States()
	for i := range s.Targets {
		t := &s.Targets[i]
		out.value(famConfidence, labelsOf(label{"target", t.Name}), t.Confidence)
	}
	for i := range s.Targets {
		t := &s.Targets[i]
		out.value(famMonitorCode, labelsOf(label{"target", t.Name}), float64(t.Code))
	}
	for i := range s.Targets {
		t := &s.Targets[i]
		for _, st := range states {
			v := 0.0
			if st == t.State {
				v = 1
			}
			out.value(famState, labelsOf(label{"state", st}, label{"target", t.Name}), v)
		}
	}
	for i := range s.Targets {
		t := &s.Targets[i]
		for _, st := range states {
			out.value(famTransitions, labelsOf(label{"target", t.Name}, label{"to", st}), float64(t.Stats.Transitions(st)))
		}
	}
	for _, r := range refs {
		if r.c.HasResult {
			v := 0.0
			if r.c.OK {
				v = 1
			}
			out.value(famProbeSuccess, labelsOf(label{"check", r.check}, label{"target", r.target}), v)
		}
	}
	for _, r := range refs {
		if r.isCheck {
			out.value(famCheckHealth, labelsOf(label{"check", r.check}, label{"target", r.target}), r.c.Health)
		}
	}
	reasons := probe.Reasons()
	for _, r := range refs {
		for k, reason := range reasons {
			out.value(famProbeFailures, labelsOf(label{"check", r.check}, label{"reason", string(reason)}, label{"target", r.target}), float64(r.stats.Failures[k]))
		}
	}
	for _, r := range refs {
		for k := range r.stats.Phases {
			p := &r.stats.Phases[k]
			if p.Phase == PhaseTotal && p.Count() == 0 {
				continue // no probe has finished yet
			}
			out.histogram(famProbeDuration, labelsOf(label{"check", r.check}, label{"phase", p.Phase}, label{"target", r.target}),
				&p.Histogram, p.Phase == PhaseTotal)
		}
	}
	for _, r := range refs {
		if r.stats.Delivery != nil {
			out.histogram(famDelivery, labelsOf(label{"check", r.check}, label{"target", r.target}), r.stats.Delivery, true)
		}
	}
	for _, r := range refs {
		if !r.stats.CertExpiry.IsZero() {
			out.value(famCertExpiry, labelsOf(label{"check", r.check}, label{"target", r.target}), float64(r.stats.CertExpiry.Unix()))
		}
	}
	walkSignals(s, out)
}

// collectSink turns the walk into prometheus.Metrics.
type collectSink struct{ ch chan<- prometheus.Metric }

func (c collectSink) value(f *family, ls labels, v float64) {
	c.ch <- sample{f: f, labels: dtoLabels(ls), value: v}
}

func (c collectSink) histogram(f *family, ls labels, h *daemon.Histogram, buckets bool) {
	c.ch <- histogram{f: f, labels: dtoLabels(ls), h: *h, buckets: buckets}
}

func dtoLabels(ls labels) []*dto.LabelPair {
	out := make([]*dto.LabelPair, ls.n)
	for i := range ls.n {
		out[i] = &dto.LabelPair{Name: proto.String(ls.l[i].name), Value: proto.String(ls.l[i].value)}
	}
	return out
}

// sample is a gauge or counter read from the snapshot.
type sample struct {
	f      *family
	labels []*dto.LabelPair
	value  float64
}

func (s sample) Desc() *prometheus.Desc { return s.f.desc }

func (s sample) Write(out *dto.Metric) error {
	out.Label = s.labels
	v := s.value
	if s.f.typ == "counter" {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

// histogram is a classic histogram read from a daemon.Histogram (per-bucket counts, made
// cumulative here); without buckets, only its sum and count.
type histogram struct {
	f       *family
	labels  []*dto.LabelPair
	h       daemon.Histogram
	buckets bool
}

func (h histogram) Desc() *prometheus.Desc { return h.f.desc }

func (h histogram) Write(out *dto.Metric) error {
	out.Label = h.labels
	count, sum := h.h.Count(), h.h.Sum
	out.Histogram = &dto.Histogram{SampleCount: &count, SampleSum: &sum}
	if !h.buckets {
		return nil
	}
	n := len(h.h.Bounds)
	buckets := make([]dto.Bucket, n)
	ptrs := make([]*dto.Bucket, n)
	cums := make([]uint64, n)
	var cum uint64
	for i := range n {
		cum += h.h.Counts[i]
		cums[i] = cum
		buckets[i].CumulativeCount = &cums[i]
		buckets[i].UpperBound = &h.h.Bounds[i] // shared, never modified
		ptrs[i] = &buckets[i]
	}
	out.Histogram.Bucket = ptrs
	return nil
}
