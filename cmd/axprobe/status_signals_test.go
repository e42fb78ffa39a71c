package main

import (
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/probe"
)

func TestStatusShowsSignals(t *testing.T) {
	now := time.Now()
	snap := &daemon.Snapshot{Targets: []daemon.TargetSnapshot{{Name: "axigen", State: "online", Code: 109, Confidence: 0.9, Updated: now,
		Gates: []daemon.CheckSnapshot{{Name: "storage", Protocol: "storage", HasResult: true, OK: true, Outcome: "ok",
			Capacity: &probe.Capacity{SizeBytes: 10 << 30, FreeBytes: 4608 << 20, Inodes: 1000, FreeInodes: 900}},
			{Name: "storage2", Protocol: "storage", HasResult: true, OK: true, Outcome: "degraded", Reason: "storage_low",
				Detail: "storage /b: free space 5.00%", Capacity: &probe.Capacity{SizeBytes: 100, FreeBytes: 5}}},
		Checks: []daemon.CheckSnapshot{
			{Name: "cli", Protocol: "cli", HasResult: true, OK: true, Outcome: "ok", Health: 1, AxigenVersion: "10.6.30"},
			{Name: "queue", Protocol: "metrics", HasResult: true, OK: true, Outcome: "ok", Health: 1,
				Series: []probe.SeriesValue{{Name: "queue_size", Value: 12, Growth: 1.5, HasGrowth: true}}},
		}}}}
	var out strings.Builder
	writeStatus(&out, snap, now)
	for _, want := range []string{
		"  Axigen 10.6.30 (CLI GET VERSION)\n",
		"free 45.0% (4.5 GiB of 10.0 GiB), inodes 90.0% free",
		"storage /b: free space 5.00%",
		"queue_size 12 (+1.5/min)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
