package daemon

import (
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/secret"
)

// A prober's own "degraded" (a metrics threshold, storage running low) reaches the score and
// the snapshot with its reason and detail; a storage gate that runs low stays passed but
// shows degraded with its capacity; the CLI's version note is the target's Axigen version.
func TestProberDegradedAndSignals(t *testing.T) {
	ts := handState(t,
		[]CheckSpec{
			{Name: "cli", Probe: probe.Spec{Protocol: "cli", Address: "127.0.0.1:7000"}, Weight: 1},
			{Name: "queue", Weight: 1, Probe: probe.Spec{Protocol: "metrics", Address: "127.0.0.1:9000", Username: "admin",
				Password: secret.New("pw"), Metrics: []probe.MetricRule{{Series: "queue_size", DegradedAbove: new(float64)}}}},
		},
		[]CheckSpec{{Name: "storage", Probe: probe.Spec{Protocol: "storage", StoragePath: "/srv"}}}, 0)
	now := time.Now()
	cli := probe.NewTrace()
	cli.SetNote("version", "10.6.30")
	cli.Finish()
	ts.apply(result{check: "cli", trace: cli, at: now})

	queue := probe.NewTrace()
	queue.SetSeries(probe.SeriesValue{Name: "queue_size", Value: 150, Growth: 12, HasGrowth: true})
	queue.Degrade("threshold", "queue_size = 150, above degraded_above 100")
	queue.Finish()
	ts.apply(result{check: "queue", trace: queue, at: now})

	storage := probe.NewTrace()
	storage.SetCapacity(probe.Capacity{SizeBytes: 100, FreeBytes: 5, Inodes: 10, FreeInodes: 9})
	storage.Degrade("storage_low", "storage /srv: free space 5.00%")
	storage.Finish()
	ts.apply(result{check: "storage", gate: true, trace: storage, at: now})

	snap := ts.snapshot()
	q := snap.Checks[1]
	if q.Outcome != "degraded" || q.Reason != "threshold" || q.Detail != "queue_size = 150, above degraded_above 100" ||
		len(q.Series) != 1 || q.Series[0].Value != 150 || q.Health != 0.5 {
		t.Errorf("metrics check: %+v", q)
	}
	g := snap.Gates[0]
	if !g.OK || g.Outcome != "degraded" || g.Reason != "storage_low" || g.Capacity == nil || g.Capacity.FreeBytes != 5 {
		t.Errorf("storage gate: %+v", g)
	}
	if snap.State != "online" {
		t.Errorf("state %s (%s): a degraded gate must not take the target offline", snap.State, snap.Reason)
	}
	if v := snap.AxigenVersion(); v != "10.6.30" {
		t.Errorf("AxigenVersion() = %q", v)
	}
	// A standby node's CLI check fails (Axigen runs on the other node): the version it last
	// saw stays.
	failed := trace("connect")
	ts.apply(result{check: "cli", trace: failed, err: &probe.Error{Reason: probe.ReasonRefused, Phase: "connect"}, at: now})
	if snap := ts.snapshot(); snap.AxigenVersion() != "10.6.30" {
		v := snap.AxigenVersion()
		t.Errorf("after a failed probe AxigenVersion() = %q, want the last seen", v)
	}
}

// The config's metrics check and storage thresholds reach the probe specs, which build.
func TestResolveSignals(t *testing.T) {
	spec := resolveTestdata(t, "valid-signals.yaml")
	q := spec.Checks[2]
	if q.Probe.Protocol != "metrics" || q.Probe.Address != "10.0.0.5:9443" || q.Probe.Path != "/metrics" || q.Critical ||
		q.Interval != time.Minute || q.FastInterval != 12*time.Second || q.Probe.GrowthWindow != 5*time.Minute ||
		q.Probe.Username != "admin@example.com" || q.Probe.Password.Reveal() != "pw" {
		t.Errorf("metrics check %+v", q)
	}
	if r := q.Probe.Metrics; len(r) != 2 || r[0].Series != "queue_size" || *r[0].DegradedAbove != 500 || *r[0].FailedAbove != 5000 ||
		*r[0].GrowthDegradedAbove != 20 || r[0].GrowthFailedAbove != nil || r[1].Labels["domain"] != "example.com" || *r[1].DegradedBelow != 1 {
		t.Errorf("series %+v", r)
	}
	var storage *CheckSpec
	for i := range spec.Gates {
		if spec.Gates[i].Name == "storage" {
			storage = &spec.Gates[i]
		}
	}
	if storage == nil || storage.Probe.DegradedFreePercent != 10 || storage.Probe.FailedFreePercent != 2 {
		t.Errorf("storage gate %+v", storage)
	}
}
