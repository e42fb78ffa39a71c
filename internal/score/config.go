package score

import (
	"errors"
	"fmt"
	"math"
)

// The defaults, chosen and justified in the package documentation.
const (
	DefaultWindow       = 5   // results per check that make up its health
	DefaultRise         = 2   // good updates (and successes of a check that went down) to come back online
	DefaultFall         = 7   // failures in a row of a critical check, or low-confidence updates, to go offline
	DefaultOfflineBelow = 0.5 // confidence under which the low-confidence count runs
)

// Limits on a Config. They keep every per-target structure fixed in size, so that updates
// never allocate, and a Reason can name the checks and gates it waits for without a slice.
const (
	MaxWindow = 64 // largest Window
	MaxChecks = 64 // most checks per target
	MaxGates  = 64 // most gates per target
)

// CheckConfig describes one check of a target: a protocol probe such as "smtp" or "imap".
type CheckConfig struct {
	// Name identifies the check in reasons and across Reconfigure. Unique within the
	// target, gates included.
	Name string
	// Weight is the check's share of the target's confidence, relative to the other
	// checks' weights. Finite and > 0.
	Weight float64
	// Critical checks take the target offline after Fall failures in a row.
	Critical bool
}

// Config describes one target: its checks, its gates and the state machine's parameters.
// Build it from DefaultConfig and add Checks and Gates.
type Config struct {
	Window       int     // results per check in its health; 1..MaxWindow
	Rise         int     // >= 1; see the package documentation
	Fall         int     // >= 1; see the package documentation
	OfflineBelow float64 // 0..1; confidence below it counts towards going offline

	// IntentionalOffline makes maintenance report code 200 instead of 100. Enable it only
	// where the VCS type sets IntentionalOffline = 1 (an agent registered V51 or later).
	IntentionalOffline bool

	Checks []CheckConfig // at least one, at most MaxChecks
	Gates  []string      // local facts such as "vip", "process", "storage"; at most MaxGates
}

// DefaultConfig returns a Config with the default Window, Rise, Fall and OfflineBelow, no
// checks and no gates.
func DefaultConfig() Config {
	return Config{
		Window:       DefaultWindow,
		Rise:         DefaultRise,
		Fall:         DefaultFall,
		OfflineBelow: DefaultOfflineBelow,
	}
}

// Validate returns nil if c can build a Target, or an error listing every problem, one per
// line, each prefixed by its field path, e.g. "checks[1].weight: must be > 0, got -1".
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Window < 1 || c.Window > MaxWindow {
		bad("window: must be 1-%d, got %d", MaxWindow, c.Window)
	}
	if c.Rise < 1 {
		bad("rise: must be >= 1, got %d", c.Rise)
	}
	if c.Fall < 1 {
		bad("fall: must be >= 1, got %d", c.Fall)
	}
	if !(c.OfflineBelow >= 0 && c.OfflineBelow <= 1) { // also rejects NaN
		bad("offline_below: must be 0-1, got %v", c.OfflineBelow)
	}
	switch {
	case len(c.Checks) == 0:
		bad("checks: at least one check is needed")
	case len(c.Checks) > MaxChecks:
		bad("checks: at most %d, got %d", MaxChecks, len(c.Checks))
	}
	if len(c.Gates) > MaxGates {
		bad("gates: at most %d, got %d", MaxGates, len(c.Gates))
	}

	seen := make(map[string]string, len(c.Checks)+len(c.Gates)) // name → field path
	name := func(path, n string) {
		if n == "" {
			bad("%s: must not be empty", path)
			return
		}
		if first, dup := seen[n]; dup {
			bad("%s: %q is already the name of %s", path, n, first)
			return
		}
		seen[n] = path
	}
	for i, ck := range c.Checks {
		path := fmt.Sprintf("checks[%d]", i)
		name(path+".name", ck.Name)
		if !(ck.Weight > 0) || math.IsInf(ck.Weight, 0) { // also rejects NaN
			bad("%s.weight: must be a finite number > 0, got %v", path, ck.Weight)
		}
	}
	for i, g := range c.Gates {
		name(fmt.Sprintf("gates[%d]", i), g)
	}
	return errors.Join(errs...)
}
