package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/probe"
)

// scaleSnapshot is a snapshot of targets × 6 checks and a vip gate each, every check with
// a result in each of its protocol's phases and a failure, as after a few rounds.
func scaleSnapshot(targets int) *daemon.Snapshot {
	phases := map[string][]string{
		"smtp":    {"connect", "banner", "ehlo", "starttls", "tls", "auth", "quit"},
		"imap":    {"connect", "banner", "capability", "starttls", "tls", "login", "examine", "logout"},
		"pop3":    {"connect", "banner", "capa", "stls", "tls", "auth", "stat", "quit"},
		"webmail": {"connect", "tls", "request", "body"},
		"cli":     {"connect", "banner", "auth", "version", "quit"},
		"imaps":   {"connect", "tls", "banner", "capability", "login", "examine", "logout"},
	}
	checks := []string{"smtp", "imap", "pop3", "webmail", "cli", "imaps"}
	s := &daemon.Snapshot{Version: "bench"}
	for i := range targets {
		t := daemon.TargetSnapshot{Name: fmt.Sprintf("axigen-%04d", i), State: "online", Code: 110, Confidence: 1, Stats: &daemon.TargetStats{},
			Gates: []daemon.CheckSnapshot{{Name: "vip", Protocol: "vip", HasResult: true, OK: true, Stats: daemon.NewCheckStats()}}}
		t.Gates[0].Stats.Record(traceWith("vip"), nil)
		for _, c := range checks {
			cs := daemon.CheckSnapshot{Name: c, Protocol: c, HasResult: true, OK: true, Health: 1, Stats: daemon.NewCheckStats()}
			cs.Stats.Record(traceWith(phases[c]...), nil)
			cs.Stats.Record(traceWith(phases[c][:2]...), &probe.Error{Reason: probe.ReasonTimeout, Phase: "banner"})
			t.Checks = append(t.Checks, cs)
		}
		s.Targets = append(s.Targets, t)
	}
	return s
}

// BenchmarkMetricsScrape serves /metrics for 1,002 checks (167 targets of six checks and a
// vip gate) through the real handler: the time per scrape and the size (docs/BENCHMARKS.md).
func BenchmarkMetricsScrape(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("checks=1002/gzip=%v", gz), func(b *testing.B) {
			src := &swapSource{}
			src.p.Store(scaleSnapshot(167))
			s, err := New(Options{Source: src, Metrics: NewMetrics("bench")})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			var size int64
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				} else {
					req.Header.Set("Accept-Encoding", "identity")
				}
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				size, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
