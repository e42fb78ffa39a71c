package daemon

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
