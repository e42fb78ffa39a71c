package web

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/probe"
)

// normalised re-encodes the axprobe_ families of a parsed exposition with each family's
// series sorted, so that two expositions of the same series compare equal as text.
func normalised(t *testing.T, mfs map[string]*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(mfs)) {
		if !strings.HasPrefix(name, "axprobe_") {
			continue
		}
		mf := mfs[name]
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(fmt.Sprint(a.Label), fmt.Sprint(b.Label)) })
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// gatherByName gathers m's registry by family name.
func gatherByName(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		gathered[mf.GetName()] = mf
	}
	return gathered
}

func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return mfs
}

// TestExpositionMatchesCollector: the text /metrics writes straight from the snapshot has
// exactly the series, values and help texts that the Collector gives promhttp, with and
// without gzip, for names that need escaping, checks without results, gates, round trips
// and certificates.
func TestExpositionMatchesCollector(t *testing.T) {
	snap := scaleSnapshot(3)
	odd := snap.Targets[2]
	odd.Name = "we\"ird\\tar\nget"
	odd.Checks = append(slices.Clone(odd.Checks),
		daemon.CheckSnapshot{Name: "pending", Protocol: "tcp", Stats: daemon.NewCheckStats()},
		daemon.CheckSnapshot{Name: "roundtrip", Protocol: "roundtrip", HasResult: true, Stats: daemon.NewCheckStats()})
	rt := traceWith("submit", "queued", "delivered")
	rt.SetMeasure("delivery", 2*time.Second)
	odd.Checks[len(odd.Checks)-1].Stats.Record(rt, &probe.Error{Reason: probe.ReasonNotDelivered})
	odd.Stats.Entered("offline")
	snap.Targets[2] = odd
	m, _ := metricsOf("test", snap)
	s, err := New(Options{Source: fixedSource{snap}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	// The check with a certificate.
	tlsTrace := traceWith("connect", "tls")
	tlsTrace.SetTLS(tlsState(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)), true)
	snap.Targets[0].Checks[0].Stats.Record(tlsTrace, nil)

	gathered := gatherByName(t, m)
	want := normalised(t, gathered)
	if !strings.Contains(want, "axprobe_roundtrip_delivery_seconds_bucket") || !strings.Contains(want, "axprobe_tls_cert_expiry") {
		t.Fatalf("the collector's output lacks the round trip or the certificate: the test exercises too little\n%s", want)
	}

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if enc != "gzip" {
				t.Fatalf("gzip sent to a client that accepts only %s", enc)
			}
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		} else if enc == "gzip" {
			t.Error("no gzip for a client that accepts it")
		}
		raw, err := io.ReadAll(body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q, want the text format", ct)
		}
		got := parseText(t, bytes.NewReader(raw))
		if g := normalised(t, got); g != want {
			t.Errorf("%s: /metrics differs from the collector's series\n--- /metrics\n%s\n--- collector\n%s", enc, g, want)
		}
		for _, name := range []string{"go_goroutines", "process_open_fds", "axprobe_build_info", "axprobe_ipc_requests_total", "promhttp_metric_handler_requests_total"} {
			if got[name] == nil {
				t.Errorf("%s: /metrics lacks %s", enc, name)
			}
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "GZIP": true,
		"": false, "identity": false, "gzip;q=0": false, "br, gzip; q=0.0": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

func tlsState(notAfter time.Time) tls.ConnectionState {
	return tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{{NotAfter: notAfter}}}
}
