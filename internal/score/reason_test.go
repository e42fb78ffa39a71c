package score

import "testing"

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{Reason{}, ""},
		{Reason{Cause: CauseMaintenance}, "maintenance"},
		{Reason{Cause: CauseHealthy}, "all checks healthy"},
		{Reason{Cause: CauseGate, Name: "process", Detail: "pid 1234 is not axigen"}, "process: pid 1234 is not axigen"},
		{Reason{Cause: CauseGate, Name: "vip"}, "vip: failed"},
		{Reason{Cause: CauseCritical, Name: "imap", Count: 6, Detail: "timeout", Phase: "banner"}, "imap: 6 consecutive failures (timeout in banner)"},
		{Reason{Cause: CauseCritical, Name: "imap", Count: 6, Detail: "refused"}, "imap: 6 consecutive failures (refused)"},
		{Reason{Cause: CauseFailing, Name: "smtp", Count: 1, Phase: "connect"}, "smtp: 1 consecutive failure (in connect)"},
		{Reason{Cause: CauseFailing, Name: "smtp", Count: 2}, "smtp: 2 consecutive failures"},
		{Reason{Cause: CauseRecovering, Count: 0, Need: 2}, "recovering: 0 of 2 good updates"},
		{Reason{Cause: CauseRecovering, Name: "pop3", Count: 1, Need: 1}, "recovering: pop3 1 of 1 success"},
		{Reason{Cause: CauseLowConfidence, Confidence: 0.42, Threshold: 0.5, Count: 42, Need: 42}, "confidence 0.42 below 0.50 for 42 check results"},
		{Reason{Cause: CauseLowConfidence, Confidence: 0.424, Threshold: 0.5, Count: 3, Need: 42}, "confidence 0.42 below 0.50 for 3 of 42 check results"},
		{Reason{Cause: CauseDegraded, Confidence: 0.83, Name: "webmail", Health: 0.4}, "confidence 0.83, weakest webmail at 0.40"},
		{Reason{Cause: CauseWaiting}, "starting: waiting for "},
		{Reason{Cause: "bogus"}, `unknown cause "bogus"`},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestCausesFormat: every cause has its own wording, so none falls through to "unknown
// cause".
func TestCausesFormat(t *testing.T) {
	for _, c := range []Cause{CauseMaintenance, CauseGate, CauseCritical, CauseRecovering, CauseLowConfidence,
		CauseWaiting, CauseFailing, CauseHealthy, CauseDegraded} {
		if got := (Reason{Cause: c, Name: "x"}).String(); got == "" || got == `unknown cause "`+string(c)+`"` {
			t.Errorf("cause %s formats as %q", c, got)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Failed: "failed", Degraded: "degraded", OK: "ok", 9: "outcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
}
