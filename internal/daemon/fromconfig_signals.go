package daemon

import (
	"time"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/probe"
)

// metricsCheck fills what a metrics check (Axigen's /metrics) takes from its config: the
// series to grade, the growth window (the check's window: window × interval), and a
// re-probe after a failure at a fifth of its interval, not every fast_interval (Axigen
// samples its metrics about once a minute).
func metricsCheck(check *CheckSpec, c config.Check, t config.Target) {
	check.Probe.GrowthWindow = c.Interval * time.Duration(max(1, t.Window))
	check.FastInterval = max(t.FastInterval, c.Interval/5)
	for _, s := range c.Series {
		check.Probe.Metrics = append(check.Probe.Metrics, probe.MetricRule{
			Series: s.Name, Labels: s.Labels,
			DegradedAbove: s.DegradedAbove, FailedAbove: s.FailedAbove,
			DegradedBelow: s.DegradedBelow, FailedBelow: s.FailedBelow,
			GrowthDegradedAbove: s.GrowthDegradedAbove, GrowthFailedAbove: s.GrowthFailedAbove,
		})
	}
}
