package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestDemoQueueStuck plays the demo's "queue stuck" scene against the real daemon and the
// demo's own config: the growing queue moves the metrics check to degraded at
// degraded_above (100), then to failed at failed_above (500); the target stays online (the
// check is not critical); once delivered the check is ok again.
func TestDemoQueueStuck(t *testing.T) {
	dir, err := os.MkdirTemp("", "axprobe-demo-test-") // short: the socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	env, err := startDemoEnv(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	env.removeDir = true
	defer env.close()
	srv, err := newServer(env.cfg, env.load, env.log, serverHooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer testkit.Run(t, "daemon", srv.run)()

	queue := func() (daemon.CheckSnapshot, daemon.TargetSnapshot) {
		snap := srv.daemon.Snapshot()
		if snap == nil {
			return daemon.CheckSnapshot{}, daemon.TargetSnapshot{} // not published yet
		}
		tg, ok := snap.Target("")
		if !ok {
			return daemon.CheckSnapshot{}, daemon.TargetSnapshot{}
		}
		for _, c := range tg.Checks {
			if c.Name == "queue" {
				return c, *tg
			}
		}
		t.Fatal("the demo has no queue check")
		return daemon.CheckSnapshot{}, daemon.TargetSnapshot{}
	}
	waitFor := func(what string, ok func(c daemon.CheckSnapshot, tg daemon.TargetSnapshot) bool) daemon.CheckSnapshot {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			c, tg := queue()
			if ok(c, tg) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not seen within 60 s: queue check %+v, target %s (%s)", what, c, tg.State, tg.Reason)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the queue check ok and the target online", func(c daemon.CheckSnapshot, tg daemon.TargetSnapshot) bool {
		return c.Outcome == "ok" && tg.State == "online"
	})

	// Step the queue across the thresholds (the growth threshold, 300/min over the 5 s
	// window, also trips on a step: the step is what is graded here).
	ax := env.axigen.Reporting
	ax.SetQueue(150)
	c := waitFor("degraded above 100", func(c daemon.CheckSnapshot, _ daemon.TargetSnapshot) bool { return c.Outcome == "degraded" })
	if c.Reason != "threshold" || !strings.HasPrefix(c.Detail, "queue_size = 150, above degraded_above 100") {
		t.Errorf("degraded: reason %q detail %q", c.Reason, c.Detail)
	}
	ax.SetQueue(600)
	c = waitFor("failed above 500", func(c daemon.CheckSnapshot, _ daemon.TargetSnapshot) bool { return c.Outcome == "failed" })
	if c.Reason != "threshold" || c.Error == "" {
		t.Errorf("failed: reason %q error %q", c.Reason, c.Error)
	}
	if _, tg := queue(); tg.State != "online" {
		t.Errorf("a failed non-critical metrics check took the target %s (%s)", tg.State, tg.Reason)
	}

	// The scene's own knob: the queue grows by DemoQueueGrowth a minute from 0.
	if err := (mailtest.Faulter{Axigen: env.axigen}).SetSignal(""); err != nil {
		t.Fatal(err)
	}
	waitFor("ok once delivered", func(c daemon.CheckSnapshot, _ daemon.TargetSnapshot) bool { return c.Outcome == "ok" })
	if err := (mailtest.Faulter{Axigen: env.axigen}).SetSignal("queue_stuck"); err != nil {
		t.Fatal(err)
	}
	waitFor("the stuck queue failing the check", func(c daemon.CheckSnapshot, _ daemon.TargetSnapshot) bool { return c.Outcome == "failed" })
}
