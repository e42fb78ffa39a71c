package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/probe"
)

// TestOnTransitionAndMaintenance: the on_transition command runs once per state change with
// the change in its environment, and the maintenance marker turns the answer into 200 (with
// IntentionalOffline) and back.
func TestOnTransitionAndMaintenance(t *testing.T) {
	ax := startAxigen(t)
	_, pidfile := standIn(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "transitions.log")
	spec := fastTarget(ax, pidfile)
	spec.MaintenanceFile = filepath.Join(dir, "maintenance")
	spec.IntentionalOffline = true
	spec.OnTransition = []string{"/bin/sh", "-c", `echo "$AXPROBE_TARGET $AXPROBE_FROM $AXPROBE_TO" >> "$0"`, out}
	_, obs := runDaemon(t, spec)

	obs.waitFor(t, 30*time.Second, "online", func(ts TargetSnapshot) bool { return ts.Code == 110 })
	if err := os.WriteFile(spec.MaintenanceFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, _ := obs.waitFor(t, 30*time.Second, "maintenance", func(ts TargetSnapshot) bool { return ts.State == "maintenance" })
	if ts.Code != 200 {
		t.Fatalf("maintenance with intentional_offline: code %d, want 200", ts.Code)
	}
	if err := os.Remove(spec.MaintenanceFile); err != nil {
		t.Fatal(err)
	}
	obs.waitFor(t, 30*time.Second, "online after maintenance", func(ts TargetSnapshot) bool { return ts.Code == 110 })

	// Leaving maintenance with a healthy history goes straight back online (see score).
	want := "axigen starting online\naxigen online maintenance\naxigen maintenance online\n"
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := os.ReadFile(out)
		if string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("on_transition log:\n%s\nwant:\n%s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHookTimeout: a hung on_transition command is killed at its timeout and logged.
func TestHookTimeout(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	start := time.Now()
	runHook(log, TargetSpec{Name: "axigen", OnTransition: []string{"sleep", "60"}, OnTransitionTimeout: 100 * time.Millisecond},
		Transition{From: "online", To: "offline"})
	if time.Since(start) > 30*time.Second {
		t.Fatalf("runHook did not stop the hung command")
	}
	if !strings.Contains(buf.String(), "on_transition command failed") {
		t.Fatalf("hung command not logged as failed: %s", buf.String())
	}
}

// hookDaemon returns a daemon and the state of its one target, whose on_transition command
// appends "start SEQ NODE TARGET FROM TO", sleeps a little, and appends "end SEQ" to the
// returned file: two runs that overlap interleave their lines.
func hookDaemon(t *testing.T, maxRuns int, per time.Duration) (*Daemon, *targetState, string, context.CancelFunc) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hooks.log")
	spec := TargetSpec{Name: "axigen", Node: "node-a",
		Checks:   []CheckSpec{{Name: "tcp", Probe: probe.Spec{Protocol: "tcp", Address: "127.0.0.1:1"}, Weight: 1}},
		Interval: time.Second, FastInterval: time.Second, Timeout: time.Second, Window: 5, Rise: 2, Fall: 3, OfflineBelow: 0.5,
		OnTransition: []string{"/bin/sh", "-c", `echo "start $AXPROBE_SEQ $1 $2 $3 $4" >> "$0"; sleep 0.02; echo "end $AXPROBE_SEQ" >> "$0"`,
			out, "{node}", "{target}", "{from}", "{to}"},
		OnTransitionMaxRuns: maxRuns, OnTransitionPer: per,
	}
	d, state := foldRig(t, spec)
	ctx, cancel := context.WithCancel(context.Background())
	d.runCtx = ctx
	t.Cleanup(func() { cancel(); d.hooks.Wait() })
	return d, state.targets[0], out, cancel
}

// flap submits n transitions alternating online and offline, as a flapping service makes.
func flap(d *Daemon, ts *targetState, n int) {
	states := []string{"online", "offline"}
	for i := range n {
		d.transition(ts, Transition{At: time.Now(), From: states[i%2], To: states[(i+1)%2], Reason: "flap"})
	}
}

// hookLines waits until the hook log has want lines and returns them.
func hookLines(t *testing.T, path string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= want {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook log has %d lines after 30 s, want %d:\n%s", len(lines), want, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHooksOrderedAndRateLimited: 100 transitions of a flapping service run at most
// max_runs hooks, one at a time (no run overlaps the next), in transition order, with the
// placeholders substituted. The hooks used to run concurrently, all 100 of them.
func TestHooksOrderedAndRateLimited(t *testing.T) {
	d, ts, out, cancel := hookDaemon(t, 5, time.Hour)
	flap(d, ts, 100)
	hookLines(t, out, 10)
	cancel()
	d.hooks.Wait() // the runner drops what is pending once the daemon stops
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var want []string
	states := []string{"online", "offline"}
	for i := range 5 {
		want = append(want, fmt.Sprintf("start %d node-a axigen %s %s", i+1, states[i%2], states[(i+1)%2]), fmt.Sprintf("end %d", i+1))
	}
	if !slices.Equal(lines, want) {
		t.Errorf("hook log:\n%s\nwant (5 runs, in order, never overlapping):\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestHooksRateLimitRunsNewest: once the limit frees a slot, the newest pending transition
// runs and the ones between are skipped: the cluster learns the latest state.
func TestHooksRateLimitRunsNewest(t *testing.T) {
	d, ts, out, _ := hookDaemon(t, 2, 500*time.Millisecond)
	flap(d, ts, 10)
	deadline := time.Now().Add(30 * time.Second)
	var seqs []int
	for {
		b, _ := os.ReadFile(out)
		seqs = seqs[:0]
		for _, line := range strings.Split(string(b), "\n") {
			var seq int
			if _, err := fmt.Sscanf(line, "end %d", &seq); err == nil {
				seqs = append(seqs, seq)
			}
		}
		if len(seqs) > 0 && seqs[len(seqs)-1] == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the newest transition (10) never ran; runs: %v", seqs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.IsSorted(seqs) || len(seqs) >= 10 {
		t.Errorf("runs %v: want increasing, ending at 10, with the ones between skipped", seqs)
	}
}

// TestPlaceholdersMatchConfig: every placeholder the config accepts is substituted.
func TestPlaceholdersMatchConfig(t *testing.T) {
	spec := TargetSpec{Name: "axigen", Node: "node1"}
	tr := Transition{From: "online", To: "offline", Reason: "why"}
	for _, p := range config.HookPlaceholders {
		if got := expand("{"+p+"}", spec, tr); got == "{"+p+"}" || got == "" {
			t.Errorf("{%s} is accepted by the config but expands to %q", p, got)
		}
	}
}
