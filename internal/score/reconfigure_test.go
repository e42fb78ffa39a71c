package score

import (
	"slices"
	"testing"
)

func view(t *testing.T, tg *Target, i int) CheckView {
	t.Helper()
	v, ok := tg.Check(i)
	if !ok {
		t.Fatalf("Check(%d): out of range", i)
	}
	return v
}

func TestReconfigureKeepsHistory(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("round", "imap:fail*3", "webmail:degraded", "vip:up")
	before := d.tg.Decision()
	imap := view(t, d.tg, 1)

	// Drop webadmin, add pop3s, reorder, reweigh smtp and make cli critical; drop the
	// storage gate and add a new one.
	c := axigenConfig()
	c.Checks = []CheckConfig{
		{Name: "imap", Weight: 2, Critical: true},
		{Name: "pop3s", Weight: 1, Critical: true},
		{Name: "smtp", Weight: 5, Critical: true},
		{Name: "pop3", Weight: 2, Critical: true},
		{Name: "webmail", Weight: 1},
		{Name: "cli", Weight: 0.5, Critical: true},
	}
	c.Gates = []string{"process", "quota", "vip"}
	n, err := d.tg.Reconfigure(c)
	if err != nil {
		t.Fatal(err)
	}

	if got := view(t, n, 0); got.Window != imap.Window || got.Len != imap.Len || got.ConsecutiveFailures != 3 || got.Last != imap.Last || got.Health != imap.Health {
		t.Errorf("imap after reload %+v, want history %+v", got, imap)
	}
	if got := view(t, n, 1); got.HasResults() || got.Name != "pop3s" {
		t.Errorf("new check pop3s has history: %+v", got)
	}
	if got := view(t, n, 2); got.Weight != 5 || got.Len != 1 || got.Last.Outcome != OK {
		t.Errorf("smtp after reload %+v", got)
	}
	if got := view(t, n, 4); got.Len != 2 || got.Last.Outcome != Degraded {
		t.Errorf("webmail after reload %+v", got)
	}
	if g, _ := n.Gate(2); g.Name != "vip" || !g.Observed || !g.At.Equal(d.now) {
		t.Errorf("vip after reload %+v", g)
	}
	if g, _ := n.Gate(1); g.Observed {
		t.Errorf("new gate quota observed: %+v", g)
	}
	if _, ok := n.Check(6); ok {
		t.Error("the dropped check is still there")
	}

	after := n.Decision()
	if after.State != before.State || after.Transitions != before.Transitions || after.Last != before.Last {
		t.Errorf("state machine not kept: %+v → %+v", before, after)
	}
	// Reconfigure is not an update: the new, never-observed check does not change the state,
	// it only shows in the reason.
	if after.State != Online || after.Reason.String() != "starting: waiting for pop3s, quota" {
		t.Errorf("after reload: %s, %s", after.State, after.Reason)
	}

	// The old target is untouched and independent of the new one.
	_ = n.ObserveCheck(0, Result{Outcome: OK})
	if got := view(t, d.tg, 1); got.Window != imap.Window || got.ConsecutiveFailures != 3 {
		t.Errorf("old target changed through the new one: %+v", got)
	}
	if got := d.tg.Decision(); got != before {
		t.Errorf("old decision changed: %+v", got)
	}
}

func TestReconfigureWindowChangeResetsHistory(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("round", "round")

	// The same window keeps every check's history.
	n, err := d.tg.Reconfigure(axigenConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if got := view(t, n, i); got.Len != 2 || got.Size != DefaultWindow {
			t.Errorf("%s lost history under the same window: %+v", got.Name, got)
		}
	}

	// Changing the target's window resets every check: its results mean other things.
	c := axigenConfig()
	c.Window = 4
	n, err = d.tg.Reconfigure(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if got := view(t, n, i); got.HasResults() || got.Size != 4 {
			t.Errorf("%s kept history across a window change: %+v", got.Name, got)
		}
	}
}

func TestReconfigureJudgesFromTheNextUpdate(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("round", "webmail:fail*7", "=online")

	// webmail becomes critical with 7 failures behind it: offline at the next update.
	c := axigenConfig()
	c.Checks[3].Critical = true
	n, err := d.tg.Reconfigure(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Decision(); got.State != Online || got.Reason.Cause != CauseCritical {
		t.Fatalf("after reload: %s %s, want still online with the critical reason", got.State, got.Reason)
	}
	d.tg, d.cfg = n, c
	d.play("vip:up", "=offline")

	// Back to non-critical: it no longer holds the target down.
	n, err = d.tg.Reconfigure(axigenConfig())
	if err != nil {
		t.Fatal(err)
	}
	d.tg, d.cfg = n, axigenConfig()
	if v := view(t, n, 3); v.Down {
		t.Errorf("non-critical check still down: %+v", v)
	}
	d.play("vip:up", "=offline", "vip:up", "=online")
}

func TestReconfigureDropsFailedGate(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("round", "storage:down", "=offline")
	c := axigenConfig()
	c.Gates = slices.DeleteFunc(c.Gates, func(g string) bool { return g == "storage" })
	n, err := d.tg.Reconfigure(c)
	if err != nil {
		t.Fatal(err)
	}
	d.tg, d.cfg = n, c
	d.play("=offline", "vip:up", "=offline", "vip:up", "=online")
}

func TestReconfigureRejectsInvalidConfig(t *testing.T) {
	d := newDriver(t, axigenConfig())
	d.play("round")
	before := d.tg.Decision()
	c := axigenConfig()
	c.Fall = 0
	if n, err := d.tg.Reconfigure(c); err == nil || n != nil {
		t.Fatalf("Reconfigure(fall 0) = %v, %v", n, err)
	}
	if got := d.tg.Decision(); got != before {
		t.Errorf("failed reload changed the target: %+v", got)
	}
}
