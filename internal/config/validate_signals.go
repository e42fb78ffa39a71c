package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Names in Axigen's /metrics (the Prometheus text format's classic names).
var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// maxSeries bounds the series one metrics check grades: each becomes metric series of its own.
const maxSeries = 32

// validateMetrics checks the keys of a metrics check (Axigen's /metrics): a login, at least
// one series, and for each a metric name, label names, at least one threshold, and failed
// thresholds beyond the degraded ones.
func (c *Check) validateMetrics(ps *Problems, path string) {
	if c.Auth == nil {
		ps.add(path+".auth", "required: Axigen's /metrics needs HTTP basic auth (a WebAdmin user with reporting rights)")
	} else if strings.Contains(c.Auth.Username, ":") {
		ps.add(path+".auth.username", fmt.Sprintf("%q: HTTP basic auth does not allow ':' in a user name", c.Auth.Username))
	}
	switch {
	case len(c.Series) == 0:
		ps.add(path+".series", "at least one series to grade is required, e.g. [{name: queue_size, degraded_above: 100, failed_above: 1000}]")
	case len(c.Series) > maxSeries:
		ps.add(path+".series", fmt.Sprintf("%d series are more than %d", len(c.Series), maxSeries))
	}
	seen := map[string]int{}
	for i := range c.Series {
		s := &c.Series[i]
		sp := fmt.Sprintf("%s.series[%d]", path, i)
		if !metricNameRE.MatchString(s.Name) {
			ps.add(sp+".name", fmt.Sprintf("%q is not a metric name", s.Name))
		}
		names := make([]string, 0, len(s.Labels))
		for n, v := range s.Labels {
			names = append(names, n)
			if !labelNameRE.MatchString(n) {
				ps.add(sp+".labels", fmt.Sprintf("%q is not a label name", n))
			}
			if strings.ContainsAny(v, "\n\x00") {
				ps.add(sp+".labels."+n, "holds a line break or NUL byte")
			}
		}
		sort.Strings(names)
		key := s.Name
		for _, n := range names {
			key += "," + n + "=" + s.Labels[n]
		}
		s.validateThresholds(ps, sp)
		if j, dup := seen[key]; dup {
			ps.add(sp, fmt.Sprintf("grades the same series as %s.series[%d]", path, j))
		}
		seen[key] = i
	}
}

func (s *Series) validateThresholds(ps *Problems, path string) {
	if s.DegradedAbove == nil && s.FailedAbove == nil && s.DegradedBelow == nil && s.FailedBelow == nil &&
		s.GrowthDegradedAbove == nil && s.GrowthFailedAbove == nil {
		ps.add(path, "no threshold: set degraded_above, failed_above, degraded_below, failed_below, growth_degraded_above or growth_failed_above")
	}
	order := func(failedKey string, failed *float64, degradedKey string, degraded *float64, above bool) {
		if failed == nil || degraded == nil {
			return
		}
		if above && *failed < *degraded {
			ps.add(path+"."+failedKey, fmt.Sprintf("%v is below %s (%v): failed must be beyond degraded", *failed, degradedKey, *degraded))
		}
		if !above && *failed > *degraded {
			ps.add(path+"."+failedKey, fmt.Sprintf("%v is above %s (%v): failed must be beyond degraded", *failed, degradedKey, *degraded))
		}
	}
	order("failed_above", s.FailedAbove, "degraded_above", s.DegradedAbove, true)
	order("failed_below", s.FailedBelow, "degraded_below", s.DegradedBelow, false)
	order("growth_failed_above", s.GrowthFailedAbove, "growth_degraded_above", s.GrowthDegradedAbove, true)
	if s.DegradedAbove != nil && s.DegradedBelow != nil && *s.DegradedBelow > *s.DegradedAbove {
		ps.add(path+".degraded_below", fmt.Sprintf("%v is above degraded_above (%v): no value would be ok", *s.DegradedBelow, *s.DegradedAbove))
	}
}

// validateCapacity checks the storage gate's capacity thresholds: percentages, and the
// failed one below the degraded one (either may be 0, disabled).
func (s *StorageGate) validateCapacity(ps *Problems, path string) {
	ok := true
	for _, p := range []struct {
		key string
		v   float64
	}{{"degraded_free_percent", s.DegradedFreePercent}, {"failed_free_percent", s.FailedFreePercent}} {
		if !(p.v >= 0 && p.v < 100) {
			ps.add(path+"."+p.key, fmt.Sprintf("%v is not a percentage from 0 (disabled) to below 100", p.v))
			ok = false
		}
	}
	if ok && s.FailedFreePercent > 0 && s.DegradedFreePercent > 0 && s.FailedFreePercent >= s.DegradedFreePercent {
		ps.add(path+".failed_free_percent", fmt.Sprintf("%v must be below degraded_free_percent (%v)", s.FailedFreePercent, s.DegradedFreePercent))
	}
}
