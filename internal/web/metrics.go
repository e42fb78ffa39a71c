// Package web is the daemon's HTTP side: /metrics for Prometheus, /status.json, /healthz and
// the live status page, served through the exporter-toolkit so that TLS and basic auth work
// as in every official exporter.
//
// Metrics is the bridge between the daemon and Prometheus: it implements daemon.Observer
// (probe results, transitions, snapshots) and ipc.Observer (socket requests) and keeps every
// series on its own prometheus.Registry. Nothing is registered globally.
package web

import (
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/score"
)

// PhaseTotal is the phase label of the whole probe's duration in
// axprobe_probe_duration_seconds. Summing over phases must exclude it.
const PhaseTotal = "total"

// DurationBuckets are the buckets of axprobe_probe_duration_seconds: 1 ms to 10 s, dense
// where mail listeners answer (a few ms on a LAN, a second or more when in trouble).
func DurationBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// States lists the target states, the values of axprobe_state's state label and of
// axprobe_transitions_total's to label.
func States() []string {
	return []string{string(score.Starting), string(score.Online), string(score.Offline), string(score.Maintenance)}
}

// Metrics holds every axprobe metric on its own registry. It is safe for concurrent use; its
// Observer methods never block beyond a short mutex.
type Metrics struct {
	reg *prometheus.Registry

	probeSuccess  *prometheus.GaugeVec     // target, check
	probeDuration *prometheus.HistogramVec // target, check, phase
	probeFailures *prometheus.CounterVec   // target, check, reason
	checkHealth   *prometheus.GaugeVec     // target, check
	certExpiry    *prometheus.GaugeVec     // target, check
	delivery      *prometheus.HistogramVec // target, check: mail round trips only
	confidence    *prometheus.GaugeVec     // target
	monitorCode   *prometheus.GaugeVec     // target
	state         *prometheus.GaugeVec     // target, state
	transitions   *prometheus.CounterVec   // target, to
	ipcRequests   *prometheus.CounterVec   // command, result
	reloadOK      prometheus.Gauge
	reloadOKTime  prometheus.Gauge

	mu    sync.Mutex
	known map[string]map[string]bool // target → check/gate names with series
}

// NewMetrics returns the metrics of a daemon built as version, on a fresh registry that also
// holds the Go and process collectors. The config counts as successfully loaded now.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		probeSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_probe_success",
			Help: "Whether the last probe of a check or local gate (vip, process, storage) succeeded (1) or failed (0).",
		}, []string{"target", "check"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "axprobe_probe_duration_seconds",
			Help:    "Duration of each probe phase (connect, banner, starttls, auth, ...); phase=\"total\" is the whole probe.",
			Buckets: DurationBuckets(),
		}, []string{"target", "check", "phase"}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axprobe_probe_failures_total",
			Help: "Failed probes by reason.",
		}, []string{"target", "check", "reason"}),
		checkHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_check_health",
			Help: "A check's health: the mean of its recent results (1 ok, 0.5 degraded, 0 failed).",
		}, []string{"target", "check"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_tls_cert_expiry_timestamp_seconds",
			Help: "Expiry (Unix time) of the leaf certificate the last TLS probe of a check saw.",
		}, []string{"target", "check"}),
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "axprobe_roundtrip_delivery_seconds",
			Help:    "Time from a round-trip check's SMTP submission until the message was seen over IMAP.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"target", "check"}),
		confidence: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_confidence",
			Help: "A target's confidence: the weighted mean of its checks' health, 0 to 1.",
		}, []string{"target"}),
		monitorCode: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_monitor_code",
			Help: "The exit code axprobe monitor gives VCS for a target: 100 offline, 101-110 online, 200 intentional offline.",
		}, []string{"target"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axprobe_state",
			Help: "1 for a target's current state (starting, online, offline, maintenance), 0 for the others.",
		}, []string{"target", "state"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axprobe_transitions_total",
			Help: "State changes of a target, by the state entered.",
		}, []string{"target", "to"}),
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
		known: map[string]map[string]bool{},
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "axprobe_build_info",
		Help: "A constant 1 labelled with the axprobe version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.reg.MustRegister(m.probeSuccess, m.probeDuration, m.probeFailures, m.checkHealth, m.certExpiry,
		m.delivery, m.confidence, m.monitorCode, m.state, m.transitions, m.ipcRequests, m.reloadOK, m.reloadOKTime,
		buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

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

// ProbeDone implements daemon.Observer: it records the probe's success, the duration of
// each of its phases and of the whole probe, its failure reason and its certificate expiry.
func (m *Metrics) ProbeDone(target, check string, _ bool, trace *probe.Trace, err error) {
	m.ensure(target, check)
	if err != nil {
		m.probeSuccess.WithLabelValues(target, check).Set(0)
		m.probeFailures.WithLabelValues(target, check, reasonLabel(err)).Inc()
	} else {
		m.probeSuccess.WithLabelValues(target, check).Set(1)
	}
	if trace == nil {
		return
	}
	for _, p := range trace.Phases() {
		m.probeDuration.WithLabelValues(target, check, p.Name).Observe(p.Duration.Seconds())
	}
	m.probeDuration.WithLabelValues(target, check, PhaseTotal).Observe(trace.Elapsed().Seconds())
	if d, ok := trace.Measure("delivery"); ok {
		m.delivery.WithLabelValues(target, check).Observe(d.Seconds())
	}
	if tls := trace.TLS(); tls != nil && !tls.CertNotAfter.IsZero() {
		m.certExpiry.WithLabelValues(target, check).Set(float64(tls.CertNotAfter.Unix()))
	}
}

// reasonLabel is err's reason, confined to the closed set so that no unbounded label value
// can ever be created.
func reasonLabel(err error) string {
	r := probe.ReasonOf(err)
	if slices.Contains(probe.Reasons(), r) {
		return string(r)
	}
	return string(probe.ReasonInternal)
}

// Transition implements daemon.Observer.
func (m *Metrics) Transition(target string, tr daemon.Transition) {
	m.transitions.WithLabelValues(target, tr.To).Inc()
}

// Published implements daemon.Observer: it sets the per-target and per-check gauges from the
// snapshot, creates the series of new targets and checks, and deletes every series of the
// targets, checks and gates the snapshot no longer has (after a config reload).
func (m *Metrics) Published(s *daemon.Snapshot) {
	present := map[string]map[string]bool{}
	for i := range s.Targets {
		t := &s.Targets[i]
		names := map[string]bool{}
		present[t.Name] = names
		m.confidence.WithLabelValues(t.Name).Set(t.Confidence)
		m.monitorCode.WithLabelValues(t.Name).Set(float64(t.Code))
		for _, st := range States() {
			v := 0.0
			if st == t.State {
				v = 1
			}
			m.state.WithLabelValues(t.Name, st).Set(v)
			m.transitions.WithLabelValues(t.Name, st)
		}
		for _, c := range t.Checks {
			names[c.Name] = true
			m.ensure(t.Name, c.Name)
			m.checkHealth.WithLabelValues(t.Name, c.Name).Set(c.Health)
		}
		for _, g := range t.Gates {
			names[g.Name] = true
			m.ensure(t.Name, g.Name)
		}
	}
	m.forgetAbsent(present)
}

// ensure pre-creates the failure counter of every reason for a check, so that a rate or
// increase over it is defined before its first failure.
func (m *Metrics) ensure(target, check string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known[target][check] {
		return
	}
	if m.known[target] == nil {
		m.known[target] = map[string]bool{}
	}
	m.known[target][check] = true
	for _, r := range probe.Reasons() {
		m.probeFailures.WithLabelValues(target, check, string(r))
	}
}

// forgetAbsent deletes the series of every known target and check missing from present.
func (m *Metrics) forgetAbsent(present map[string]map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for target, checks := range m.known {
		if _, ok := present[target]; !ok {
			labels := prometheus.Labels{"target": target}
			for _, v := range m.targetVecs() {
				v.DeletePartialMatch(labels)
			}
			delete(m.known, target)
			continue
		}
		for check := range checks {
			if present[target][check] {
				continue
			}
			labels := prometheus.Labels{"target": target, "check": check}
			for _, v := range m.checkVecs() {
				v.DeletePartialMatch(labels)
			}
			delete(checks, check)
		}
	}
}

// partialDeleter is what every metric vector has.
type partialDeleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

func (m *Metrics) checkVecs() []partialDeleter {
	return []partialDeleter{m.probeSuccess, m.probeDuration, m.probeFailures, m.checkHealth, m.certExpiry, m.delivery}
}

func (m *Metrics) targetVecs() []partialDeleter {
	return append(m.checkVecs(), m.confidence, m.monitorCode, m.state, m.transitions)
}
