package score

import (
	"strings"
	"testing"
	"time"
)

// pairConfig has two equal non-critical checks with a window of one result, so the
// confidence is exactly 0, 0.5 or 1, one gate, and Fall 2: low confidence takes it offline
// after 2 × 2 check results.
func pairConfig() Config {
	c := DefaultConfig()
	c.Window, c.Fall = 1, 2
	c.Checks = []CheckConfig{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}
	c.Gates = []string{"g"}
	return c
}

// TestTransitions plays every rule of the state machine. The final Reason is checked as text,
// which also pins the wording people read in logs.
func TestTransitions(t *testing.T) {
	axigen := axigenConfig()
	intentional := axigenConfig()
	intentional.IntentionalOffline = true
	fastRise := axigenConfig()
	fastRise.Fall, fastRise.Rise = 2, 3

	tests := []struct {
		name   string
		cfg    Config
		script []string
		reason string // the final Decision's reason
	}{
		// Starting.
		{"starting waits for every check and gate", axigen,
			[]string{"=starting", "vip:up", "smtp:ok", "=starting", "#100"},
			"starting: waiting for imap, pop3, webmail, webadmin, cli, process, storage"},
		{"starting to online at the first good update", axigen,
			[]string{"vip:up", "process:up", "storage:up", "smtp:ok", "imap:ok", "pop3:ok", "webmail:ok", "webadmin:ok", "=starting", "cli:ok", "=online", "#110"},
			"all checks healthy"},
		{"starting to online needs only the gates to pass, not the non-critical checks", axigen,
			[]string{"vip:up", "process:up", "storage:up", "smtp:ok", "imap:ok", "pop3:ok", "webmail:fail", "webadmin:fail", "cli:fail", "=online", "#108"},
			"confidence 0.75, weakest webmail at 0.00 (last: timeout in banner)"},
		{"starting to offline on a failed gate before anything else", axigen,
			[]string{"vip:down", "=offline", "#100"},
			"vip: vip broken"},
		{"starting to offline on a failed gate whatever the checks say", axigen,
			[]string{"vip:up", "process:down", "storage:up", "smtp:ok", "imap:ok", "pop3:ok", "webmail:ok", "webadmin:ok", "cli:ok", "=offline"},
			"process: process broken"},
		{"starting holds while a critical check fails fewer than fall times", axigen,
			[]string{"vip:up", "process:up", "storage:up", "smtp:ok", "imap:fail", "pop3:ok", "webmail:ok", "webadmin:ok", "cli:ok", "=starting", "imap:fail*5", "=starting", "#100"},
			"imap: 6 consecutive failures (timeout in banner)"},
		{"starting holds then goes online when the critical check succeeds", axigen,
			[]string{"vip:up", "process:up", "storage:up", "smtp:ok", "imap:fail", "pop3:ok", "webmail:ok", "webadmin:ok", "cli:ok", "=starting", "imap:ok", "=online", "#109"},
			"confidence 0.88, weakest imap at 0.50"},
		{"starting to offline on a critical streak", axigen,
			[]string{"imap:fail*6", "=starting", "imap:fail", "=offline"},
			"imap: 7 consecutive failures (timeout in banner)"},

		// Online to offline.
		{"online to offline by gate at once, whatever the checks say", axigen,
			[]string{"round", "round", "=online", "process:down", "=offline", "#100", "round", "=online", "storage:down", "=offline"},
			"storage: storage broken"},
		{"online to offline by critical streak exactly at fall", axigen,
			[]string{"round", "imap:fail*6", "=online", "#108", "imap:fail", "=offline", "#100"},
			"imap: 7 consecutive failures (timeout in banner)"},
		{"critical streak counts results of that check, not other updates", axigen,
			[]string{"round", "imap:fail*3", "smtp:ok*10", "vip:up*10", "imap:fail*3", "=online", "imap:fail", "=offline"},
			"imap: 7 consecutive failures (timeout in banner)"},
		{"a degraded result breaks the failure streak", axigen,
			[]string{"round", "imap:fail*6", "imap:degraded", "imap:fail*6", "=online"},
			"imap: 6 consecutive failures (timeout in banner)"},
		{"fall and rise come from the config", fastRise,
			[]string{"round", "pop3:fail", "=online", "pop3:fail", "=offline", "pop3:ok*2", "=offline", "pop3:ok", "=online"},
			"confidence 0.90, weakest pop3 at 0.60"},
		{"online to offline by low confidence after fall rounds of check results", pairConfig(),
			[]string{"a:ok", "b:ok", "g:up", "=online", "a:fail", "b:fail", "=online", "a:fail", "g:up*5", "b:fail", "=online", "a:fail", "=offline"},
			"confidence 0.00 below 0.50 for 4 check results"},
		{"low confidence for fewer results keeps online", pairConfig(),
			[]string{"a:ok", "b:ok", "g:up", "a:fail", "b:fail*3", "g:up*10", "=online", "#101"},
			"confidence 0.00 below 0.50 for 3 of 4 check results"},
		{"confidence at the threshold is not low", pairConfig(),
			[]string{"a:ok", "b:ok", "g:up", "a:fail*20", "=online", "#105"},
			"confidence 0.50, weakest a at 0.00 (last: timeout in banner)"},
		{"a good result restarts the low confidence count", pairConfig(),
			[]string{"a:ok", "b:ok", "g:up", "a:fail", "b:fail*3", "a:ok", "a:fail", "b:fail*2", "=online", "b:fail", "=offline"},
			"confidence 0.00 below 0.50 for 4 check results"},
		{"non-critical failures never alone take it offline", axigen,
			[]string{"round", "webmail:fail*50", "webadmin:fail*50", "cli:fail*50", "vip:up*20", "=online", "#108"},
			"confidence 0.75, weakest webmail at 0.00 (last: timeout in banner)"},
		{"online keeps serving while a critical check fails fewer than fall times", axigen,
			[]string{"round", "smtp:fail*2", "=online", "#109"},
			"smtp: 2 consecutive failures (timeout in banner)"},

		// Offline to online.
		{"offline to online after exactly rise successes of the check that went down", axigen,
			[]string{"round", "imap:fail*7", "=offline", "imap:ok", "=offline", "imap:ok", "=online"},
			"confidence 0.85, weakest imap at 0.40"},
		{"a check that went down needs its own rise, whatever the other updates", axigen,
			[]string{"round", "imap:fail*7", "imap:ok", "smtp:ok*5", "vip:up*5", "=offline"},
			"recovering: imap 1 of 2 successes"},
		{"a failure during the check's rise restarts it", axigen,
			[]string{"round", "imap:fail*7", "imap:ok", "imap:fail", "imap:ok", "=offline", "imap:ok", "=online"},
			"confidence 0.90, weakest imap at 0.60"},
		{"a gate recovering does not skip the rise count", axigen,
			[]string{"round", "vip:down", "=offline", "vip:up", "=offline", "smtp:ok", "=online"},
			"all checks healthy"},
		{"offline reports progress towards rise", axigen,
			[]string{"round", "vip:down", "vip:up", "=offline", "#100"},
			"recovering: 1 of 2 good updates"},
		{"a bad update during rise restarts the count", axigen,
			[]string{"round", "vip:down", "vip:up", "smtp:fail", "=offline", "smtp:ok", "=offline", "imap:ok", "=online"},
			"confidence 0.92, weakest smtp at 0.67"},
		{"a failing critical check blocks rise", axigen,
			[]string{"round", "vip:down", "vip:up", "smtp:fail", "vip:up*10", "=offline"},
			"smtp: 1 consecutive failure (timeout in banner)"},
		{"rise 3 needs three good updates", fastRise,
			[]string{"round", "vip:down", "vip:up", "smtp:ok", "=offline", "smtp:ok", "=online"},
			"all checks healthy"},
		{"low confidence must clear for rise", pairConfig(),
			[]string{"a:ok", "b:ok", "g:up", "a:fail", "b:fail*4", "=offline", "a:ok", "=offline", "b:ok", "=online"},
			"all checks healthy"},

		// Maintenance.
		{"maintenance freezes the state and reports 100", axigen,
			[]string{"round", "maint:on", "=maintenance", "#100", "imap:fail*10", "vip:down", "=maintenance", "#100"},
			"maintenance"},
		{"intentional maintenance reports 200", intentional,
			[]string{"round*2", "maint:on", "=maintenance", "#200", "maint:off", "=online", "#110"},
			"all checks healthy"},
		{"intentional only applies to maintenance", intentional,
			[]string{"round", "vip:down", "=offline", "#100"},
			"vip: vip broken"},
		{"leaving maintenance while a gate fails goes offline", axigen,
			[]string{"round", "maint:on", "vip:down", "maint:off", "=offline"},
			"vip: vip broken"},
		{"leaving maintenance while a check is down goes offline", axigen,
			[]string{"round", "maint:on", "imap:fail*7", "maint:off", "=offline"},
			"imap: 7 consecutive failures (timeout in banner)"},
		{"leaving maintenance healthy goes online at once", axigen,
			[]string{"round", "maint:on", "imap:fail*7", "imap:ok*2", "maint:off", "=online"},
			"confidence 0.85, weakest imap at 0.40"},
		{"leaving maintenance needs rise after a bad update", axigen,
			[]string{"round", "maint:on", "vip:down", "vip:up", "maint:off", "=offline", "smtp:ok", "=online"},
			"all checks healthy"},
		{"leaving maintenance right after start needs rise", axigen,
			[]string{"round", "maint:on", "maint:off", "=offline", "vip:up", "=online"},
			"all checks healthy"},
		{"maintenance from starting", axigen,
			[]string{"maint:on", "=maintenance", "round*2", "=maintenance", "maint:off", "=online"},
			"all checks healthy"},
		{"repeated maintenance calls change nothing", axigen,
			[]string{"round*2", "maint:off", "=online", "maint:on", "maint:on", "=maintenance", "maint:off", "maint:off", "=online"},
			"all checks healthy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, tc.cfg)
			d.play(tc.script...)
			if got := d.tg.Decision().Reason.String(); got != tc.reason {
				t.Errorf("reason %q, want %q", got, tc.reason)
			}
		})
	}
}

func TestDecisionRecordsTransitions(t *testing.T) {
	d := newDriver(t, axigenConfig())
	if got := d.tg.Decision(); !got.Since.IsZero() || got.Transitions != 0 || got.Last != (Transition{}) {
		t.Fatalf("fresh target: %+v, want no transition", got)
	}

	d.round()
	online := d.now // the last check of the round completed it
	d.play("imap:fail*7")
	offline := d.now

	got := d.tg.Decision()
	if got.Transitions != 2 || !got.Since.Equal(offline) {
		t.Errorf("Transitions %d Since %v, want 2 at %v", got.Transitions, got.Since, offline)
	}
	last := got.Last
	if last.From != Online || last.To != Offline || !last.At.Equal(offline) || last.Reason.Cause != CauseCritical || last.Reason.Name != "imap" || last.Reason.Count != 7 {
		t.Errorf("Last = %+v, want online→offline at %v, critical imap 7", last, offline)
	}

	// The transition's reason is kept as it was, while the current reason moves on.
	d.play("imap:ok")
	got = d.tg.Decision()
	if got.Reason.String() != "recovering: imap 1 of 2 successes" || got.Last.Reason.String() != "imap: 7 consecutive failures (timeout in banner)" {
		t.Errorf("reason %q, last %q", got.Reason, got.Last.Reason)
	}
	d.play("imap:ok")
	got = d.tg.Decision()
	if got.Transitions != 3 || got.Last.From != Offline || got.Last.To != Online || got.Since.Equal(online) || !got.Since.Equal(d.now) {
		t.Errorf("after recovery: %+v", got)
	}
}

func TestObserveRejectsBadInput(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.round()
	before := d.tg.Decision()

	for _, i := range []int{-1, 6, 1 << 40} {
		err := d.tg.ObserveCheck(i, Result{Outcome: Failed})
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("ObserveCheck(%d): %v, want out of range", i, err)
		}
		if err := d.tg.ObserveGate(i, false, "x", epoch); err == nil {
			t.Errorf("ObserveGate(%d): nil error", i)
		}
		if _, ok := d.tg.Check(i); ok {
			t.Errorf("Check(%d) ok", i)
		}
		if _, ok := d.tg.Gate(i); ok {
			t.Errorf("Gate(%d) ok", i)
		}
	}
	err := d.tg.ObserveCheck(1, Result{Outcome: OK + 1})
	if err == nil || !strings.Contains(err.Error(), `"imap": invalid outcome 3`) {
		t.Errorf("invalid outcome: %v", err)
	}
	if after := d.tg.Decision(); after != before {
		t.Errorf("rejected input changed the decision: %+v → %+v", before, after)
	}
	if v, _ := d.tg.Check(1); v.Len != 1 {
		t.Errorf("rejected input reached the window: %+v", v)
	}
}

func TestCheckView(t *testing.T) {
	c := axigenConfig()
	c.Window = 3
	d := newDriver(t, c)
	if v, _ := d.tg.Check(1); v.HasResults() || v.Health != 0 || v.Name != "imap" || !v.Critical || v.Weight != 2 {
		t.Errorf("fresh view %+v", v)
	}
	d.play("imap:ok", "imap:fail", "imap:degraded", "imap:fail")
	v, ok := d.tg.Check(1)
	if !ok || !v.HasResults() || v.Len != 3 {
		t.Fatalf("view %+v", v)
	}
	if got := v.Window[:v.Len]; got[0] != Failed || got[1] != Degraded || got[2] != Failed {
		t.Errorf("window %v, want [failed degraded failed] oldest first", got)
	}
	if v.Health != 0.5/3 || v.ConsecutiveFailures != 1 || v.ConsecutiveSuccesses != 0 || v.Down {
		t.Errorf("health %v streaks %d/%d down %v", v.Health, v.ConsecutiveFailures, v.ConsecutiveSuccesses, v.Down)
	}
	if v.Last.Outcome != Failed || v.Last.Reason != "timeout" || !v.Last.At.Equal(d.now) {
		t.Errorf("last %+v", v.Last)
	}

	d.play("vip:down")
	g, ok := d.tg.Gate(0)
	if !ok || g.Name != "vip" || !g.Observed || g.OK || g.Detail != "vip broken" || !g.At.Equal(d.now) {
		t.Errorf("gate view %+v", g)
	}
	if g, _ := d.tg.Gate(2); g.Observed {
		t.Errorf("unobserved gate view %+v", g)
	}
}

func TestConfidenceIsWeightedMean(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("smtp:ok", "webmail:fail", "cli:degraded")
	// (2×1 + 1×0 + 0.5×0.5) / (2 + 1 + 0.5): only checks with results count.
	if got, want := d.tg.Decision().Confidence, 2.25/3.5; got != want {
		t.Errorf("confidence %v, want %v", got, want)
	}
}

func TestNewCopiesConfig(t *testing.T) {
	c := axigenConfig()
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Checks[0].Name, c.Checks[0].Critical = "mutated", false
	c.Gates[0] = "mutated"
	if v, _ := tg.Check(0); v.Name != "smtp" || !v.Critical {
		t.Errorf("check changed with the caller's slice: %+v", v)
	}
	if g, _ := tg.Gate(0); g.Name != "vip" {
		t.Errorf("gate changed with the caller's slice: %+v", g)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	if tg, err := New(DefaultConfig()); err == nil || tg != nil {
		t.Errorf("New(no checks) = %v, %v", tg, err)
	}
}

func TestStartingIgnoresTime(t *testing.T) {
	// Times are only stamped, never compared: going backwards changes nothing.
	tg, err := New(pairConfig())
	if err != nil {
		t.Fatal(err)
	}
	_ = tg.ObserveCheck(0, Result{Outcome: OK, At: epoch})
	_ = tg.ObserveGate(0, true, "", epoch.Add(time.Hour))
	_ = tg.ObserveCheck(1, Result{Outcome: OK, At: epoch.Add(-time.Hour)})
	if got := tg.Decision(); got.State != Online || !got.Since.Equal(epoch.Add(-time.Hour)) {
		t.Errorf("%+v", got)
	}
}
