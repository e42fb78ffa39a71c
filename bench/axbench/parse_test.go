package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "123 (axprobe) S 1 123 123 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 9 0 1000 0 0", 2900 * time.Millisecond, false},
		{"name with spaces and parens", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, false},
		{"no closing paren", "7 (abc R 1", 0, true},
		{"too few fields", "7 (abc) R 1 2 3", 0, true},
		{"negative ticks", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 -3 4", 0, true},
		{"not a number", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 4", 0, true},
	} {
		got, err := parseStatCPU([]byte(tc.stat))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseStatCPU = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseStatus(t *testing.T) {
	st := parseStatus([]byte("Name:\taxprobe\nThreads:\t9\nVmRSS:\t   2048 kB\nVmHWM:\t4096 kB\nSigQ:\t0/31\nOdd:\t1 MB\n"))
	want := map[string]int64{"Threads": 9, "VmRSS": 2 << 20, "VmHWM": 4 << 20}
	if len(st) != len(want) {
		t.Errorf("parseStatus = %v, want exactly %v", st, want)
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %d, want %d", k, st[k], v)
		}
	}
}

const scrapeText = `# HELP axprobe_probe_duration_seconds Duration.
# TYPE axprobe_probe_duration_seconds histogram
axprobe_probe_duration_seconds_bucket{target="a",check="imap",phase="total",le="0.01"} 5
axprobe_probe_duration_seconds_bucket{target="a",check="imap",phase="total",le="0.1"} 9
axprobe_probe_duration_seconds_bucket{target="a",check="imap",phase="total",le="+Inf"} 10
axprobe_probe_duration_seconds_count{target="a",check="imap",phase="total"} 10
axprobe_probe_duration_seconds_bucket{target="a",check="vip",phase="total",le="0.01"} 10
axprobe_probe_duration_seconds_bucket{target="a",check="vip",phase="total",le="0.1"} 10
axprobe_probe_duration_seconds_bucket{target="a",check="vip",phase="total",le="+Inf"} 10
axprobe_probe_duration_seconds_count{target="a",check="vip",phase="total"} 10
axprobe_probe_duration_seconds_count{target="a",check="imap",phase="banner"} 10
weird{msg="a \"quoted\" \\ value, with } and ,"} 1.5 1700000000000
go_goroutines 42
`

// TestParsePromText: the scrape is read by prometheus/common's parser and flattened into
// samples: a histogram's buckets (le), _sum and _count, escaped label values, untyped
// samples with a timestamp.
func TestParsePromText(t *testing.T) {
	s, err := parsePromText(scrapeText)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 14 {
		t.Fatalf("%d samples, want 14 (3 series of the histogram: 3+2, 3+2 and 0+2; 2 untyped)", len(s))
	}
	if got := checkProbes(s); got != 10 {
		t.Errorf("checkProbes = %v, want 10 (the vip gate and the banner phase left out)", got)
	}
	if got := sumSamples(s, "go_goroutines", nil); got != 42 {
		t.Errorf("go_goroutines = %v, want 42", got)
	}
	if got := sumSamples(s, "axprobe_probe_duration_seconds_bucket", map[string]string{"check": "imap", "le": "+Inf"}); got != 10 {
		t.Errorf("imap's +Inf bucket = %v, want 10", got)
	}
	i := slices.IndexFunc(s, func(p promSample) bool { return p.Name == "weird" })
	if i < 0 || s[i].Labels["msg"] != `a "quoted" \ value, with } and ,` || s[i].Value != 1.5 {
		t.Errorf("escaped label: %+v", s[max(i, 0)])
	}
	for _, bad := range []string{"novalue", `m{a="x} 1`, `m{a=x} 1`, "m one", "m 1 2 3", "{a=\"b\"} 1"} {
		if _, err := parsePromText(bad); err == nil {
			t.Errorf("parsePromText(%q) accepted it", bad)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	s, err := parsePromText(scrapeText)
	if err != nil {
		t.Fatal(err)
	}
	h, err := checkHistogram(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.total() != 10 {
		t.Fatalf("total %v, want 10 (the gate's 10 subtracted)", h.total())
	}
	// 5 observations ≤ 10 ms, 4 in (10 ms, 100 ms], 1 above.
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 0.01},                // rank 5: the top of the first bucket
		{0.7, 0.01 + 0.09*(2.0/4)}, // rank 7: half-way through the second
		{0.99, 0.1},                // in the +Inf bucket: the last finite bound
		{0.25, 0.01 * (2.5 / 5)},   // inside the first bucket, from 0
	} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (histogram{}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty histogram quantile = %v, want NaN", got)
	}
	if d := h.sub(h); d.total() != 0 {
		t.Errorf("h - h has %v observations", d.total())
	}
}

func TestKnee(t *testing.T) {
	ok := func(rate int, p99 float64) scaleResult {
		return scaleResult{asked: rate, ran: float64(rate), p99: p99}
	}
	for _, tc := range []struct {
		name string
		rs   []scaleResult
		want string
	}{
		{"none", []scaleResult{ok(100, 0.01), ok(1000, 0.09)}, "No knee up to 1000"},
		{"behind", []scaleResult{ok(100, 0.01), {asked: 500, ran: 400, p99: 0.01}}, "Knee: 500 probes/s** (ran 400"},
		{"failures", []scaleResult{ok(100, 0.01), {asked: 500, ran: 500, failed: 3, p99: 0.01}}, "Knee: 500 probes/s** (3 probes failed"},
		{"p99", []scaleResult{ok(100, 0.01), ok(500, 0.05), ok(1000, 0.121)}, "Knee: 1000 probes/s** (p99 121.0 ms"},
	} {
		if got := knee(tc.rs); !strings.Contains(got, tc.want) {
			t.Errorf("%s: knee = %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
}

func TestSpread(t *testing.T) {
	got := spread([]time.Duration{3 * time.Second, time.Second, 2 * time.Second})
	if want := "2.00 s (1.00 s–3.00 s)"; got != want {
		t.Errorf("spread = %q, want %q", got, want)
	}
	if got := spread([]time.Duration{1500 * time.Millisecond}); got != "1.50 s" {
		t.Errorf("spread of one = %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	if got, want := shellQuote(`/tmp/it's here`), `'/tmp/it'\''s here'`; got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func FuzzParsePromText(f *testing.F) {
	f.Add(scrapeText)
	f.Add(`m{a="\`)
	f.Add("m{} 1")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parsePromText(text)
		if err != nil {
			return
		}
		// Whatever parsed must merge and summarise without panicking.
		h, err := mergeHistogram(s, "m", nil)
		if err == nil {
			_ = h.quantile(0.99)
		}
	})
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("123 (axprobe) S 1 123 123 0 -1 4194560 100 0 0 0 250 40 0 0"))
	f.Add([]byte(") ) )"))
	f.Fuzz(func(t *testing.T, stat []byte) {
		if d, err := parseStatCPU(stat); err == nil && d < 0 {
			t.Errorf("negative CPU time %v from %q", d, stat)
		}
		_ = parseStatus(stat)
	})
}
