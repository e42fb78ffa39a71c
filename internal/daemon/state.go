package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/score"
)

// loopState is everything the daemon's loop goroutine owns. Nothing else touches it.
type loopState struct {
	targets    []*targetState
	byName     map[string]int // target name → index in targets
	starting   int            // targets in the starting state
	historyLen int
	ready      bool
}

// targetState is one target's score and the evidence the snapshot shows.
type targetState struct {
	spec        TargetSpec
	score       *score.Target
	checkIndex  map[string]int // check name → index in spec.Checks and the score config
	gateIndex   map[string]int
	checks      []CheckSnapshot
	gates       []CheckSnapshot
	transitions []Transition
	history     []Point
	historyLen  int
	maintenance bool
	updated     time.Time
	stats       *TargetStats
}

const maxTransitions = 50

func newLoopState(specs []TargetSpec, historyLen int) (*loopState, error) {
	s := &loopState{historyLen: historyLen}
	for _, spec := range specs {
		ts, err := newTargetState(spec, historyLen)
		if err != nil {
			return nil, err
		}
		s.targets = append(s.targets, ts)
	}
	s.indexTargets()
	return s, nil
}

// indexTargets builds the name index and counts the targets still starting, so that a
// result finds its target and the loop knows whether the first round is in without
// walking every target (docs/BENCHMARKS.md, "Scale").
func (s *loopState) indexTargets() {
	s.byName = make(map[string]int, len(s.targets))
	s.starting = 0
	for i, ts := range s.targets {
		s.byName[ts.spec.Name] = i
		if ts.score.Decision().State == score.Starting {
			s.starting++
		}
	}
}

// changed keeps the count of starting targets when a target goes from before to after.
func (s *loopState) changed(before, after score.State) {
	if before == after {
		return
	}
	if before == score.Starting {
		s.starting--
	}
	if after == score.Starting {
		s.starting++
	}
}

func newTargetState(spec TargetSpec, historyLen int) (*targetState, error) {
	st, err := score.New(spec.ScoreConfig())
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", spec.Name, err)
	}
	ts := &targetState{spec: spec, score: st, historyLen: historyLen, stats: &TargetStats{}}
	ts.index()
	return ts, nil
}

// index rebuilds the name lookups and the per-check evidence, keeping the evidence of checks
// whose name survives (used after a reload).
func (ts *targetState) index() {
	old := map[string]CheckSnapshot{}
	for _, c := range append(append([]CheckSnapshot(nil), ts.checks...), ts.gates...) {
		old[c.Name] = c
	}
	build := func(specs []CheckSpec) ([]CheckSnapshot, map[string]int) {
		snaps := make([]CheckSnapshot, len(specs))
		idx := make(map[string]int, len(specs))
		for i, c := range specs {
			idx[c.Name] = i
			snaps[i] = CheckSnapshot{Name: c.Name, Protocol: c.Probe.Protocol, Address: c.Probe.Address,
				Critical: c.Critical, Weight: c.Weight, Outcome: "pending", Stats: NewCheckStats()}
			if prev, ok := old[c.Name]; ok && prev.Protocol == c.Probe.Protocol {
				snaps[i] = prev
				snaps[i].Address, snaps[i].Critical, snaps[i].Weight = c.Probe.Address, c.Critical, c.Weight
			}
		}
		return snaps, idx
	}
	ts.checks, ts.checkIndex = build(ts.spec.Checks)
	ts.gates, ts.gateIndex = build(ts.spec.Gates)
}

func (s *loopState) target(name string) *targetState {
	if i, ok := s.byName[name]; ok {
		return s.targets[i]
	}
	return nil
}

func (s *loopState) allStarted() bool { return s.starting == 0 }

// reconfigure returns the state for a new target list, carrying over the score history of
// targets, checks and gates that keep their names.
func (s *loopState) reconfigure(specs []TargetSpec) (*loopState, error) {
	next := &loopState{historyLen: s.historyLen, ready: s.ready}
	var errs []error
	for _, spec := range specs {
		prev := s.target(spec.Name)
		if prev == nil {
			ts, err := newTargetState(spec, s.historyLen)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			next.targets = append(next.targets, ts)
			continue
		}
		st, err := prev.score.Reconfigure(spec.ScoreConfig())
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", spec.Name, err))
			continue
		}
		ts := *prev
		ts.spec, ts.score = spec, st
		ts.index()
		next.targets = append(next.targets, &ts)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	next.indexTargets()
	return next, nil
}

// apply folds one probe result into the score and the evidence.
func (ts *targetState) apply(r result) {
	ts.updated = r.at
	if r.gate {
		i, ok := ts.gateIndex[r.check]
		if !ok {
			return
		}
		detail := ""
		if r.err != nil {
			detail = errDetail(r.err)
		}
		_ = ts.score.ObserveGate(i, r.err == nil, detail, r.at) // i comes from gateIndex
		ts.gates[i].Stats.Record(r.trace, r.err)
		// A gate passes or fails; storage that runs low is shown as degraded (its trace says
		// so) without changing the verdict.
		outcome := outcomeOf(r.err, r.trace, 0, 0, r.at)
		ts.gates[i] = ts.evidence(ts.gates[i], r, outcome)
		if outcome == score.Degraded {
			ts.gates[i].Reason, ts.gates[i].Detail = r.trace.Degraded()
		}
		return
	}
	i, ok := ts.checkIndex[r.check]
	if !ok {
		return
	}
	degradedAfter := ts.spec.DegradedAfterOf(&ts.spec.Checks[i])
	outcome := outcomeOf(r.err, r.trace, degradedAfter, ts.spec.CertWarnBefore, r.at)
	res := score.Result{Outcome: outcome, At: r.at}
	var pe *probe.Error
	if errors.As(r.err, &pe) {
		res.Reason, res.Phase = string(pe.Reason), pe.Phase
	} else if outcome == score.Degraded {
		res.Reason = degradedReason(r.trace, degradedAfter, ts.spec.CertWarnBefore, r.at)
	}
	_ = ts.score.ObserveCheck(i, res) // i comes from checkIndex
	ts.checks[i].Stats.Record(r.trace, r.err)
	ts.checks[i] = ts.evidence(ts.checks[i], r, outcome)
	if outcome == score.Degraded {
		ts.checks[i].Reason = res.Reason
		if _, detail := r.trace.Degraded(); detail != "" {
			ts.checks[i].Detail = detail
		}
	}
}

// errDetail is the short text of a failure: the probe error's own message.
func errDetail(err error) string {
	var pe *probe.Error
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err.Error()
	}
	return err.Error()
}

// outcomeOf grades a probe: failed on error; degraded when the prober said so (trace's
// Degraded), when slower than degradedAfter or when its certificate expires within
// certWarn; else OK.
func outcomeOf(err error, trace *probe.Trace, degradedAfter, certWarn time.Duration, now time.Time) score.Outcome {
	if err != nil {
		return score.Failed
	}
	if degradedReason(trace, degradedAfter, certWarn, now) != "" {
		return score.Degraded
	}
	return score.OK
}

func degradedReason(trace *probe.Trace, degradedAfter, certWarn time.Duration, now time.Time) string {
	if trace == nil {
		return ""
	}
	if reason, _ := trace.Degraded(); reason != "" {
		return reason // the prober's own finding: a metrics threshold, storage running low
	}
	if degradedAfter > 0 && trace.Elapsed() > degradedAfter {
		return "slow"
	}
	if tls := trace.TLS(); tls != nil && certWarn > 0 && !tls.CertNotAfter.IsZero() && tls.CertNotAfter.Sub(now) < certWarn {
		return "cert_expiring"
	}
	return ""
}

// evidence returns prev updated with what result r showed.
func (ts *targetState) evidence(prev CheckSnapshot, r result, outcome score.Outcome) CheckSnapshot {
	c := prev
	c.HasResult = true
	c.OK = r.err == nil
	c.Outcome = outcome.String()
	c.LastAt = r.at
	c.Reason, c.Phase, c.Error, c.Detail = "", "", "", ""
	if r.trace != nil {
		c.Series = r.trace.Series()
		c.Capacity = r.trace.Capacity()
		c.Duration = Duration(r.trace.Elapsed())
		c.Phases = r.trace.Phases()
		c.TLS = r.trace.TLS()
		c.Notes = r.trace.Notes()
		for _, n := range c.Notes {
			if n.Name == "version" && c.Protocol == "cli" {
				c.AxigenVersion = n.Value
			}
		}
		if d, ok := r.trace.Measure("delivery"); ok {
			c.DeliverySeconds = d.Seconds()
		}
	}
	var pe *probe.Error
	if errors.As(r.err, &pe) {
		c.Reason, c.Phase, c.Error = string(pe.Reason), pe.Phase, pe.Error()
	} else if r.err != nil {
		c.Reason, c.Error = string(probe.ReasonOf(r.err)), r.err.Error()
	}
	return c
}

func (ts *targetState) addTransition(tr Transition) {
	ts.transitions = append(ts.transitions, tr)
	ts.stats.Entered(tr.To)
	if n := len(ts.transitions); n > maxTransitions {
		ts.transitions = append([]Transition(nil), ts.transitions[n-maxTransitions:]...)
	}
}

func (s *loopState) sample(now time.Time) {
	for _, ts := range s.targets {
		d := ts.score.Decision()
		if d.State == score.Starting {
			continue
		}
		ts.history = append(ts.history, Point{At: now, Confidence: d.Confidence, Code: d.Code})
		if n := len(ts.history); n > ts.historyLen {
			ts.history = append([]Point(nil), ts.history[n-ts.historyLen:]...)
		}
	}
}

// snapshot copies the target's state into an immutable TargetSnapshot.
func (ts *targetState) snapshot() TargetSnapshot {
	d := ts.score.Decision()
	out := TargetSnapshot{
		Name:       ts.spec.Name,
		State:      string(d.State),
		Code:       d.Code,
		Confidence: d.Confidence,
		Reason:     d.Reason.String(),
		Since:      d.Since,
		Updated:    ts.updated,
		Interval:   Duration(ts.spec.Interval),
		MaxAge:     Duration(maxAge(&ts.spec)),
		Maintained: ts.maintenance,
		Stats:      ts.stats,
		Gates:      append([]CheckSnapshot(nil), ts.gates...),
		Checks:     append([]CheckSnapshot(nil), ts.checks...),
		// The loop only appends to these or replaces them, so a capped reslice is immutable.
		Transitions: ts.transitions[:len(ts.transitions):len(ts.transitions)],
		History:     ts.history[:len(ts.history):len(ts.history)],
	}
	for i := range out.Checks {
		v, _ := ts.score.Check(i)
		out.Checks[i].Health = v.Health
		out.Checks[i].ConsecutiveFailures = v.ConsecutiveFailures
	}
	for i := range out.Gates {
		if out.Gates[i].HasResult && out.Gates[i].OK {
			out.Gates[i].Health = 1
		}
	}
	return out
}
