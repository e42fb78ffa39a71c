package daemon

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/vcs"
)

// PhaseTotal names the whole probe among a check's phase histograms.
const PhaseTotal = "total"

// DurationBuckets are the upper bounds (seconds) of every phase histogram: 1 ms to 10 s,
// dense where mail listeners answer (a few ms on a LAN, a second or more in trouble).
func DurationBuckets() []float64 {
	return slices.Clone(durationBuckets)
}

// DeliveryBuckets are the upper bounds (seconds) of a mail round trip's delivery histogram.
func DeliveryBuckets() []float64 {
	return slices.Clone(deliveryBuckets)
}

var (
	durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	deliveryBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	reasons         = probe.Reasons()
)

// Histogram is a read copy of a fixed-bucket histogram: Counts[i] observations fell at or
// below Bounds[i] and above the bound before (not cumulative); the last count is above
// every bound. Bounds is shared and must not be modified.
type Histogram struct {
	Bounds []float64
	Counts []uint64 // len(Bounds)+1
	Sum    float64
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// PhaseHistogram is the duration histogram of one named phase of a check's probes.
type PhaseHistogram struct {
	Phase string
	Histogram
}

// CheckStats are the cumulative figures of one check or gate that /metrics exports: its
// failures by reason, the duration of each phase and of the whole probe, a round trip's
// delivery latency and the last certificate expiry seen. The daemon's loop updates them
// with each result; the snapshots of the target share them, so a scrape reads them as they
// are at that moment (docs/OBSERVABILITY.md). A check keeps them across a reload that keeps
// its name and protocol. Safe for concurrent use.
type CheckStats struct {
	mu         sync.Mutex
	failures   []uint64         // by index in probe.Reasons()
	phases     []PhaseHistogram // total first, then in the order first seen
	delivery   *Histogram       // nil until a round trip reports one
	certExpiry time.Time        // leaf certificate expiry of the last TLS probe that saw one
}

// NewCheckStats returns empty figures: every failure reason at 0, no phase yet.
func NewCheckStats() *CheckStats {
	return &CheckStats{
		failures: make([]uint64, len(reasons)),
		phases:   []PhaseHistogram{{Phase: PhaseTotal, Histogram: newHistogram(durationBuckets)}},
	}
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

func (h *Histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.Bounds, v) // the first bound ≥ v: Prometheus' le is inclusive
	h.Counts[i]++
	h.Sum += v
}

func (h *Histogram) clone() Histogram {
	return Histogram{Bounds: h.Bounds, Counts: slices.Clone(h.Counts), Sum: h.Sum}
}

// Record folds one probe's outcome in: its failure reason, each phase's duration and the
// whole probe's, a round trip's delivery latency, the certificate expiry it saw. The
// daemon's loop calls it once per result.
func (s *CheckStats) Record(trace *probe.Trace, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures[reasonIndex(err)]++
	}
	if trace == nil {
		return
	}
	trace.EachPhase(func(p probe.Phase) { s.phase(p.Name).observe(p.Duration.Seconds()) })
	s.phases[0].observe(trace.Elapsed().Seconds())
	if d, ok := trace.Measure("delivery"); ok {
		if s.delivery == nil {
			h := newHistogram(deliveryBuckets)
			s.delivery = &h
		}
		s.delivery.observe(d.Seconds())
	}
	if at := trace.CertNotAfter(); !at.IsZero() {
		s.certExpiry = at
	}
}

// phase returns the histogram of the named phase, adding it the first time. Phase names
// come from the probers' code, so there are a handful per check.
func (s *CheckStats) phase(name string) *Histogram {
	for i := range s.phases {
		if s.phases[i].Phase == name {
			return &s.phases[i].Histogram
		}
	}
	s.phases = append(s.phases, PhaseHistogram{Phase: name, Histogram: newHistogram(durationBuckets)})
	return &s.phases[len(s.phases)-1].Histogram
}

// reasonIndex is err's reason's index in probe.Reasons(), confined to that closed set (an
// unknown reason counts as internal) so that no unbounded label value can be created.
func reasonIndex(err error) int {
	r := probe.ReasonOf(err)
	if i := slices.Index(reasons, r); i >= 0 {
		return i
	}
	return slices.Index(reasons, probe.ReasonInternal)
}

// CheckStatsView is a consistent copy of a CheckStats.
type CheckStatsView struct {
	Failures   []uint64 // by index in probe.Reasons()
	Phases     []PhaseHistogram
	Delivery   *Histogram
	CertExpiry time.Time
}

// View copies the current figures. A nil CheckStats reads as empty.
func (s *CheckStats) View() CheckStatsView {
	if s == nil {
		return CheckStatsView{Failures: make([]uint64, len(reasons))}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := CheckStatsView{Failures: slices.Clone(s.failures), Phases: make([]PhaseHistogram, len(s.phases)), CertExpiry: s.certExpiry}
	for i := range s.phases {
		v.Phases[i] = PhaseHistogram{Phase: s.phases[i].Phase, Histogram: s.phases[i].clone()}
	}
	if s.delivery != nil {
		h := s.delivery.clone()
		v.Delivery = &h
	}
	return v
}

// TargetStats are a target's cumulative state changes, by the state entered, shared by
// its snapshots like CheckStats.
type TargetStats struct {
	entered [4]atomic.Uint64 // by index in stateNames
}

var stateNames = [4]string{string(vcs.Starting), string(vcs.Online), string(vcs.Offline), string(vcs.Maintenance)}

// States lists the target states in the order /metrics exports them.
func States() []string { return slices.Clone(stateNames[:]) }

// Entered counts one state change into state to.
func (s *TargetStats) Entered(to string) {
	if i := slices.Index(stateNames[:], to); i >= 0 {
		s.entered[i].Add(1)
	}
}

// Transitions returns how many times the target entered state (starting, online, offline
// or maintenance). A nil TargetStats reads as zero.
func (s *TargetStats) Transitions(state string) uint64 {
	if s == nil {
		return 0
	}
	if i := slices.Index(stateNames[:], state); i >= 0 {
		return s.entered[i].Load()
	}
	return 0
}
