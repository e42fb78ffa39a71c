package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Limits of one scrape of Axigen's /metrics. The whole body is read (up to
// MaxMetricsBody) but only the lines of the configured series are kept and parsed, so a
// huge exposition costs reading time, not memory.
const (
	MaxMetricsBody = 16 << 20 // bytes read at most; more is ReasonProtocol
	maxMetricsLine = 64 << 10 // one line at most; longer is ReasonProtocol
	maxMetricsKept = 1 << 20  // bytes of the configured series' lines kept for parsing
	maxGrowthKept  = 256      // samples kept per series for the growth slope
)

// MetricRule grades one series of Axigen's /metrics (protocol "metrics"). Its value is the
// sum of every sample named Series whose labels include Labels (Axigen's queue_size has
// one sample; users_count has one per domain). A nil threshold is not graded.
type MetricRule struct {
	Series string            // metric name, e.g. "queue_size"
	Labels map[string]string // samples must carry these label values; nil: every sample

	DegradedAbove, FailedAbove *float64
	DegradedBelow, FailedBelow *float64
	// Growth per minute: the least-squares slope of the value over the check's window
	// (Spec.GrowthWindow), graded once two scrapes in the window are known.
	GrowthDegradedAbove, GrowthFailedAbove *float64
}

// Key is how the rule's series is named in reasons, the snapshot and metric labels:
// queue_size, or users_count{domain="example.com"} with labels in name order.
func (r *MetricRule) Key() string {
	if len(r.Labels) == 0 {
		return r.Series
	}
	names := make([]string, 0, len(r.Labels))
	for n := range r.Labels {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(r.Series + "{")
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", n, r.Labels[n])
	}
	b.WriteByte('}')
	return b.String()
}

// metricsProber scrapes Axigen's WebAdmin /metrics with HTTP basic auth and grades the
// configured series. It keeps each series' recent values for the growth slope, so it is
// stateful across runs (safe for concurrent use; the daemon runs one at a time).
type metricsProber struct {
	spec  Spec
	url   string
	rules []MetricRule
	keys  []string            // rules[i].Key()
	want  map[string]struct{} // series names whose lines are kept
	now   func() time.Time

	mu      sync.Mutex
	history [][]growthSample // per rule, oldest first
}

type growthSample struct {
	at    time.Time
	value float64
}

func newMetrics(spec Spec) (Prober, error) {
	if err := checkNetSpec(&spec); err != nil {
		return nil, err
	}
	if spec.Username == "" {
		return nil, errors.New("auth: the metrics check needs a WebAdmin user with reporting rights (Axigen's /metrics requires basic auth)")
	}
	if strings.ContainsAny(spec.Username, ":\r\n") {
		return nil, errors.New("auth.username: must not contain ':' or a line break (HTTP basic auth)")
	}
	if len(spec.Metrics) == 0 {
		return nil, errors.New("series: at least one series to grade is required")
	}
	if spec.GrowthWindow < 0 {
		return nil, fmt.Errorf("growth_window: %s is negative", spec.GrowthWindow)
	}
	url, err := httpURL(&spec, "/metrics")
	if err != nil {
		return nil, err
	}
	p := &metricsProber{spec: spec, url: url, want: map[string]struct{}{}, now: time.Now}
	seen := map[string]int{}
	for i, r := range spec.Metrics {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("series[%d]: %w", i, err)
		}
		key := r.Key()
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("series[%d]: %s is already graded by series[%d]", i, key, j)
		}
		seen[key] = i
		p.rules = append(p.rules, r)
		p.keys = append(p.keys, key)
		p.want[r.Series] = struct{}{}
	}
	p.history = make([][]growthSample, len(p.rules))
	return p, nil
}

// check validates one rule: a legal metric name and label names, at least one threshold,
// finite thresholds, and a failed threshold beyond its degraded one.
func (r *MetricRule) check() error {
	if !model.LegacyValidation.IsValidMetricName(r.Series) {
		return fmt.Errorf("name: %q is not a metric name", r.Series)
	}
	for n, v := range r.Labels {
		if !model.LegacyValidation.IsValidLabelName(n) {
			return fmt.Errorf("labels: %q is not a label name", n)
		}
		if strings.ContainsAny(v, "\n") {
			return fmt.Errorf("labels.%s: holds a line break", n)
		}
	}
	all := []struct {
		name string
		v    *float64
	}{
		{"degraded_above", r.DegradedAbove}, {"failed_above", r.FailedAbove},
		{"degraded_below", r.DegradedBelow}, {"failed_below", r.FailedBelow},
		{"growth_degraded_above", r.GrowthDegradedAbove}, {"growth_failed_above", r.GrowthFailedAbove},
	}
	set := 0
	for _, t := range all {
		if t.v == nil {
			continue
		}
		set++
		if math.IsNaN(*t.v) || math.IsInf(*t.v, 0) {
			return fmt.Errorf("%s: %v is not a finite number", t.name, *t.v)
		}
	}
	if set == 0 {
		return fmt.Errorf("%s: no threshold (set degraded_above, failed_above, degraded_below, failed_below, growth_degraded_above or growth_failed_above)", r.Series)
	}
	if r.DegradedAbove != nil && r.FailedAbove != nil && *r.FailedAbove < *r.DegradedAbove {
		return fmt.Errorf("failed_above: %v is below degraded_above (%v)", *r.FailedAbove, *r.DegradedAbove)
	}
	if r.DegradedBelow != nil && r.FailedBelow != nil && *r.FailedBelow > *r.DegradedBelow {
		return fmt.Errorf("failed_below: %v is above degraded_below (%v)", *r.FailedBelow, *r.DegradedBelow)
	}
	if r.GrowthDegradedAbove != nil && r.GrowthFailedAbove != nil && *r.GrowthFailedAbove < *r.GrowthDegradedAbove {
		return fmt.Errorf("growth_failed_above: %v is below growth_degraded_above (%v)", *r.GrowthFailedAbove, *r.GrowthDegradedAbove)
	}
	return nil
}

// Probe implements Prober. Phases: connect, [tls,] banner (request sent until the first
// byte of the answer), body (read and parse), grade.
func (p *metricsProber) Probe(ctx context.Context, t *Trace) error {
	resp, err := fetch(ctx, t, &p.spec, p.url, false, func(req *http.Request) {
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		req.SetBasicAuth(p.spec.Username, p.spec.Password.Reveal())
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Fail(t, ReasonAuth, code, fmt.Errorf("WebAdmin refused user %q for %s (status %d): wrong password, or the user lacks reporting rights", truncate(p.spec.Username), p.url, code))
	case code == http.StatusNotFound:
		return Fail(t, ReasonReportingOff, code, fmt.Errorf("%s answered 404: Axigen's Reporting service is off (or Axigen is older than 10.3.2)", p.url))
	case code >= 300 && code < 400:
		return Fail(t, ReasonHTTPStatus, code, fmt.Errorf("%s answered %d (redirect to %q): point the check at the listener itself (tls: implicit for 9443)", p.url, code, truncate(resp.Header.Get("Location"))))
	case code != http.StatusOK:
		return Fail(t, ReasonHTTPStatus, code, fmt.Errorf("%s answered %d, want 200", p.url, code))
	}
	return p.readAndGrade(ctx, t, resp.Body, resp.StatusCode)
}

// readAndGrade reads an exposition body, parses the configured series with expfmt and
// grades them: everything of a scrape after the status line, the path hostile bytes take
// (FuzzMetricsBody).
func (p *metricsProber) readAndGrade(ctx context.Context, t *Trace, body io.Reader, code int) error {
	kept, stats, err := filterExposition(body, p.want)
	if err != nil {
		if errors.Is(err, errExposition) {
			return Fail(t, ReasonProtocol, code, err)
		}
		return Wrap(ctx, t, err)
	}
	if stats.samples == 0 {
		return Fail(t, ReasonReportingOff, code, fmt.Errorf("%s answered 200 with no samples (%d bytes): Axigen's Reporting service is off or has not sampled yet", p.url, stats.bytes))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(kept))
	if err != nil {
		return Fail(t, ReasonProtocol, code, fmt.Errorf("%s: not the Prometheus text format: %q", p.url, truncate(err.Error())))
	}

	t.Begin("grade")
	return p.grade(t, families)
}

// grade finds every rule's value, records it in the trace and returns the worst finding:
// a missing series or a failed threshold as an error, a degraded one through t.Degrade.
func (p *metricsProber) grade(t *Trace, families map[string]*dto.MetricFamily) error {
	now := p.now()
	var missing []string
	type finding struct{ reason, detail string }
	var failed, degraded []finding
	for i := range p.rules {
		r := &p.rules[i]
		v, ok, err := ruleValue(r, families[r.Series])
		if err != nil {
			return Fail(t, ReasonProtocol, 0, fmt.Errorf("%s: %w", p.keys[i], err))
		}
		if !ok {
			missing = append(missing, p.keys[i])
			continue
		}
		sv := SeriesValue{Name: p.keys[i], Value: v, Limits: r.limits()}
		sv.Growth, sv.HasGrowth = p.observe(i, now, v)
		t.SetSeries(sv)
		for _, f := range r.findings(p.keys[i], sv) {
			if f.failed {
				failed = append(failed, finding{f.reason, f.detail})
			} else {
				degraded = append(degraded, finding{f.reason, f.detail})
			}
		}
	}
	if len(missing) > 0 {
		return Fail(t, ReasonSeriesMissing, 0, fmt.Errorf("%s not in %s (wrong name, or this Axigen version does not export it)", strings.Join(missing, ", "), p.url))
	}
	if len(failed) > 0 {
		details := make([]string, len(failed))
		for i, f := range failed {
			details[i] = f.detail
		}
		return Fail(t, ReasonThreshold, 0, errors.New(strings.Join(details, "; ")))
	}
	if len(degraded) > 0 {
		details := make([]string, len(degraded))
		for i, f := range degraded {
			details[i] = f.detail
		}
		t.Degrade(degraded[0].reason, strings.Join(details, "; "))
	}
	return nil
}

// ruleValue sums the samples of family that carry r's labels. ok is false when there is no
// such sample. A histogram or summary is an error: only a single number can be graded.
func ruleValue(r *MetricRule, family *dto.MetricFamily) (v float64, ok bool, err error) {
	if family == nil {
		return 0, false, nil
	}
	for _, m := range family.GetMetric() {
		if !hasLabels(m, r.Labels) {
			continue
		}
		var x float64
		switch {
		case m.Gauge != nil:
			x = m.GetGauge().GetValue()
		case m.Counter != nil:
			x = m.GetCounter().GetValue()
		case m.Untyped != nil:
			x = m.GetUntyped().GetValue()
		default:
			return 0, false, fmt.Errorf("is a %s; only a gauge, counter or untyped series can be graded", strings.ToLower(family.GetType().String()))
		}
		if math.IsNaN(x) {
			continue // "no value" in the exposition format
		}
		v += x
		ok = true
	}
	return v, ok, nil
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for name, value := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == name && lp.GetValue() == value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// limits lists the rule's thresholds, for the snapshot and the alert rules.
func (r *MetricRule) limits() []Limit {
	var out []Limit
	for _, l := range []struct {
		level string
		v     *float64
	}{
		{"degraded_above", r.DegradedAbove}, {"failed_above", r.FailedAbove},
		{"degraded_below", r.DegradedBelow}, {"failed_below", r.FailedBelow},
		{"growth_degraded_above", r.GrowthDegradedAbove}, {"growth_failed_above", r.GrowthFailedAbove},
	} {
		if l.v != nil {
			out = append(out, Limit{Level: l.level, Value: *l.v})
		}
	}
	return out
}

// ruleFinding is one threshold a value crossed.
type ruleFinding struct {
	failed         bool
	reason, detail string
}

// findings compares v with r's thresholds, failed ones first.
func (r *MetricRule) findings(key string, v SeriesValue) []ruleFinding {
	var out []ruleFinding
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	add := func(failed bool, reason, format string, args ...any) {
		out = append(out, ruleFinding{failed: failed, reason: reason, detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case r.FailedAbove != nil && v.Value > *r.FailedAbove:
		add(true, "threshold", "%s = %s, above failed_above %s", key, num(v.Value), num(*r.FailedAbove))
	case r.DegradedAbove != nil && v.Value > *r.DegradedAbove:
		add(false, "threshold", "%s = %s, above degraded_above %s", key, num(v.Value), num(*r.DegradedAbove))
	}
	switch {
	case r.FailedBelow != nil && v.Value < *r.FailedBelow:
		add(true, "threshold", "%s = %s, below failed_below %s", key, num(v.Value), num(*r.FailedBelow))
	case r.DegradedBelow != nil && v.Value < *r.DegradedBelow:
		add(false, "threshold", "%s = %s, below degraded_below %s", key, num(v.Value), num(*r.DegradedBelow))
	}
	if v.HasGrowth {
		switch {
		case r.GrowthFailedAbove != nil && v.Growth > *r.GrowthFailedAbove:
			add(true, "growth", "%s grows %s/min, above growth_failed_above %s", key, num(v.Growth), num(*r.GrowthFailedAbove))
		case r.GrowthDegradedAbove != nil && v.Growth > *r.GrowthDegradedAbove:
			add(false, "growth", "%s grows %s/min, above growth_degraded_above %s", key, num(v.Growth), num(*r.GrowthDegradedAbove))
		}
	}
	slices.SortStableFunc(out, func(a, b ruleFinding) int {
		switch {
		case a.failed == b.failed:
			return 0
		case a.failed:
			return -1
		}
		return 1
	})
	return out
}

// observe adds (at, v) to rule i's history, drops samples older than the growth window,
// and returns the least-squares slope per minute over what remains. ok is false with fewer
// than two samples or when they span less than a second.
func (p *metricsProber) observe(i int, at time.Time, v float64) (perMinute float64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := append(p.history[i], growthSample{at: at, value: v})
	window := p.spec.GrowthWindow
	if window <= 0 {
		window = 5 * time.Minute
	}
	first := 0
	for first < len(h)-1 && at.Sub(h[first].at) > window {
		first++
	}
	first = max(first, len(h)-maxGrowthKept)
	h = append(h[:0:0], h[first:]...)
	p.history[i] = h
	return slope(h)
}

// slope is the least-squares slope of the samples, per minute.
func slope(h []growthSample) (float64, bool) {
	if len(h) < 2 || h[len(h)-1].at.Sub(h[0].at) < time.Second {
		return 0, false
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(h))
	for _, s := range h {
		x := s.at.Sub(h[0].at).Minutes()
		sx += x
		sy += s.value
		sxx += x * x
		sxy += x * s.value
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / den, true
}

// errExposition marks a body that is not the Prometheus text format at all, or too large.
var errExposition = errors.New("metrics exposition")

// expositionStats is what filterExposition saw of the whole body.
type expositionStats struct {
	bytes   int64
	samples int // sample lines of any series
}

// filterExposition reads the whole body (at most MaxMetricsBody bytes, lines of at most
// maxMetricsLine) and returns only the lines of the wanted series and their # HELP and
// # TYPE comments, for expfmt to parse. A line that cannot start a sample or a comment, a
// NUL byte, an over-long line or body, or more than maxMetricsKept bytes of wanted lines is
// an error wrapping errExposition; a read error (timeout, reset) is returned as is.
func filterExposition(body io.Reader, want map[string]struct{}) ([]byte, expositionStats, error) {
	var st expositionStats
	counted := &countingReader{r: io.LimitReader(body, MaxMetricsBody+1)}
	sc := bufio.NewScanner(counted)
	sc.Buffer(make([]byte, 0, 4096), maxMetricsLine)
	var kept bytes.Buffer
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, st, fmt.Errorf("%w: line %d holds a NUL byte: not the Prometheus text format", errExposition, lineNo)
		}
		trimmed := bytes.TrimLeft(line, " \t")
		if len(bytes.TrimRight(trimmed, " \t\r")) == 0 {
			continue
		}
		var name []byte
		if trimmed[0] == '#' {
			fields := bytes.Fields(trimmed[1:])
			if len(fields) < 2 || (string(fields[0]) != "HELP" && string(fields[0]) != "TYPE") {
				continue // a plain comment
			}
			name = fields[1]
		} else {
			if !metricNameStart(trimmed[0]) {
				return nil, st, fmt.Errorf("%w: line %d starts with %q: not the Prometheus text format", errExposition, lineNo, trimmed[:1])
			}
			st.samples++
			end := bytes.IndexAny(trimmed, " \t{")
			if end < 0 {
				end = len(trimmed)
			}
			name = trimmed[:end]
		}
		if _, ok := want[string(name)]; !ok {
			continue
		}
		if kept.Len()+len(line)+1 > maxMetricsKept {
			return nil, st, fmt.Errorf("%w: the graded series take more than %d bytes", errExposition, maxMetricsKept)
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	st.bytes = counted.n
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, st, fmt.Errorf("%w: line %d is longer than %d bytes", errExposition, lineNo+1, maxMetricsLine)
		}
		return nil, st, err
	}
	if counted.n > MaxMetricsBody {
		return nil, st, fmt.Errorf("%w: body larger than %d bytes", errExposition, MaxMetricsBody)
	}
	return kept.Bytes(), st, nil
}

// metricNameStart reports whether c can start a sample line: a legacy metric name's first
// character, or '{' for a quoted (UTF-8) name.
func metricNameStart(c byte) bool {
	return c == '_' || c == ':' || c == '{' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
