package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/secret"
)

func f64(v float64) *float64 { return &v }

// startWebAdmin starts a fake WebAdmin serving rep's metrics to the test user.
func startWebAdmin(t *testing.T, rep *mailtest.Reporting, mode mailtest.TLSMode, certs *mailtest.Certs) *mailtest.Server {
	t.Helper()
	srv, err := mailtest.StartHTTP(mailtest.Options{TLS: mode, Cert: certs, Reporting: rep,
		Users: map[string]string{testUser: testPassword}}, mailtest.KindWebAdmin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// queueSpec grades queue_size: degraded above 100, failed above 500.
func queueSpec(addr string) Spec {
	return Spec{Protocol: "metrics", Address: addr, Username: testUser, Password: secret.New(testPassword),
		Metrics: []MetricRule{{Series: "queue_size", DegradedAbove: f64(100), FailedAbove: f64(500)}}}
}

func TestMetricsQueueThresholds(t *testing.T) {
	rep := mailtest.NewReporting("")
	srv := startWebAdmin(t, rep, mailtest.TLSNone, nil)
	p, err := New(queueSpec(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		queue        float64
		degraded     string
		failed       Reason
		detailSubstr string
	}{
		{queue: 0},
		{queue: 100}, // at the threshold is not above it
		{queue: 101, degraded: "threshold", detailSubstr: "queue_size = 101, above degraded_above 100"},
		{queue: 500, degraded: "threshold"},
		{queue: 501, failed: ReasonThreshold, detailSubstr: "queue_size = 501, above failed_above 500"},
		{queue: 3},
	} {
		rep.SetQueue(tc.queue)
		tr, err := Run(context.Background(), p, 10*time.Second)
		reason, detail := tr.Degraded()
		if tc.failed != "" {
			pe := wantFail(t, err, tc.failed, "grade")
			if !strings.Contains(pe.Error(), tc.detailSubstr) {
				t.Errorf("queue %v: error %q does not say %q", tc.queue, pe.Error(), tc.detailSubstr)
			}
		} else {
			if got := strings.Join(wantOK(t, tr, err), " "); got != "connect banner body grade" {
				t.Errorf("phases %q", got)
			}
			if reason != tc.degraded || !strings.Contains(detail, tc.detailSubstr) {
				t.Errorf("queue %v: degraded %q %q, want %q with %q", tc.queue, reason, detail, tc.degraded, tc.detailSubstr)
			}
		}
		series := tr.Series()
		if len(series) != 1 || series[0].Name != "queue_size" || series[0].Value != tc.queue {
			t.Errorf("queue %v: series %+v", tc.queue, series)
		}
	}
}

func TestMetricsGrowthOverWindow(t *testing.T) {
	rep := mailtest.NewReporting("")
	srv := startWebAdmin(t, rep, mailtest.TLSNone, nil)
	spec := queueSpec(srv.Addr())
	spec.Metrics[0] = MetricRule{Series: "queue_size", GrowthDegradedAbove: f64(5), GrowthFailedAbove: f64(50)}
	spec.GrowthWindow = 3 * time.Minute
	pr, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	p := pr.(*metricsProber)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return clock }
	step := func(queue float64) (*Trace, error) {
		t.Helper()
		rep.SetQueue(queue)
		tr, err := Run(context.Background(), p, 10*time.Second)
		clock = clock.Add(time.Minute)
		return tr, err
	}
	// One scrape: no slope yet, however large the queue.
	tr, err := step(1000)
	wantOK(t, tr, err)
	if s := tr.Series()[0]; s.HasGrowth {
		t.Fatalf("growth after one scrape: %+v", s)
	}
	// +3/min: under 5.
	tr, err = step(1003)
	wantOK(t, tr, err)
	if s := tr.Series()[0]; !s.HasGrowth || s.Growth != 3 {
		t.Fatalf("series %+v, want growth 3/min", s)
	}
	if r, _ := tr.Degraded(); r != "" {
		t.Fatalf("degraded %q at 3/min", r)
	}
	// 1000, 1003, 1030: least squares 15/min → degraded.
	tr, err = step(1030)
	wantOK(t, tr, err)
	if r, d := tr.Degraded(); r != "growth" || !strings.Contains(d, "queue_size grows 15/min, above growth_degraded_above 5") {
		t.Fatalf("degraded %q %q, want growth 15/min", r, d)
	}
	// Stuck delivery: +200/min over the window → failed.
	_, err = step(1230)
	_, err = step(1430)
	pe := wantFail(t, err, ReasonThreshold, "grade")
	if !strings.Contains(pe.Error(), "growth_failed_above 50") {
		t.Fatalf("error %q", pe.Error())
	}
	// The window forgets: a flat queue for the whole window grades ok again.
	for range 4 {
		tr, err = step(1430)
	}
	wantOK(t, tr, err)
	if s := tr.Series()[0]; !s.HasGrowth || s.Growth != 0 {
		t.Fatalf("series %+v after a flat window, want growth 0", s)
	}
}

func TestMetricsReasons(t *testing.T) {
	rep := mailtest.NewReporting("")
	srv := startWebAdmin(t, rep, mailtest.TLSNone, nil)

	spec := queueSpec(srv.Addr())
	spec.Password = secret.New("wrong-" + testPassword)
	tr, err := runProbe(t, spec, 10*time.Second)
	pe := wantFail(t, err, ReasonAuth, "body")
	if pe.Code != http.StatusUnauthorized || strings.Contains(pe.Error(), testPassword) {
		t.Errorf("wrong password: %v (code %d)", pe, pe.Code)
	}
	_ = tr

	srv.SetFault(mailtest.FaultRejectAuth)
	_, err = runProbe(t, queueSpec(srv.Addr()), 10*time.Second)
	wantFail(t, err, ReasonAuth, "body")
	srv.SetFault(mailtest.FaultNone)

	rep.SetEnabled(false)
	_, err = runProbe(t, queueSpec(srv.Addr()), 10*time.Second)
	pe = wantFail(t, err, ReasonReportingOff, "body")
	if !strings.Contains(pe.Error(), "Reporting service is off") {
		t.Errorf("reporting off: %v", pe)
	}
	rep.SetEnabled(true)

	spec = queueSpec(srv.Addr())
	spec.Metrics = append(spec.Metrics, MetricRule{Series: "mailbox_quota_used", FailedAbove: f64(1)},
		MetricRule{Series: "users_count", Labels: map[string]string{"domain": "nowhere.test"}, DegradedBelow: f64(1)})
	_, err = runProbe(t, spec, 10*time.Second)
	pe = wantFail(t, err, ReasonSeriesMissing, "grade")
	if !strings.Contains(pe.Error(), `mailbox_quota_used, users_count{domain="nowhere.test"} not in`) {
		t.Errorf("missing series: %v", pe)
	}

	// users_count of the fake's own domain exists: label selection works.
	spec = queueSpec(srv.Addr())
	spec.Metrics = []MetricRule{{Series: "users_count", Labels: map[string]string{"domain": "example.test"}, FailedBelow: f64(1)}}
	tr, err = runProbe(t, spec, 10*time.Second)
	wantOK(t, tr, err)
	if s := tr.Series(); len(s) != 1 || s[0].Value != 1 || s[0].Name != `users_count{domain="example.test"}` {
		t.Errorf("users_count: %+v", s)
	}

	// WebAdmin 503 (reject_banner) is an HTTP status failure.
	srv.SetFault(mailtest.FaultRejectBanner)
	_, err = runProbe(t, queueSpec(srv.Addr()), 10*time.Second)
	wantFail(t, err, ReasonHTTPStatus, "body")
	srv.SetFault(mailtest.FaultNone)
}

func TestMetricsImplicitTLS(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	srv := startWebAdmin(t, mailtest.NewReporting(""), mailtest.TLSImplicit, certs)
	spec := queueSpec(srv.Addr())
	spec.TLS, spec.CAFile = TLSImplicit, certs.CAFile
	tr, err := runProbe(t, spec, 10*time.Second)
	if got := strings.Join(wantOK(t, tr, err), " "); got != "connect tls banner body grade" {
		t.Errorf("phases %q", got)
	}
	if tr.TLS() == nil || !tr.TLS().Verified {
		t.Errorf("tls info %+v", tr.TLS())
	}
	spec.CAFile = ""
	_, err = runProbe(t, spec, 10*time.Second)
	wantFail(t, err, ReasonCert, "tls")
}

// hostileServer serves body(w) at every path, to the test's basic auth or not.
func hostileServer(t *testing.T, body func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(body))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestMetricsHostileBodies(t *testing.T) {
	const timeout = 5 * time.Second
	repeat := func(line string, size int) []byte { return bytes.Repeat([]byte(line), size/len(line)+1) }
	// Built once, before any clock runs.
	huge := repeat("other_series 1\n", MaxMetricsBody+1)
	hugeLine := repeat("x", 1<<20)
	hugeGraded := repeat("queue_size{id=\"0123456789\"} 1\n", 2<<20)
	chunk := repeat("other_series 1\n", 64<<10)
	tests := []struct {
		name   string
		body   func(w http.ResponseWriter, r *http.Request)
		reason Reason
		phase  string
		want   string
	}{
		{"empty", func(w http.ResponseWriter, _ *http.Request) {}, ReasonReportingOff, "body", "no samples"},
		{"comments only", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("# HELP x y\n# nothing\n")) },
			ReasonReportingOff, "body", "no samples"},
		{"html", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html><body>login</body></html>\n")) },
			ReasonProtocol, "body", `line 1 starts with "<"`},
		{"binary", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("queue_size 1\n\x00\x01\x02\xff")) },
			ReasonProtocol, "body", "NUL byte"},
		{"bad value", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("queue_size twelve\n")) },
			ReasonProtocol, "body", "not the Prometheus text format"},
		{"histogram", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("# TYPE queue_size summary\nqueue_size{quantile=\"0.5\"} 1\nqueue_size_sum 1\nqueue_size_count 1\n"))
		}, ReasonProtocol, "grade", "only a gauge, counter or untyped series"},
		// Reading 16 MiB may take longer than the timeout on a loaded machine under -race:
		// either ending is right (TestFilterExpositionCaps checks the cap without a clock).
		{"huge", func(w http.ResponseWriter, _ *http.Request) { w.Write(huge) },
			ReasonProtocol + "|" + ReasonTimeout, "body", ""},
		{"huge line", func(w http.ResponseWriter, _ *http.Request) { w.Write(hugeLine) },
			ReasonProtocol, "body", "longer than"},
		{"huge graded series", func(w http.ResponseWriter, _ *http.Request) {
			w.Write(hugeGraded)
		}, ReasonProtocol, "body", "graded series take more than"},
		{"endless fast", func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, ReasonProtocol + "|" + ReasonTimeout, "body", ""},
		{"endless slow", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("# TYPE queue_size gauge\n"))
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := w.Write([]byte("a 1\n")); err != nil {
					return
				}
			}
		}, ReasonTimeout, "body", ""},
		{"never answers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			ReasonTimeout, "banner", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := hostileServer(t, tc.body)
			tr, err := runProbe(t, queueSpec(addr), timeout)
			reason, phase := tc.reason, tc.phase
			if either := strings.Split(string(reason), "|"); len(either) == 2 && ReasonOf(err) == Reason(either[1]) {
				// Out of time: in whichever phase the loaded machine had reached.
				reason, phase = Reason(either[1]), ""
			} else if len(either) == 2 {
				reason = Reason(either[0])
			}
			if phase == "" {
				var pe *Error
				if errors.As(err, &pe) {
					phase = pe.Phase
				}
			}
			pe := wantFail(t, err, reason, phase)
			if !strings.Contains(pe.Error(), tc.want) {
				t.Errorf("error %q does not say %q", pe.Error(), tc.want)
			}
			// Run's deadline is the probe's: it ends then, whatever the server does. A
			// generous margin for loaded CI machines; the bound that matters is "not endless".
			if el := tr.Elapsed(); el > timeout+10*time.Second {
				t.Errorf("probe took %s with a %s timeout", el, timeout)
			}
		})
	}
}

func TestMetricsRedirectAndSpec(t *testing.T) {
	addr := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+"/metrics", http.StatusMovedPermanently)
	})
	_, err := runProbe(t, queueSpec(addr), 5*time.Second)
	pe := wantFail(t, err, ReasonHTTPStatus, "body")
	if !strings.Contains(pe.Error(), "redirect") {
		t.Errorf("redirect: %v", pe)
	}

	base := queueSpec(net.JoinHostPort("127.0.0.1", "9000"))
	for _, tc := range []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Username = "" }, "auth: the metrics check needs"},
		{func(s *Spec) { s.Username = "a:b" }, "auth.username"},
		{func(s *Spec) { s.Metrics = nil }, "series: at least one"},
		{func(s *Spec) { s.TLS = TLSStartTLS }, "not possible for metrics"},
		{func(s *Spec) { s.Metrics[0].Series = "queue size" }, `series[0]: name: "queue size" is not a metric name`},
		{func(s *Spec) { s.Metrics[0].FailedAbove = f64(50) }, "series[0]: failed_above: 50 is below degraded_above (100)"},
		{func(s *Spec) { s.Metrics[0] = MetricRule{Series: "queue_size"} }, "series[0]: queue_size: no threshold"},
		{func(s *Spec) { s.Metrics = append(s.Metrics, s.Metrics[0]) }, "series[1]: queue_size is already graded by series[0]"},
		{func(s *Spec) { s.Path = "metrics" }, "path:"},
	} {
		s := base
		s.Metrics = append([]MetricRule(nil), base.Metrics...)
		tc.edit(&s)
		if _, err := New(s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want an error with %q", err, tc.want)
		}
	}
}

func TestMetricRuleKey(t *testing.T) {
	r := MetricRule{Series: "users_count", Labels: map[string]string{"z": "1", "domain": `a"b`}}
	if got, want := r.Key(), `users_count{domain="a\"b",z="1"}`; got != want {
		t.Errorf("Key() = %s, want %s", got, want)
	}
}

func TestFilterExpositionCaps(t *testing.T) {
	want := map[string]struct{}{"queue_size": {}}
	big := bytes.Repeat([]byte("other_series 1\n"), MaxMetricsBody/15+1)
	if _, _, err := filterExposition(bytes.NewReader(big), want); err == nil || !strings.Contains(err.Error(), "body larger than") {
		t.Errorf("%d bytes: %v, want body larger than", len(big), err)
	}
	exact := big[:MaxMetricsBody-MaxMetricsBody%15]
	kept, st, err := filterExposition(bytes.NewReader(exact), want)
	if err != nil || len(kept) != 0 || st.samples != len(exact)/15 {
		t.Errorf("%d bytes: kept %d, %+v, %v", len(exact), len(kept), st, err)
	}
	body := "# HELP queue_size q\n# TYPE queue_size gauge\nqueue_size 3\n# TYPE other gauge\nother 1\n# a comment\n\n  queue_size_total 4\n"
	kept, st, err = filterExposition(strings.NewReader(body), want)
	if err != nil || string(kept) != "# HELP queue_size q\n# TYPE queue_size gauge\nqueue_size 3\n" || st.samples != 3 {
		t.Errorf("kept %q, %+v, %v", kept, st, err)
	}
}

// FuzzMetricsBody feeds arbitrary bytes to everything a scrape does after the status line:
// the line filter, expfmt and the grading. It must never panic, and must either grade or
// fail with a reason from the closed set.
func FuzzMetricsBody(f *testing.F) {
	for _, seed := range []string{
		"# HELP queue_size q\n# TYPE queue_size gauge\nqueue_size 3\n",
		"queue_size 1e308\nqueue_size NaN\n",
		"queue_size{domain=\"a\\\"b\"} 2 1700000000000\n",
		"# TYPE queue_size histogram\nqueue_size_bucket{le=\"+Inf\"} 1\nqueue_size 1\n",
		"# TYPE queue_size gauge\n# TYPE queue_size gauge\nqueue_size 1\n",
		"users_count{domain=\"x\"} 5\nqueue_size -Inf\n",
		"<html>",
		"\x00",
		"",
	} {
		f.Add([]byte(seed))
	}
	pr, err := New(Spec{Protocol: "metrics", Address: "127.0.0.1:9000", Username: "u", Metrics: []MetricRule{
		{Series: "queue_size", DegradedAbove: f64(10), FailedAbove: f64(100), GrowthDegradedAbove: f64(5)},
		{Series: "users_count", Labels: map[string]string{"domain": "x"}, DegradedBelow: f64(1)},
	}})
	if err != nil {
		f.Fatal(err)
	}
	p := pr.(*metricsProber)
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := NewTrace()
		err := p.readAndGrade(context.Background(), tr, bytes.NewReader(body), 200)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !slices.Contains(Reasons(), pe.Reason) {
				t.Fatalf("error %v is not an *Error with a known reason", err)
			}
			if pe.Reason == ReasonTimeout || pe.Reason == ReasonInternal {
				t.Fatalf("reason %s for a body read from memory: %v", pe.Reason, err)
			}
			if len(pe.Error()) > 1024 {
				t.Fatalf("error message of %d bytes", len(pe.Error()))
			}
		}
		for _, s := range tr.Series() {
			if s.Name != "queue_size" && s.Name != `users_count{domain="x"}` {
				t.Fatalf("series %q graded", s.Name)
			}
		}
	})
}

// BenchmarkMetricsBody measures the parse path on an Axigen-like page (queue_size and
// friends, users_count for 1,000 domains, ~50 KB) and on the largest page read (16 MiB of
// other series): what one scrape costs the node (docs/BENCHMARKS.md).
func BenchmarkMetricsBody(b *testing.B) {
	rep := mailtest.NewReporting("")
	domains := map[string]int{}
	for i := range 1000 {
		domains[fmt.Sprintf("domain-%04d.example.com", i)] = i
	}
	typical := rep.Exposition(domains)
	huge := bytes.Repeat([]byte("other_series{a=\"b\"} 1\n"), MaxMetricsBody/22)
	pr, err := New(Spec{Protocol: "metrics", Address: "127.0.0.1:9000", Username: "u", Metrics: []MetricRule{
		{Series: "queue_size", DegradedAbove: f64(100), GrowthDegradedAbove: f64(5)},
		{Series: "users_count", Labels: map[string]string{"domain": "domain-0042.example.com"}, DegradedBelow: f64(1)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	p := pr.(*metricsProber)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"axigen-1000-domains", typical}, {"16MiB-other-series", huge}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				err := p.readAndGrade(context.Background(), NewTrace(), bytes.NewReader(bc.body), 200)
				if err != nil && ReasonOf(err) != ReasonSeriesMissing {
					b.Fatal(err)
				}
			}
		})
	}
}
