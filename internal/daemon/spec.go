package daemon

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// CheckSpec is one scheduled probe of a target: a network check or a local gate.
type CheckSpec struct {
	Name     string
	Probe    probe.Spec
	Critical bool    // checks only: a failed streak takes the target offline
	Weight   float64 // checks only: weight in the confidence mean
	Interval time.Duration
	Timeout  time.Duration
	// FastInterval overrides the target's re-probe interval after a failure. A heavy check
	// (the mail round trip, every 5 minutes) must not be re-run every second while mail is
	// broken.
	FastInterval time.Duration
	// DegradedAfter overrides the target's "slower than this counts as degraded" (0: the
	// target's; negative: never graded slow — the mail round trip waits for delivery by
	// design, its deadline is its limit).
	DegradedAfter time.Duration
}

// TargetSpec is everything the daemon needs to watch one Axigen service. It is built from
// the config file by the caller; the daemon does not read files of its own.
type TargetSpec struct {
	Name   string
	Checks []CheckSpec
	Gates  []CheckSpec // protocol vip, process or storage

	Interval       time.Duration // default probe interval of every check and gate
	FastInterval   time.Duration // re-probe interval after a failure
	Timeout        time.Duration // default hard deadline of one probe
	DegradedAfter  time.Duration // a successful probe slower than this counts as degraded
	CertWarnBefore time.Duration // a certificate expiring sooner counts as degraded

	Window, Rise, Fall int
	OfflineBelow       float64

	MaintenanceFile    string // present → maintenance (intentional offline)
	IntentionalOffline bool   // maintenance answers 200 instead of 100

	OnTransition        []string      // argv run on every state change (placeholders: Placeholders); empty: none
	OnTransitionTimeout time.Duration // bound on OnTransition's run time

	NodeHealth          *NodeHealthSpec // nil: keep no Pacemaker node-health attribute
	OnTransitionMaxRuns int             // at most this many runs per OnTransitionPer; DefaultHookMaxRuns when 0
	OnTransitionPer     time.Duration   // DefaultHookPer when 0

	Node string // this node's name, for the {node} placeholder
}

// interval returns the check's own interval or the target's.
func (t *TargetSpec) interval(c *CheckSpec) time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return t.Interval
}

func (t *TargetSpec) timeout(c *CheckSpec) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return t.Timeout
}

func (t *TargetSpec) degradedAfter(c *CheckSpec) time.Duration {
	switch {
	case c.DegradedAfter < 0:
		return 0
	case c.DegradedAfter > 0:
		return c.DegradedAfter
	}
	return t.DegradedAfter
}

func (t *TargetSpec) fastInterval(c *CheckSpec) time.Duration {
	if c.FastInterval > 0 {
		return c.FastInterval
	}
	return t.FastInterval
}

// maxAge is how old a target's last result may be before the shim must distrust it. A
// target's age runs from its last result of any check or gate, so a live scheduler renews
// it at the pace of its most frequent probe: three of those periods (interval plus
// timeout) without any result mean the scheduler is stuck. Heavy, slow checks such as the
// round trip do not stretch the bound.
//
// The arithmetic saturates: the config bounds every duration at a day, but a spec built by
// other code must not wrap to a negative bound (with `interval: 1000000h` every MONITOR
// was an error and the shim always fell back).
func (t *TargetSpec) maxAge() time.Duration {
	shortest := addSat(t.Interval, t.Timeout)
	for _, c := range append(append([]CheckSpec(nil), t.Checks...), t.Gates...) {
		shortest = min(shortest, addSat(t.interval(&c), t.timeout(&c)))
	}
	if shortest > math.MaxInt64/3 {
		return math.MaxInt64
	}
	return 3 * shortest
}

// addSat adds two non-negative durations, saturating at the largest one.
func addSat(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// validate checks what the daemon itself relies on; the config package reports the
// user-facing errors with field paths before a spec is ever built.
func (t *TargetSpec) validate() error {
	var errs []error
	if t.Name == "" {
		errs = append(errs, errors.New("target with no name"))
	}
	if t.Interval <= 0 || t.FastInterval <= 0 || t.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("target %s: interval, fast_interval and timeout must be > 0", t.Name))
	}
	if len(t.Checks) == 0 {
		errs = append(errs, fmt.Errorf("target %s: no checks", t.Name))
	}
	for _, c := range append(append([]CheckSpec(nil), t.Checks...), t.Gates...) {
		if _, err := probe.New(c.Probe); err != nil {
			errs = append(errs, fmt.Errorf("target %s, check %s: %w", t.Name, c.Name, err))
		}
	}
	return errors.Join(errs...)
}
