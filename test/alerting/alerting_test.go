package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/realserver"
)

// The test's short intervals. The rules are the real ones; only AxigenOffline's `for`
// (1m in alerts.yml) is shortened in the test copy, so the test takes seconds.
//
// From the daemon's change to offline, the alert fires at worst one scrape interval (the
// change waits for the next scrape) plus one evaluation interval (the sample waits for the
// next evaluation) plus `for` later, then Prometheus sends it. Evaluating four times per
// scrape keeps that worst case (12.5 s) 1.5 s inside the bound the test asserts, `for` +
// two scrape intervals (14 s), for a loaded machine's delays.
const (
	scrapeInterval = 2 * time.Second
	evalInterval   = 500 * time.Millisecond
	offlineFor     = 10 * time.Second
	// waitLimit bounds every wait on another process; generous for a loaded CI machine.
	waitLimit = 90 * time.Second
)

// The target labels every series must carry (docs/DEPLOY.md, "A fleet of clusters").
var fleetLabels = map[string]string{"cluster": "test-cluster", "node": "test-node-1", "role": "primary"}

// binDir holds the axprobe binary TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(realserver.EnvVar) == "1" {
		dir, err := os.MkdirTemp("", "axprobe-alerting-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "alerting:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, gobin, "build", "-o", filepath.Join(dir, "axprobe"), "github.com/axprobe/axprobe/cmd/axprobe").CombinedOutput()
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "alerting: building axprobe failed: %v\n%s", err, out)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

// TestAxigenOfflineThroughPrometheusAndAlertmanager is the alert path end to end. It is
// built around what breaks it: rules that do not fire on a real scrape (label or job
// mismatch, a rule that groups the wrong way), Prometheus not delivering to Alertmanager,
// an alert that never resolves, or target labels that do not reach every series.
func TestAxigenOfflineThroughPrometheusAndAlertmanager(t *testing.T) {
	if os.Getenv(realserver.EnvVar) != "1" {
		t.Skipf("needs a real Prometheus and Alertmanager: run with %s=1 after scripts/install-test-deps.sh", realserver.EnvVar)
	}
	promBin := lookTool(t, "prometheus")
	amBin := lookTool(t, "prometheus-alertmanager")
	dir := shortDir(t)

	// The fake Axigen, in this process, so the test can break a listener.
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ax.Close() })
	faulter := mailtest.Faulter{Axigen: ax}

	// The daemon, as a process, with its /metrics on a free port.
	daemonHTTP := freeAddr(t)
	cfg := fmt.Sprintf(`socket: %s/axprobe.sock
http:
  listen: %s
targets:
  - name: axigen
    vip: 127.0.0.1
    interval: 1s
    fast_interval: 200ms
    timeout: 800ms
    checks:
      - {name: smtp, protocol: smtp, port: %d}
      - {name: imap, protocol: imap, port: %d}
`, dir, daemonHTTP, port(t, ax.SMTP.Addr()), port(t, ax.IMAP.Addr()))
	writeFile(t, filepath.Join(dir, "axprobe.yaml"), cfg)
	daemonExited := startProc(t, "axprobe", filepath.Join(dir, "axprobe.log"),
		filepath.Join(binDir, "axprobe"), "run", "--config", filepath.Join(dir, "axprobe.yaml"))
	waitUntil(t, waitLimit, "the daemon to report axigen online", func() bool {
		if daemonExited() {
			t.Fatal("the daemon exited")
		}
		st, err := daemonState(daemonHTTP)
		return err == nil && st.State == "online"
	})

	// Alertmanager: no receiver needed, its API shows every alert it received.
	amAddr := freeAddr(t)
	writeFile(t, filepath.Join(dir, "am.yml"), "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	startProc(t, "alertmanager", filepath.Join(dir, "am.log"), amBin,
		"--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Prometheus with the real rules (a copy of alerts.yml with a short `for`) and slo.yml,
	// scraping the daemon with the fleet's target labels.
	rules := testCopyOfAlerts(t, "../../deploy/prometheus/alerts.yml", filepath.Join(dir, "alerts.yml"))
	slo, err := filepath.Abs("../../deploy/prometheus/slo.yml")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	labels, _ := json.Marshal(fleetLabels)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: %s
  evaluation_interval: %s
rule_files: [%q, %q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: axprobe
    static_configs:
      - targets: [%q]
        labels: %s
`, scrapeInterval, evalInterval, rules, slo, amAddr, daemonHTTP, labels))
	startProc(t, "prometheus", filepath.Join(dir, "prometheus.log"), promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr)

	// Healthy: Prometheus has scraped the daemon, every series carries the fleet labels,
	// the SLO's recording rule sees exactly one node online, and nothing fires.
	waitUntil(t, waitLimit, "Prometheus to record axprobe:cluster_available:bool == 1", func() bool {
		v, err := promQuery(promAddr, `axprobe:cluster_available:bool{cluster="test-cluster", target="axigen"}`)
		return err == nil && len(v) == 1 && v[0].Value == "1"
	})
	// Every scraped series: rule outputs (ALERTS, recording rules) aggregate labels away.
	const scraped = `job="axprobe", __name__!~"ALERTS|ALERTS_FOR_STATE|.*:.*"`
	all, err := promQuery(promAddr, `count({`+scraped+`})`)
	if err != nil || len(all) != 1 {
		t.Fatalf("count of axprobe series: %v %v", all, err)
	}
	labelled, err := promQuery(promAddr, `count({`+scraped+`, cluster="test-cluster", node="test-node-1", role="primary"})`)
	if err != nil || len(labelled) != 1 || labelled[0].Value != all[0].Value {
		unlabelled, _ := promQuery(promAddr, `{`+scraped+`, node=""} or {`+scraped+`, cluster=""} or {`+scraped+`, role=""}`)
		t.Fatalf("series with cluster, node and role: %v of %v (%v); every series must carry them; without: %v", labelled, all, err, unlabelled)
	}
	if n, _ := strconv.Atoi(all[0].Value); n < 50 {
		t.Fatalf("only %d axprobe series scraped", n)
	}
	up, err := promQuery(promAddr, `up{job="axprobe", cluster="test-cluster", node="test-node-1", role="primary"}`)
	if err != nil || len(up) != 1 || up[0].Value != "1" {
		t.Fatalf("up{} of the daemon with the fleet labels: %v %v", up, err)
	}
	t.Logf("all %s scraped series of job axprobe carry cluster, node and role (up{} included)", all[0].Value)
	if a, err := amAlerts(amAddr); err != nil || len(a) != 0 {
		t.Fatalf("Alertmanager has alerts while healthy: %v %v", a, err)
	}
	checkDashboard(t, promAddr, "../../deploy/grafana/axprobe.json")

	// The fault: SMTP, a critical check, refuses connections. The daemon goes offline
	// after `fall` failed probes; from that moment the alert must reach Alertmanager
	// within `for` + two scrape intervals.
	if err := faulter.SetFault("smtp", "refuse"); err != nil {
		t.Fatal(err)
	}
	var offlineSince time.Time
	waitUntil(t, waitLimit, "the daemon to report axigen offline", func() bool {
		st, err := daemonState(daemonHTTP)
		if err == nil && st.State == "offline" {
			offlineSince = st.Since
			return true
		}
		return false
	})
	var fired amAlert
	waitUntil(t, waitLimit, "AxigenOffline in Alertmanager", func() bool {
		as, _ := amAlerts(amAddr)
		for _, a := range as {
			if a.Labels["alertname"] == "AxigenOffline" {
				fired = a
				return true
			}
		}
		return false
	})
	reached := time.Since(offlineSince)
	bound := offlineFor + 2*scrapeInterval
	t.Logf("AxigenOffline reached Alertmanager %s after the daemon went offline (bound: for %s + 2 × scrape %s = %s)",
		reached.Round(10*time.Millisecond), offlineFor, scrapeInterval, bound)
	if reached > bound {
		t.Errorf("AxigenOffline reached Alertmanager %s after the daemon went offline, more than for + 2 scrape intervals (%s)", reached, bound)
	}
	if reached < offlineFor {
		t.Errorf("AxigenOffline reached Alertmanager %s after the daemon went offline, before its `for` of %s: the test copy's `for` is not in effect", reached, offlineFor)
	}
	for k, want := range map[string]string{"cluster": "test-cluster", "target": "axigen", "severity": "critical"} {
		if got := fired.Labels[k]; got != want {
			t.Errorf("Alertmanager's AxigenOffline has %s=%q, want %q (labels %v)", k, got, want, fired.Labels)
		}
	}
	if s := fired.Annotations["summary"]; s != "Axigen axigen is offline on every node of cluster test-cluster" {
		t.Errorf("summary %q", s)
	}
	// Offline for longer than `for`, so Prometheus has scraped it: the fleet overview has no
	// active node for the cluster and shows the code 100.
	fleet := fleetQueries(t, "../../deploy/grafana/axprobe.json")
	if res, err := promQuery(promAddr, fleet["A"]); err != nil || len(res) != 0 {
		t.Errorf("fleet overview while offline: active node %v (%v), want none", res, err)
	}
	if res, err := promQuery(promAddr, fleet["C"]); err != nil || len(res) != 1 || res[0].Value != "100" {
		t.Errorf("fleet overview while offline: code %v (%v), want 100", res, err)
	}

	// The repair resolves it: Prometheus stops firing and Alertmanager drops the alert.
	if err := faulter.SetFault("smtp", "none"); err != nil {
		t.Fatal(err)
	}
	var onlineSince time.Time
	waitUntil(t, waitLimit, "the daemon to report axigen online again", func() bool {
		st, err := daemonState(daemonHTTP)
		if err == nil && st.State == "online" {
			onlineSince = st.Since
			return true
		}
		return false
	})
	waitUntil(t, waitLimit, "AxigenOffline to be resolved in Alertmanager", func() bool {
		as, err := amAlerts(amAddr)
		if err != nil {
			return false
		}
		for _, a := range as {
			if a.Labels["alertname"] == "AxigenOffline" {
				return false
			}
		}
		return true
	})
	t.Logf("AxigenOffline resolved in Alertmanager %s after the daemon was online again",
		time.Since(onlineSince).Round(10*time.Millisecond))
	waitUntil(t, waitLimit, "Prometheus to stop firing AxigenOffline", func() bool {
		body, err := get("http://" + promAddr + "/api/v1/alerts")
		return err == nil && !strings.Contains(body, `"AxigenOffline"`)
	})
}

// checkDashboard runs every query of the Grafana dashboard against the real Prometheus,
// with the variables set to "all" as Grafana sends them: each must be valid PromQL there.
// The fleet overview must show the test cluster in one row: its active node, confidence
// 1, VCS code 110 and one node online.
func checkDashboard(t *testing.T, promAddr, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fleet := map[string][]promSample{}
	queries := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			res, err := promQuery(promAddr, allVars.Replace(q.Expr))
			queries++
			if err != nil {
				t.Errorf("dashboard panel %q query %s: %v", p.Title, q.RefID, err)
				continue
			}
			if p.Title == "Fleet overview" {
				fleet[q.RefID] = res
			}
		}
	}
	want := map[string]struct {
		labels map[string]string
		value  string
	}{
		"A": {map[string]string{"cluster": "test-cluster", "node": "test-node-1", "target": "axigen"}, "1"}, // active node
		"B": {map[string]string{"cluster": "test-cluster", "target": "axigen"}, "1"},                        // confidence
		"C": {map[string]string{"cluster": "test-cluster", "target": "axigen"}, "110"},                      // VCS code
		"D": {map[string]string{"cluster": "test-cluster", "target": "axigen"}, "1"},                        // online nodes
	}
	for ref, w := range want {
		res := fleet[ref]
		if len(res) != 1 || res[0].Value != w.value {
			t.Errorf("fleet overview query %s: %v, want one row with value %s", ref, res, w.value)
			continue
		}
		for k, v := range w.labels {
			if res[0].Metric[k] != v {
				t.Errorf("fleet overview query %s: %s=%q, want %q (%v)", ref, k, res[0].Metric[k], v, res[0].Metric)
			}
		}
	}
	if len(fleet["E"]) != 1 {
		t.Errorf("fleet overview availability (query E): %v, want one row", fleet["E"])
	}
	t.Logf("all %d dashboard queries ran on the real Prometheus; the fleet overview shows test-cluster active on test-node-1, code 110", queries)
}

// fleetQueries returns the fleet overview table's queries by refId, with the dashboard's
// variables set to "all".
func fleetQueries(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	for _, p := range dash.Panels {
		if p.Title == "Fleet overview" {
			for _, q := range p.Targets {
				out[q.RefID] = allVars.Replace(q.Expr)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no panel called Fleet overview", path)
	}
	return out
}

// allVars sets the dashboard's variables as Grafana does when "All" is selected.
var allVars = strings.NewReplacer("$cluster", ".*", "$node", ".*", "$target", ".*", "$check", ".*",
	"$__rate_interval", "1m", "$__range", "5m")

// testCopyOfAlerts writes the rule file at src to dst with AxigenOffline's `for` set to
// offlineFor; every expression stays as written. It returns dst.
func testCopyOfAlerts(t *testing.T, src, dst string) string {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	changed := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			isOffline := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "alert" && n.Content[i+1].Value == "AxigenOffline" {
					isOffline = true
				}
			}
			for i := 0; isOffline && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "for" {
					n.Content[i+1].Value = offlineFor.String()
					changed++
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if changed != 1 {
		t.Fatalf("%s: found %d `for` of AxigenOffline, want 1", src, changed)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(out))
	return dst
}

// daemonTarget is the part of the daemon's /status.json the test reads.
type daemonTarget struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

func daemonState(addr string) (daemonTarget, error) {
	body, err := get("http://" + addr + "/status.json?target=axigen")
	if err != nil {
		return daemonTarget{}, err
	}
	var s struct {
		Targets []daemonTarget `json:"targets"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return daemonTarget{}, err
	}
	if len(s.Targets) != 1 {
		return daemonTarget{}, fmt.Errorf("status.json has %d targets", len(s.Targets))
	}
	return s.Targets[0], nil
}

// promSample is one element of an instant vector from Prometheus's query API.
type promSample struct {
	Metric map[string]string
	Value  string
}

func promQuery(addr, query string) ([]promSample, error) {
	body, err := get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: status %s", query, r.Status)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		v, _ := s.Value[1].(string)
		out = append(out, promSample{Metric: s.Metric, Value: v})
	}
	return out, nil
}

// amAlert is one alert as Alertmanager's v2 API lists it (active ones only).
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func amAlerts(addr string) ([]amAlert, error) {
	body, err := get("http://" + addr + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	var as []amAlert
	return as, json.Unmarshal([]byte(body), &as)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// get returns the body of a 200 answer, read up to 4 MiB.
func get(u string) (string, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return string(b), nil
}

// freeAddr returns a loopback address with a port nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by this suite and is not installed (scripts/install-test-deps.sh): %v", name, err)
	}
	return path
}

// shortDir returns a fresh directory under /tmp with a short name (the daemon's socket path
// must stay under 108 bytes), removed when t ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "axal-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startProc starts argv in its own process group with its output in logPath; t's cleanup
// stops it (SIGTERM, then SIGKILL after 10 s) and waits for it, also when t fails, and
// shows the end of its log if t failed. The function it returns reports whether the
// process has exited.
func startProc(t *testing.T, name, logPath string, argv ...string) (exited func() bool) {
	t.Helper()
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("%s log (%s), last 3000 bytes:\n%s", name, logPath, b)
			}
		}
	})
	return func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// waitUntil calls cond every 100 ms until it returns true, failing t after limit with
// what. For conditions on other processes, which send no signal a test could wait on.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
