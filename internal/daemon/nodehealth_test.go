package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestNodeHealthColor: the value each verdict stands for. The cases that matter are the
// ones a naive "offline → red" would get wrong: a standby node (offline because Axigen does
// not run there) must stay green, or the cluster could never fail over to it, and a node
// where Axigen is still coming up must not turn red, or every start would be stopped.
func TestNodeHealthColor(t *testing.T) {
	gates := func(process, vip bool) []CheckSnapshot {
		return []CheckSnapshot{{Name: "vip", HasResult: true, OK: vip}, {Name: "process", HasResult: true, OK: process}}
	}
	cases := []struct {
		name        string
		ts          TargetSnapshot
		onlineSince bool
		want        string
		wantOnline  bool
	}{
		{"starting", TargetSnapshot{State: "starting", Code: 100}, false, "", false},
		{"online 110", TargetSnapshot{State: "online", Code: 110, Gates: gates(true, true)}, false, healthGreen, true},
		{"online 109", TargetSnapshot{State: "online", Code: 109, Gates: gates(true, true)}, true, healthYellow, true},
		{"online 101", TargetSnapshot{State: "online", Code: 101, Gates: gates(true, true)}, true, healthYellow, true},
		{"maintenance", TargetSnapshot{State: "maintenance", Code: 200, Gates: gates(true, true)}, true, healthYellow, true},
		{"failed while running here", TargetSnapshot{State: "offline", Code: 100, Gates: gates(true, true)}, true, healthRed, true},
		{"coming up here", TargetSnapshot{State: "offline", Code: 100, Gates: gates(true, true)}, false, "", false},
		{"standby: no process", TargetSnapshot{State: "offline", Code: 100, Gates: gates(false, false)}, true, healthGreen, false},
		{"no process, VIP still here", TargetSnapshot{State: "offline", Code: 100, Gates: gates(false, true)}, true, healthGreen, false},
		{"process gate not probed yet", TargetSnapshot{State: "offline", Code: 100,
			Gates: []CheckSnapshot{{Name: "process"}}}, true, healthGreen, false},
		{"no process gate, VIP gone", TargetSnapshot{State: "offline", Code: 100,
			Gates: []CheckSnapshot{{Name: "vip", HasResult: true}}}, true, healthGreen, false},
		{"no process gate, VIP here", TargetSnapshot{State: "offline", Code: 100,
			Gates: []CheckSnapshot{{Name: "vip", HasResult: true, OK: true}}}, true, healthRed, true},
		{"no gates at all", TargetSnapshot{State: "offline", Code: 100}, true, healthRed, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, online := nodeHealthColor(&c.ts, c.onlineSince)
			if got != c.want || online != c.wantOnline {
				t.Errorf("nodeHealthColor = %q, online since %v; want %q, %v", got, online, c.want, c.wantOnline)
			}
		})
	}
}

// fakeAttrd writes an attrd_updater stand-in that appends its arguments, one call per line,
// to the returned log, and fails (exit 1, "connection refused") while the returned flag file
// exists. Every call, failed or not, is also appended to log + ".tries".
func fakeAttrd(t *testing.T) (cmd, log, failFlag string) {
	t.Helper()
	dir := t.TempDir()
	cmd, log, failFlag = filepath.Join(dir, "attrd_updater"), filepath.Join(dir, "calls.log"), filepath.Join(dir, "fail")
	script := "#!/bin/sh\necho \"$*\" >> '" + log + ".tries'\nif [ -e '" + failFlag + "' ]; then echo 'Could not connect to attrd: Connection refused' >&2; exit 1; fi\n" +
		"echo \"$*\" >> '" + log + "'\n"
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, log, failFlag
}

// waitCalls waits until the fake's log satisfies cond, polling with a generous deadline.
func waitCalls(t *testing.T, log, what string, cond func(lines []string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) == 0 {
			lines = nil
		}
		if cond(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; attrd_updater calls:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastIs(want string) func([]string) bool {
	return func(lines []string) bool { return len(lines) > 0 && lines[len(lines)-1] == want }
}

// runPusher runs h until the test ends.
func runPusher(t *testing.T, h *healthPusher) {
	testkit.Run(t, "the health pusher", func(ctx context.Context) error { h.run(ctx); return nil })
}

// TestNodeHealthPush walks the attribute through a node's life against the fake Axigen:
// green when healthy, yellow when degraded, red when a critical listener hangs while Axigen
// runs here, green again once the process is gone (the cluster stopped it here), and
// deleted when the daemon stops. Only changes are pushed.
func TestNodeHealthPush(t *testing.T) {
	ax := startAxigen(t)
	proc, pidfile := standIn(t)
	attrd, calls, _ := fakeAttrd(t)
	spec := fastTarget(ax, pidfile)
	spec.NodeHealth = &NodeHealthSpec{Attribute: "#health-axigen", Delay: 3 * time.Second, AttrdUpdater: attrd}
	d, err := New(Options{Targets: []TargetSpec{spec}})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Run(t, "Run", d.Run)

	set := func(v string) string { return "--name #health-axigen --update-both " + v + " --delay 3" }
	waitCalls(t, calls, "green", lastIs(set("green")))
	ax.WebMail.SetFault(mailtest.FaultRefuse) // a non-critical check: online below 100 %
	waitCalls(t, calls, "yellow", lastIs(set("yellow")))
	ax.WebMail.SetFault(mailtest.FaultNone)
	waitCalls(t, calls, "green again", lastIs(set("green")))
	ax.IMAP.SetFault(mailtest.FaultHang) // critical: offline while the process runs here
	waitCalls(t, calls, "red", lastIs(set("red")))
	_ = proc.Process.Kill() // the cluster stopped Axigen here
	_ = proc.Wait()
	lines := waitCalls(t, calls, "green after the process went", lastIs(set("green")))
	for i := 1; i < len(lines); i++ {
		if lines[i] == lines[i-1] {
			t.Errorf("call %d repeats the one before (%q): only changes are pushed", i, lines[i])
		}
	}
	stop()
	waitCalls(t, calls, "delete on stop", lastIs("--name #health-axigen --delete"))
}

// TestNodeHealthRetry: while attrd_updater fails (the cluster is not up yet), the push is
// retried and the failure logged once; once it works the value arrives.
func TestNodeHealthRetry(t *testing.T) {
	attrd, calls, failFlag := fakeAttrd(t)
	if err := os.WriteFile(failFlag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs testkit.SyncBuffer
	h := newHealthPusher(slog.New(slog.NewTextHandler(&logs, nil)))
	h.retry = 50 * time.Millisecond
	spec := TargetSpec{Name: "axigen", NodeHealth: &NodeHealthSpec{Attribute: "#health-axigen", AttrdUpdater: attrd}}
	h.configure([]TargetSpec{spec})
	runPusher(t, h)

	h.observe(&Snapshot{Targets: []TargetSnapshot{{Name: "axigen", State: "online", Code: 110}}})
	testkit.WaitForLog(t, 30*time.Second, &logs, "node health attribute not set")
	if !strings.Contains(logs.String(), "Connection refused") {
		t.Errorf("the log does not say why: %s", logs.String())
	}
	waitCalls(t, calls+".tries", "three tries while it fails", func(l []string) bool { return len(l) >= 3 })
	if err := os.Remove(failFlag); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, calls, "green after attrd_updater works", lastIs("--name #health-axigen --update-both green --delay 0"))
	// The fake has written its line before it exits; the log follows its exit.
	testkit.WaitForLog(t, 30*time.Second, &logs, "node health attribute set")
	if n := strings.Count(logs.String(), "node health attribute not set"); n != 1 {
		t.Errorf("failure logged %d times, want once per streak:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "attrd_updater works again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

// TestNodeHealthReloadRemoves: a reload that drops a target's node_health deletes the
// attribute this daemon set.
func TestNodeHealthReloadRemoves(t *testing.T) {
	attrd, calls, _ := fakeAttrd(t)
	h := newHealthPusher(slog.New(slog.DiscardHandler))
	spec := TargetSpec{Name: "axigen", NodeHealth: &NodeHealthSpec{Attribute: "#health-axigen", AttrdUpdater: attrd}}
	h.configure([]TargetSpec{spec})
	runPusher(t, h)

	h.observe(&Snapshot{Targets: []TargetSnapshot{{Name: "axigen", State: "online", Code: 109}}})
	waitCalls(t, calls, "yellow", lastIs("--name #health-axigen --update-both yellow --delay 0"))
	spec.NodeHealth = nil
	h.configure([]TargetSpec{spec})
	waitCalls(t, calls, "delete after reload", lastIs("--name #health-axigen --delete"))
}
