package web

import (
	"github.com/axprobe/axprobe/internal/daemon"
)

// Axigen's own signals (docs/OBSERVABILITY.md, "Axigen's own signals"): the series a metrics
// check graded, the Axigen version the CLI reported, and the domain storage's capacity. Read
// from the snapshot at scrape time like every per-target family.
var (
	famSeries = newFamily("axprobe_axigen_series", "gauge",
		"Value of a series of Axigen's own /metrics that a metrics check grades (e.g. queue_size), in its last scrape.",
		"target", "check", "series")
	famSeriesGrowth = newFamily("axprobe_axigen_series_growth_per_minute", "gauge",
		"Growth per minute of a graded Axigen series: the least-squares slope over the check's window.",
		"target", "check", "series")
	famSeriesLimit = newFamily("axprobe_axigen_series_limit", "gauge",
		"A configured threshold of a graded Axigen series, by level (degraded_above, failed_above, degraded_below, failed_below, growth_degraded_above, growth_failed_above).",
		"target", "check", "series", "level")
	famVersion = newFamily("axprobe_axigen_version_info", "gauge",
		"A constant 1 labelled with the Axigen version a CLI check last saw (GET VERSION).",
		"target", "check", "version")
	famStorageSize = newFamily("axprobe_storage_size_bytes", "gauge",
		"Size of the filesystem holding the target's storage path, in its last storage gate probe.", "target")
	famStorageFree = newFamily("axprobe_storage_free_bytes", "gauge",
		"Bytes an unprivileged user (Axigen) may still write on the storage path's filesystem.", "target")
	famStorageInodes = newFamily("axprobe_storage_inodes", "gauge",
		"Inodes of the storage path's filesystem (absent where the filesystem does not count them).", "target")
	famStorageFreeInodes = newFamily("axprobe_storage_free_inodes", "gauge",
		"Free inodes of the storage path's filesystem (absent where the filesystem does not count them).", "target")
	famStorageLimit = newFamily("axprobe_storage_free_percent_limit", "gauge",
		"The storage gate's thresholds in percent free (space or inodes), by level (degraded, failed); absent when disabled.",
		"level", "target")

	signalFamilies = []*family{famSeries, famSeriesGrowth, famSeriesLimit, famVersion,
		famStorageSize, famStorageFree, famStorageInodes, famStorageFreeInodes, famStorageLimit}
)

// walkSignals emits the signal families of s, all of one family before the next.
func walkSignals(s *daemon.Snapshot, out sink) {
	eachSeries := func(f func(t *daemon.TargetSnapshot, c *daemon.CheckSnapshot, i int)) {
		for ti := range s.Targets {
			t := &s.Targets[ti]
			for ci := range t.Checks {
				for i := range t.Checks[ci].Series {
					f(t, &t.Checks[ci], i)
				}
			}
		}
	}
	eachSeries(func(t *daemon.TargetSnapshot, c *daemon.CheckSnapshot, i int) {
		out.value(famSeries, labelsOf(label{"check", c.Name}, label{"series", c.Series[i].Name}, label{"target", t.Name}), c.Series[i].Value)
	})
	eachSeries(func(t *daemon.TargetSnapshot, c *daemon.CheckSnapshot, i int) {
		if c.Series[i].HasGrowth {
			out.value(famSeriesGrowth, labelsOf(label{"check", c.Name}, label{"series", c.Series[i].Name}, label{"target", t.Name}), c.Series[i].Growth)
		}
	})
	eachSeries(func(t *daemon.TargetSnapshot, c *daemon.CheckSnapshot, i int) {
		for _, l := range c.Series[i].Limits {
			out.value(famSeriesLimit, labelsOf(label{"check", c.Name}, label{"level", l.Level}, label{"series", c.Series[i].Name}, label{"target", t.Name}), l.Value)
		}
	})
	for ti := range s.Targets {
		t := &s.Targets[ti]
		for ci := range t.Checks {
			if v := t.Checks[ci].AxigenVersion; v != "" {
				out.value(famVersion, labelsOf(label{"check", t.Checks[ci].Name}, label{"target", t.Name}, label{"version", v}), 1)
			}
		}
	}
	capacities := func(f func(t *daemon.TargetSnapshot, c *daemon.CheckSnapshot)) {
		for ti := range s.Targets {
			t := &s.Targets[ti]
			for gi := range t.Gates {
				if t.Gates[gi].Capacity != nil {
					f(t, &t.Gates[gi])
				}
			}
		}
	}
	target := func(t *daemon.TargetSnapshot) labels { return labelsOf(label{"target", t.Name}) }
	capacities(func(t *daemon.TargetSnapshot, g *daemon.CheckSnapshot) {
		out.value(famStorageSize, target(t), float64(g.Capacity.SizeBytes))
	})
	capacities(func(t *daemon.TargetSnapshot, g *daemon.CheckSnapshot) {
		out.value(famStorageFree, target(t), float64(g.Capacity.FreeBytes))
	})
	capacities(func(t *daemon.TargetSnapshot, g *daemon.CheckSnapshot) {
		if g.Capacity.Inodes > 0 {
			out.value(famStorageInodes, target(t), float64(g.Capacity.Inodes))
		}
	})
	capacities(func(t *daemon.TargetSnapshot, g *daemon.CheckSnapshot) {
		if g.Capacity.Inodes > 0 {
			out.value(famStorageFreeInodes, target(t), float64(g.Capacity.FreeInodes))
		}
	})
	capacities(func(t *daemon.TargetSnapshot, g *daemon.CheckSnapshot) {
		for _, l := range []struct {
			level string
			v     float64
		}{{"degraded", g.Capacity.DegradedFreePercent}, {"failed", g.Capacity.FailedFreePercent}} {
			if l.v > 0 {
				out.value(famStorageLimit, labelsOf(label{"level", l.level}, label{"target", t.Name}), l.v)
			}
		}
	})
}
