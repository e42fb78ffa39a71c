package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promSample is one sample of a Prometheus scrape: name{labels} value. A histogram gives
// one name_bucket sample per bucket (label le), a name_sum and a name_count; a summary
// its quantiles, name_sum and name_count.
type promSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parsePromText parses a Prometheus text-format scrape with prometheus/common's parser and
// flattens it into samples, families in name order.
func parsePromText(text string) ([]promSample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	var out []promSample
	for _, name := range slices.Sorted(maps.Keys(families)) {
		for _, m := range families[name].GetMetric() {
			out = append(out, samplesOf(name, m)...)
		}
	}
	return out, nil
}

// samplesOf flattens one metric of the family name into its samples.
func samplesOf(name string, m *dto.Metric) []promSample {
	sample := func(suffix string, v float64, extra ...string) promSample {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			labels[extra[i]] = extra[i+1]
		}
		return promSample{Name: name + suffix, Labels: labels, Value: v}
	}
	bound := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	switch {
	case m.Counter != nil:
		return []promSample{sample("", m.Counter.GetValue())}
	case m.Gauge != nil:
		return []promSample{sample("", m.Gauge.GetValue())}
	case m.Histogram != nil:
		h := m.Histogram
		var out []promSample
		for _, b := range h.GetBucket() {
			out = append(out, sample("_bucket", float64(b.GetCumulativeCount()), "le", bound(b.GetUpperBound())))
		}
		return append(out, sample("_sum", h.GetSampleSum()), sample("_count", float64(h.GetSampleCount())))
	case m.Summary != nil:
		s := m.Summary
		var out []promSample
		for _, q := range s.GetQuantile() {
			out = append(out, sample("", q.GetValue(), "quantile", bound(q.GetQuantile())))
		}
		return append(out, sample("_sum", s.GetSampleSum()), sample("_count", float64(s.GetSampleCount())))
	}
	return []promSample{sample("", m.GetUntyped().GetValue())}
}

// sumSamples adds the values of every sample named name whose labels include match.
func sumSamples(samples []promSample, name string, match map[string]string) float64 {
	var sum float64
	for _, s := range samples {
		if s.Name == name && hasLabels(s, match) {
			sum += s.Value
		}
	}
	return sum
}

func hasLabels(s promSample, match map[string]string) bool {
	for k, v := range match {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// histogram is a cumulative Prometheus histogram: upper bounds (the last is +Inf) and the
// count of observations at or below each.
type histogram struct {
	Bounds []float64
	Counts []float64
}

// mergeHistogram adds up the buckets of every series of the histogram name (name_bucket
// samples) whose labels include match.
func mergeHistogram(samples []promSample, name string, match map[string]string) (histogram, error) {
	byBound := map[float64]float64{}
	for _, s := range samples {
		if s.Name != name+"_bucket" || !hasLabels(s, match) {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			return histogram{}, fmt.Errorf("%s_bucket: le %q is not a number", name, s.Labels["le"])
		}
		byBound[le] += s.Value
	}
	var h histogram
	for b := range byBound {
		h.Bounds = append(h.Bounds, b)
	}
	slices.Sort(h.Bounds)
	for _, b := range h.Bounds {
		h.Counts = append(h.Counts, byBound[b])
	}
	return h, nil
}

// sub returns h minus an earlier scrape of the same histogram: the observations between
// the two. Buckets missing from earlier count as zero.
func (h histogram) sub(earlier histogram) histogram {
	prev := map[float64]float64{}
	for i, b := range earlier.Bounds {
		prev[b] = earlier.Counts[i]
	}
	out := histogram{Bounds: slices.Clone(h.Bounds)}
	for i, b := range h.Bounds {
		out.Counts = append(out.Counts, h.Counts[i]-prev[b])
	}
	return out
}

// total is the number of observations.
func (h histogram) total() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// quantile estimates the q-quantile (0 < q < 1) by linear interpolation inside the bucket
// that holds it, as PromQL's histogram_quantile does. It returns NaN when h is empty, and
// the last finite bound when the quantile falls in the +Inf bucket.
func (h histogram) quantile(q float64) float64 {
	n := h.total()
	if n <= 0 || q <= 0 || q >= 1 {
		return math.NaN()
	}
	rank := q * n
	lower, below := 0.0, 0.0
	for i, b := range h.Bounds {
		c := h.Counts[i]
		if c >= rank {
			if math.IsInf(b, 1) {
				return lower
			}
			if c == below {
				return b
			}
			return lower + (b-lower)*(rank-below)/(c-below)
		}
		lower, below = b, c
	}
	return lower
}
