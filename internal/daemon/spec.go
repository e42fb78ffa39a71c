package daemon

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/probe"
)

// TargetSpec, CheckSpec and NodeHealthSpec are the resolved model of internal/config:
// config.Resolve builds them from the config file and the daemon runs exactly what it
// builds (the daemon does not read files of its own).
type (
	TargetSpec     = config.TargetSpec
	CheckSpec      = config.CheckSpec
	NodeHealthSpec = config.NodeHealthSpec
)

// maxAge is how old a target's last result may be before the shim must distrust it. A
// target's age runs from its last result of any check or gate, so a live scheduler renews
// it at the pace of its most frequent probe: three of those periods (interval plus
// timeout) without any result mean the scheduler is stuck. Heavy, slow checks such as the
// round trip do not stretch the bound.
//
// The arithmetic saturates: the config bounds every duration at a day, but a spec built by
// other code must not wrap to a negative bound (with `interval: 1000000h` every MONITOR
// was an error and the shim always fell back).
func maxAge(t *TargetSpec) time.Duration {
	shortest := addSat(t.Interval, t.Timeout)
	for _, c := range append(append([]CheckSpec(nil), t.Checks...), t.Gates...) {
		shortest = min(shortest, addSat(t.IntervalOf(&c), t.TimeoutOf(&c)))
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
func validateSpec(t *TargetSpec) error {
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
