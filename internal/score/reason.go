package score

import (
	"strconv"
	"strings"
)

// Cause classifies a Reason. The set is closed, so the daemon can use it as a metric label
// (transitions by cause) with every value pre-created.
type Cause string

// The causes, in the order the state machine looks for them.
const (
	CauseMaintenance   Cause = "maintenance"    // the operator put the target in maintenance
	CauseGate          Cause = "gate"           // a gate's last observation failed
	CauseCritical      Cause = "critical"       // a critical check failed Fall times in a row
	CauseRecovering    Cause = "recovering"     // offline; waiting for Rise good updates or successes
	CauseLowConfidence Cause = "low_confidence" // confidence below OfflineBelow (offline once Count reaches Need)
	CauseWaiting       Cause = "waiting"        // some check or gate has never been observed
	CauseFailing       Cause = "failing"        // a critical check's last result failed, fewer than Fall in a row
	CauseHealthy       Cause = "healthy"        // online, every check at full health
	CauseDegraded      Cause = "degraded"       // online, some check below full health
)

// Reason explains a decision. It holds facts, not text, so that deciding never allocates;
// String formats it for people. Which fields are set depends on Cause:
//
//	gate            Name, Detail                          "vip: 10.0.0.5 is not on a local interface"
//	critical        Name, Count, Detail, Phase            "imap: 7 consecutive failures (timeout in banner)"
//	failing         Name, Count, Detail, Phase            "imap: 1 consecutive failure (timeout in banner)"
//	recovering      Name, Count, Need (Name "" = target)  "recovering: imap 1 of 2 successes"
//	low_confidence  Confidence, Threshold, Count, Need    "confidence 0.42 below 0.50 for 42 check results"
//	waiting         (the names it waits for)              "starting: waiting for imap, storage"
//	degraded        Confidence, Name, Health, Detail, Phase  "confidence 0.83, weakest webmail at 0.40 (last: timeout in connect)"
//	healthy, maintenance                                  "all checks healthy", "maintenance"
type Reason struct {
	Cause      Cause
	Name       string  // the check or gate concerned
	Detail     string  // a gate's detail, or the failure reason of a check's last result
	Phase      string  // the phase of a check's last result
	Count      int     // consecutive failures, successes, good updates or low-confidence results
	Need       int     // how many Count must reach (recovering, low_confidence)
	Confidence float64 // the target's confidence
	Threshold  float64 // OfflineBelow
	Health     float64 // the named check's health

	// CauseWaiting only: bit i of waitChecks stands for names.checks[i], of waitGates for
	// names.gates[i].
	names                 *names
	waitChecks, waitGates uint64
}

// names holds a target's check and gate names; it never changes after New.
type names struct {
	checks []string
	gates  []string
}

// String formats the reason in one line for logs and status pages.
func (r Reason) String() string {
	var b strings.Builder
	switch r.Cause {
	case "":
		return "" // the zero Reason, as in the zero Transition
	case CauseMaintenance:
		b.WriteString("maintenance")
	case CauseHealthy:
		b.WriteString("all checks healthy")
	case CauseGate:
		b.WriteString(r.Name)
		b.WriteString(": ")
		if r.Detail == "" {
			b.WriteString("failed")
		} else {
			b.WriteString(r.Detail)
		}
	case CauseCritical, CauseFailing:
		b.WriteString(r.Name)
		b.WriteString(": ")
		b.WriteString(plural(r.Count, "consecutive failure", "consecutive failures"))
		if s := failure(r.Detail, r.Phase); s != "" {
			b.WriteString(" (" + s + ")")
		}
	case CauseRecovering:
		b.WriteString("recovering: ")
		if r.Name != "" {
			b.WriteString(r.Name + " ")
			b.WriteString(strconv.Itoa(r.Count) + " of " + plural(r.Need, "success", "successes"))
		} else {
			b.WriteString(strconv.Itoa(r.Count) + " of " + plural(r.Need, "good update", "good updates"))
		}
	case CauseLowConfidence:
		b.WriteString("confidence " + two(r.Confidence) + " below " + two(r.Threshold) + " for ")
		if r.Count < r.Need {
			b.WriteString(strconv.Itoa(r.Count) + " of ")
		}
		b.WriteString(plural(max(r.Count, r.Need), "check result", "check results"))
	case CauseWaiting:
		b.WriteString("starting: waiting for ")
		if r.names != nil {
			sep := ""
			for i, n := range r.names.checks {
				if r.waitChecks&(1<<i) != 0 {
					b.WriteString(sep + n)
					sep = ", "
				}
			}
			for i, n := range r.names.gates {
				if r.waitGates&(1<<i) != 0 {
					b.WriteString(sep + n)
					sep = ", "
				}
			}
		}
	case CauseDegraded:
		b.WriteString("confidence " + two(r.Confidence) + ", weakest " + r.Name + " at " + two(r.Health))
		if s := failure(r.Detail, r.Phase); s != "" {
			b.WriteString(" (last: " + s + ")")
		}
	default:
		b.WriteString("unknown cause " + strconv.Quote(string(r.Cause)))
	}
	return b.String()
}

// failure formats a check's failure reason and phase: "timeout in banner".
func failure(reason, phase string) string {
	switch {
	case phase == "":
		return reason
	case reason == "":
		return "in " + phase
	}
	return reason + " in " + phase
}

// two formats a fraction with two decimals: 0.42.
func two(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
