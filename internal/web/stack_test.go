package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/secret"
	"github.com/axprobe/axprobe/internal/testkit"
)

// The stack tests run the real daemon against mailtest's fake Axigen and the real web
// server on a loopback port.

const stackUser, stackPassword = "probe", "stack-password"

type stack struct {
	base    string // http://127.0.0.1:PORT
	axigen  *mailtest.Axigen
	daemon  *daemon.Daemon
	metrics *Metrics
}

// startStack starts fake Axigen listeners, a daemon probing them and the web server, waits
// until the daemon's first round is in, and stops everything when the test ends. faults
// (may be nil) gets the demo endpoints.
func startStack(t *testing.T, faults func(*mailtest.Axigen) FaultInjector) *stack {
	t.Helper()
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: t.TempDir(), Users: map[string]string{stackUser: stackPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ax.Close() })

	tls := func(name, protocol string, s *mailtest.Server, critical bool) daemon.CheckSpec {
		return daemon.CheckSpec{Name: name, Critical: critical, Weight: 1, Probe: probe.Spec{
			Protocol: protocol, Address: s.Addr(), TLS: probe.TLSStartTLS, CAFile: ax.Certs.CAFile,
			Username: stackUser, Password: secret.New(stackPassword)}}
	}
	spec := daemon.TargetSpec{
		// A generous timeout: a probe starved on a loaded machine must not fail, or the
		// scrape shows a failed check and a transition the tests do not expect.
		Name: "axigen", Interval: 300 * time.Millisecond, FastInterval: 150 * time.Millisecond, Timeout: 5 * time.Second,
		DegradedAfter: 5 * time.Second, CertWarnBefore: time.Hour, Window: 5, Rise: 2, Fall: 2, OfflineBelow: 0.5,
		Gates: []daemon.CheckSpec{{Name: "vip", Probe: probe.Spec{Protocol: "vip", VIP: "127.0.0.1"}},
			// Thresholds no test directory reaches: the gate records its capacity and limit.
			{Name: "storage", Probe: probe.Spec{Protocol: "storage", StoragePath: t.TempDir(), DegradedFreePercent: 0.001}}},
		Checks: []daemon.CheckSpec{
			tls("smtp", "smtp", ax.SMTP, true),
			tls("imap", "imap", ax.IMAP, true),
			tls("pop3", "pop3", ax.POP3, false),
			{Name: "webmail", Weight: 1, Probe: probe.Spec{Protocol: "http", Address: ax.WebMail.Addr()}},
			{Name: "cli", Weight: 0.5, Probe: probe.Spec{Protocol: "cli", Address: ax.CLI.Addr()}},
			{Name: "queue", Weight: 0.5, Probe: probe.Spec{Protocol: "metrics", Address: ax.WebAdmin.Addr(),
				Username: stackUser, Password: secret.New(stackPassword), GrowthWindow: time.Minute,
				Metrics: []probe.MetricRule{{Series: "queue_size", DegradedAbove: ptr(1000.0), GrowthDegradedAbove: ptr(100.0)}}}},
		},
	}
	m := NewMetrics("stack-test")
	d, err := daemon.New(daemon.Options{Targets: []daemon.TargetSpec{spec}, Version: "stack-test",
		HistoryEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var fi FaultInjector
	if faults != nil {
		fi = faults(ax)
	}
	srv, err := New(Options{Source: d, Metrics: m, Faults: fi})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "daemon", d.Run)
	testkit.Run(t, "web", func(ctx context.Context) error { return srv.Serve(ctx, ln) })

	// Wait (bounded) for the first round, then for the target to be online: a slow first
	// probe on a loaded machine can make it start offline.
	deadline := time.After(30 * time.Second)
	select {
	case <-d.Ready():
	case <-deadline:
		t.Fatalf("the daemon's first round did not complete in 30s: %+v", d.Snapshot())
	}
	for tick := time.Tick(20 * time.Millisecond); ; {
		if ts, _ := d.Snapshot().Target("axigen"); ts.State == "online" {
			break
		}
		select {
		case <-tick:
		case <-deadline:
			t.Fatalf("the target is not online 30s after start: %+v", d.Snapshot())
		}
	}
	return &stack{base: "http://" + ln.Addr().String(), axigen: ax, daemon: d, metrics: m}
}

func (s *stack) get(t *testing.T, path string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

// integration reports whether a missing tool must fail the test (AXPROBE_INTEGRATION=1)
// rather than skip it.
func integration() bool { return os.Getenv("AXPROBE_INTEGRATION") == "1" }

// needTool returns the path of the first of names found, or skips the test (fails it under
// AXPROBE_INTEGRATION=1).
func needTool(t *testing.T, why string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("%s not installed (%s); install it with scripts/check-observability.sh or apt-get", names[0], why)
	if integration() {
		t.Fatal(msg + " — required under AXPROBE_INTEGRATION=1")
	}
	t.Skip(msg)
	return ""
}

func TestScrapeOfRunningDaemonPassesPromtool(t *testing.T) {
	promtool := needTool(t, "promtool check metrics", "promtool")
	s := startStack(t, nil)
	body := s.get(t, "/metrics")
	for _, want := range []string{
		`axprobe_probe_success{check="imap",target="axigen"} 1`,
		`axprobe_probe_success{check="vip",target="axigen"} 1`,
		`axprobe_state{state="online",target="axigen"} 1`,
		`axprobe_probe_failures_total{check="pop3",reason="auth",target="axigen"} 0`,
		`axprobe_probe_duration_seconds_bucket{check="smtp",phase="total",target="axigen",le="0.001"}`,
		`axprobe_probe_duration_seconds_count{check="smtp",phase="starttls",target="axigen"}`,
		`axprobe_tls_cert_expiry_timestamp_seconds{check="imap",target="axigen"}`,
		`axprobe_transitions_total{target="axigen",to="online"} 1`,
		`axprobe_axigen_series{check="queue",series="queue_size",target="axigen"} 0`,
		`axprobe_axigen_series_limit{check="queue",level="degraded_above",series="queue_size",target="axigen"} 1000`,
		`axprobe_axigen_version_info{check="cli",target="axigen",version="10.6.30"} 1`,
		`axprobe_storage_free_bytes{target="axigen"}`,
		`axprobe_storage_free_percent_limit{level="degraded",target="axigen"} 0.001`,
		"go_goroutines", "process_open_fds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// metricNames returns the sample names of a text exposition (histograms contribute their
// _bucket, _sum and _count names).
func metricNames(exposition string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

func ptr[T any](v T) *T { return &v }

func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	s := startStack(t, nil)
	// A growth needs two scrapes of Axigen's /metrics: wait for it (the probe interval is
	// 300 ms; the deadline is for a loaded machine).
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		body = s.get(t, "/metrics")
		if strings.Contains(body, "axprobe_axigen_series_growth_per_minute{") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	exported := metricNames(body)
	for _, c := range []struct {
		file  string
		exprs func(t *testing.T, path string) []string
		min   int
	}{
		{"../../deploy/grafana/axprobe.json", dashboardExprs, 8},
		{"../../deploy/prometheus/alerts.yml", alertExprs, 8},
		{"../../deploy/prometheus/slo.yml", alertExprs, 10},
	} {
		exprs := c.exprs(t, c.file)
		if len(exprs) < c.min {
			t.Fatalf("%s: %d PromQL expressions, want at least %d", c.file, len(exprs), c.min)
		}
		for _, e := range exprs {
			names := promqlMetricNames(e)
			if len(names) == 0 && !recordingRuleName.MatchString(e) { // recording rules: TestFleetDashboardAndRulesAgree
				t.Errorf("%s: expression names no metric: %s", c.file, e)
			}
			for _, n := range names {
				if n == "up" { // Prometheus's own, per scrape target
					continue
				}
				if !exported[n] {
					t.Errorf("%s: %s is not exported by the daemon (in %s)", c.file, n, e)
				}
			}
		}
	}
}

// promqlMetricNames returns the metric names an expression selects: identifiers that start
// like one of ours or of client_golang's collectors. Functions, keywords and label names
// never do.
func promqlMetricNames(expr string) []string {
	var names []string
	isName := func(r rune) bool {
		return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	inString := false
	for i := 0; i < len(expr); {
		r := rune(expr[i])
		switch {
		case r == '"':
			inString = !inString
			i++
		case inString || !isName(r):
			i++
		default:
			j := i
			for j < len(expr) && isName(rune(expr[j])) {
				j++
			}
			word := expr[i:j]
			for _, prefix := range []string{"axprobe_", "go_", "process_", "promhttp_"} {
				if strings.HasPrefix(word, prefix) && !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			if word == "up" && !slices.Contains(names, word) {
				names = append(names, word)
			}
			i = j
		}
	}
	return names
}

// readDoc reads the file at path and decodes it into v with unmarshal (json.Unmarshal,
// yaml.Unmarshal), failing the test otherwise.
func readDoc(t *testing.T, path string, unmarshal func([]byte, any) error, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboardExprs returns every "expr" string anywhere in a Grafana dashboard JSON file.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	var doc any
	readDoc(t, path, json.Unmarshal, &doc)
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return exprs
}

// promRule is one rule of a Prometheus rule file: a recording rule names what it records,
// an alerting rule its alert.
type promRule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

// readRules returns every rule of a Prometheus rule file, group after group.
func readRules(t *testing.T, path string) []promRule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Rules []promRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readDoc(t, path, yaml.Unmarshal, &doc)
	var rules []promRule
	for _, g := range doc.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// alertExprs returns the expr of every rule in a Prometheus rule file.
func alertExprs(t *testing.T, path string) []string {
	t.Helper()
	var exprs []string
	for _, r := range readRules(t, path) {
		exprs = append(exprs, r.Expr)
	}
	return exprs
}
