package web

import (
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/probe"
)

// signalSnapshot is a one-target snapshot with every Axigen signal: a graded queue with its
// growth and limits, a CLI version, and the storage gate's capacity.
func signalSnapshot() *daemon.Snapshot {
	snap := scaleSnapshot(1)
	t := &snap.Targets[0]
	t.Checks = append(t.Checks,
		daemon.CheckSnapshot{Name: "queue", Protocol: "metrics", HasResult: true, OK: true, Stats: daemon.NewCheckStats(),
			Series: []probe.SeriesValue{{Name: "queue_size", Value: 150, Growth: 12.5, HasGrowth: true,
				Limits: []probe.Limit{{Level: "degraded_above", Value: 100}, {Level: "growth_degraded_above", Value: 10}}},
				{Name: `users_count{domain="example.com"}`, Value: 7}}})
	for i := range t.Checks {
		if t.Checks[i].Name == "cli" {
			t.Checks[i].AxigenVersion = "10.6.30"
		}
	}
	t.Gates = append(t.Gates, daemon.CheckSnapshot{Name: "storage", Protocol: "storage", HasResult: true, OK: true,
		Stats: daemon.NewCheckStats(), Capacity: &probe.Capacity{SizeBytes: 1000, FreeBytes: 50, Inodes: 100, FreeInodes: 90,
			DegradedFreePercent: 10}})
	return snap
}

func TestSignalMetrics(t *testing.T) {
	snap := signalSnapshot()
	m, _ := metricsOf("test", snap)
	s, err := New(Options{Source: fixedSource{snap}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	gathered := gatherByName(t, m)
	text := get(t, s.Handler(), "/metrics").Body.String()
	name := snap.Targets[0].Name
	for _, want := range []string{
		`axprobe_axigen_series{check="queue",series="queue_size",target="` + name + `"} 150`,
		`axprobe_axigen_series{check="queue",series="users_count{domain=\"example.com\"}",target="` + name + `"} 7`,
		`axprobe_axigen_series_growth_per_minute{check="queue",series="queue_size",target="` + name + `"} 12.5`,
		`axprobe_axigen_series_limit{check="queue",level="degraded_above",series="queue_size",target="` + name + `"} 100`,
		`axprobe_axigen_series_limit{check="queue",level="growth_degraded_above",series="queue_size",target="` + name + `"} 10`,
		`axprobe_axigen_version_info{check="cli",target="` + name + `",version="10.6.30"} 1`,
		`axprobe_storage_size_bytes{target="` + name + `"} 1000`,
		`axprobe_storage_free_bytes{target="` + name + `"} 50`,
		`axprobe_storage_inodes{target="` + name + `"} 100`,
		`axprobe_storage_free_inodes{target="` + name + `"} 90`,
		`axprobe_storage_free_percent_limit{level="degraded",target="` + name + `"} 10`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, `level="failed",target`) {
		t.Error("a disabled storage level (0) is exported")
	}
	if got, want := normalised(t, parseText(t, strings.NewReader(text))), normalised(t, gathered); got != want {
		t.Errorf("/metrics differs from the collector's series\n--- /metrics\n%s\n--- collector\n%s", got, want)
	}
}

// The page shows the Axigen version, a metrics check's series, a degraded gate's detail and
// the storage capacity; the script renders the same facts from /status.json.
func TestPageShowsSignals(t *testing.T) {
	snap := signalSnapshot()
	tg := &snap.Targets[0]
	g := &tg.Gates[len(tg.Gates)-1]
	g.Outcome, g.Reason, g.Detail = "degraded", "storage_low", "storage /var/opt/axigen: free space 5.00%"
	m, _ := metricsOf("test", snap)
	s, err := New(Options{Source: fixedSource{snap}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	page := get(t, s.Handler(), "/").Body.String()
	for _, want := range []string{
		`<span class="version">Axigen 10.6.30</span>`,
		`<span class="series">queue_size 150 (&#43;12.5/min), users_count{domain=&#34;example.com&#34;} 7</span>`,
		`<span class="err">storage /var/opt/axigen: free space 5.00%</span>`,
		`<span class="capacity">free 5.0% (50 B of 1000 B), inodes 90.0% free</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	js, err := assets.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"function seriesText", "function capacityText", "function axigenVersion", "c.axigen_version", "g.capacity", "g.detail"} {
		if !strings.Contains(string(js), fn) {
			t.Errorf("app.js lacks %s: the live re-render would drop what the server rendered", fn)
		}
	}
}
