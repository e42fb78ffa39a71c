package daemon

import (
	"errors"
	"fmt"
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

	OnTransition        []string      // argv run on every state change; empty: none
	OnTransitionTimeout time.Duration // bound on OnTransition's run time
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

// maxAge is how old a target's last result may be before the shim must distrust it:
// three of its longest intervals plus one probe timeout.
func (t *TargetSpec) maxAge() time.Duration {
	longest := t.Interval
	for _, c := range append(append([]CheckSpec(nil), t.Checks...), t.Gates...) {
		longest = max(longest, t.interval(&c)+t.timeout(&c))
	}
	return 3 * longest
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
