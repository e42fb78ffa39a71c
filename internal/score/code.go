package score

import (
	"math"

	"github.com/axprobe/axprobe/internal/vcs"
)

// State is where a target's state machine stands (the states are vcs's, the contract's).
type State = vcs.State

// The states of a target.
const (
	Starting    = vcs.Starting
	Online      = vcs.Online
	Offline     = vcs.Offline
	Maintenance = vcs.Maintenance
)

// Code maps a state and confidence onto the exit code of the VCS monitor contract (vcs):
//
//   - Online: 100 + ⌈10 × confidence⌉, clamped to 101..110. A confidence of 0.9 gives 109,
//     anything above 0.9 gives 110, anything at or below 0.1 (0, negative, NaN) gives 101:
//     an online target never reports offline through its confidence.
//   - Maintenance: 200 if intentional, else 100.
//   - Starting, Offline and any unknown State: 100.
//
// 10 × confidence is rounded to 9 decimals before the ceiling, so a confidence within 1e-10
// of a tenth (0.9 computed as 0.9000000000000001) counts as that tenth.
func Code(state State, confidence float64, intentional bool) int {
	switch state {
	case Online:
		return vcs.CodeOffline + tenths(confidence)
	case Maintenance:
		if intentional {
			return vcs.CodeIntentionalOffline
		}
	}
	return vcs.CodeOffline
}

// tenths returns ⌈10 × c⌉ clamped to 1..10; NaN counts as 0.
func tenths(c float64) int {
	if !(c > 0.1) { // also NaN
		return 1
	}
	if c >= 1 {
		return 10
	}
	return int(math.Ceil(math.Round(c*1e10) / 1e9))
}
