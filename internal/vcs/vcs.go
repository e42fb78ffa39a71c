// Package vcs is the contract axprobe keeps with the cluster: the exit codes of the VCS
// monitor entry point and the states of a target, as the daemon answers them on the socket
// (docs/SOCKET.md), the shim passes them to VCS (deploy/vcs/README.md) and the status page
// and metrics show them (docs/OBSERVABILITY.md). docs/SCORING.md says how a state and a
// confidence become a code.
//
// It is the one home of these numbers and words: score, ipc, shim and web import it. It
// imports nothing, so the monitor shim can link it.
package vcs

// State is where a target stands, as a lowercase word on the wire.
type State string

// The states of a target.
const (
	Starting    State = "starting"    // no verdict yet: not every check and gate has been observed
	Online      State = "online"      // serving
	Offline     State = "offline"     // not serving, or not here
	Maintenance State = "maintenance" // taken out on purpose by the operator
	// Unknown is never a target's state: the shim reports it when it cannot tell and was
	// told to say so (--on-unavailable=unknown).
	Unknown State = "unknown"
)

// States lists a target's states in a stable order (Unknown is not one).
func States() []State { return []State{Starting, Online, Offline, Maintenance} }

// The exit codes of the VCS monitor entry point.
const (
	CodeUnknown            = 99  // unknown: VCS only logs a warning
	CodeOffline            = 100 // offline; also starting, and maintenance without IntentionalOffline
	CodeOnlineMin          = 101 // online, confidence 10 % or less
	CodeOnlineMax          = 110 // online, confidence above 90 %
	CodeIntentionalOffline = 200 // maintenance where the VCS type allows IntentionalOffline
)

// ValidCode reports whether c is one of the codes above: 99, 100-110 or 200.
func ValidCode(c int) bool {
	return c == CodeUnknown || c == CodeIntentionalOffline || (CodeOffline <= c && c <= CodeOnlineMax)
}

// IsOnline reports whether c says online (101-110).
func IsOnline(c int) bool { return CodeOnlineMin <= c && c <= CodeOnlineMax }
