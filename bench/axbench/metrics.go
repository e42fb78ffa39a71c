package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// promSample is one sample line of the Prometheus text format: name{labels} value.
type promSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// maxPromLine bounds one line of a scrape: a longer line is an error, not a parse.
const maxPromLine = 64 << 10

// parsePromText parses the samples of a Prometheus text-format scrape. Comments and blank
// lines are skipped; a timestamp after the value is ignored. The first malformed line is
// an error naming its number.
func parsePromText(text string) ([]promSample, error) {
	var out []promSample
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		n++
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if len(line) > maxPromLine {
			return nil, fmt.Errorf("line %d: %d bytes, over the %d-byte limit", n, len(line), maxPromLine)
		}
		s, err := parsePromLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parsePromLine(line string) (promSample, error) {
	s := promSample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no metric name and value in %.60q", line)
	}
	s.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		rest, err := parseLabels(line[1:], s.Labels)
		if err != nil {
			return s, fmt.Errorf("%s: %w", s.Name, err)
		}
		line = rest
	}
	f := strings.Fields(line)
	if len(f) == 0 || len(f) > 2 {
		return s, fmt.Errorf("%s: want a value and an optional timestamp, got %.60q", s.Name, line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("%s: value %.40q is not a number", s.Name, f[0])
	}
	s.Value = v
	return s, nil
}

// parseLabels reads `name="value",...}` into into and returns what follows the '}'.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return "", fmt.Errorf("bad label at %.40q", s)
		}
		name := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			if c == '"' {
				s, closed = s[i+1:], true
				break
			}
			b.WriteByte(c)
		}
		if !closed {
			return "", fmt.Errorf("label %q: unterminated value", name)
		}
		into[name] = b.String()
	}
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
