package alerting

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
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

func TestMain(m *testing.M) {
	os.Exit(itest.Main(m, "alerting", "", "axprobe"))
}

// TestAxigenOfflineThroughPrometheusAndAlertmanager is the alert path end to end. It is
// built around what breaks it: rules that do not fire on a real scrape (label or job
// mismatch, a rule that groups the wrong way), Prometheus not delivering to Alertmanager,
// an alert that never resolves, or target labels that do not reach every series.
func TestAxigenOfflineThroughPrometheusAndAlertmanager(t *testing.T) {
	itest.Require(t, "the alerting suite (a real Prometheus and Alertmanager)")
	axprobe := itest.Binary(t, "axprobe")
	promBin := itest.LookTool(t, "prometheus")
	amBin := itest.LookTool(t, "prometheus-alertmanager")
	dir := itest.ShortDir(t, "axal-")

	// The fake Axigen, in this process, so the test can break a listener.
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ax.Close() })
	faulter := mailtest.Faulter{Axigen: ax}

	// The daemon, as a process, with its /metrics on a free port.
	daemonHTTP := itest.FreeAddr(t)
	cfg := itest.DaemonConfig(filepath.Join(dir, "axprobe.sock"), daemonHTTP, false) + fmt.Sprintf(`  - name: axigen
    vip: 127.0.0.1
    interval: 1s
    fast_interval: 200ms
    timeout: 800ms
    checks:
      - {name: smtp, protocol: smtp, port: %s}
      - {name: imap, protocol: imap, port: %s}
`, itest.Port(ax.SMTP.Addr()), itest.Port(ax.IMAP.Addr()))
	itest.WriteFile(t, filepath.Join(dir, "axprobe.yaml"), cfg)
	daemon := itest.StartProc(t, "axprobe", filepath.Join(dir, "axprobe.log"),
		axprobe, "run", "--config", filepath.Join(dir, "axprobe.yaml"))
	waitUntil(t, "the daemon to report axigen online", func() bool {
		if daemon.Exited() {
			t.Fatal("the daemon exited")
		}
		st, err := daemonState(daemonHTTP)
		return err == nil && st.State == "online"
	})

	// Alertmanager: no receiver needed, its API shows every alert it received.
	amAddr := itest.FreeAddr(t)
	itest.WriteFile(t, filepath.Join(dir, "am.yml"), "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	itest.StartProc(t, "alertmanager", filepath.Join(dir, "am.log"), amBin,
		"--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// Prometheus with the real rules (a copy of alerts.yml with a short `for`) and slo.yml,
	// scraping the daemon with the fleet's target labels.
	rules := testCopyOfAlerts(t, "../../deploy/prometheus/alerts.yml", filepath.Join(dir, "alerts.yml"))
	slo, err := filepath.Abs("../../deploy/prometheus/slo.yml")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := itest.FreeAddr(t)
	labels, _ := json.Marshal(fleetLabels)
	itest.WriteFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
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
	itest.StartProc(t, "prometheus", filepath.Join(dir, "prometheus.log"), promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr)

	// Healthy: Prometheus has scraped the daemon, every series carries the fleet labels,
	// the SLO's recording rule sees exactly one node online, and nothing fires.
	waitUntil(t, "Prometheus to record axprobe:cluster_available:bool == 1", func() bool {
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
	offlineSince := waitState(t, daemonHTTP, "offline")
	var fired amAlert
	waitUntil(t, "AxigenOffline in Alertmanager", func() bool {
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
	onlineSince := waitState(t, daemonHTTP, "online")
	waitUntil(t, "AxigenOffline to be resolved in Alertmanager", func() bool {
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
	waitUntil(t, "Prometheus to stop firing AxigenOffline", func() bool {
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
	fleet := map[string][]promSample{}
	queries := dashboardQueries(t, path)
	for _, q := range queries {
		res, err := promQuery(promAddr, q.expr)
		if err != nil {
			t.Errorf("dashboard panel %q query %s: %v", q.panel, q.refID, err)
			continue
		}
		if q.panel == fleetPanel {
			fleet[q.refID] = res
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
	t.Logf("all %d dashboard queries ran on the real Prometheus; the fleet overview shows test-cluster active on test-node-1, code 110", len(queries))
}

// fleetPanel is the title of the dashboard's fleet overview table.
const fleetPanel = "Fleet overview"

// fleetQueries returns the fleet overview table's queries by refId, with the dashboard's
// variables set to "all".
func fleetQueries(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range dashboardQueries(t, path) {
		if q.panel == fleetPanel {
			out[q.refID] = q.expr
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no panel called %s", path, fleetPanel)
	}
	return out
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct {
	panel, refID string
	expr         string // with the dashboard's variables set to "all" (allVars)
}

// dashboardQueries returns every query of the Grafana dashboard at path, in panel order.
func dashboardQueries(t *testing.T, path string) []panelQuery {
	t.Helper()
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, path), &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []panelQuery
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			out = append(out, panelQuery{panel: p.Title, refID: q.RefID, expr: allVars.Replace(q.Expr)})
		}
	}
	return out
}

// readFile returns the content of the repository file at path, failing t on error.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allVars sets the dashboard's variables as Grafana does when "All" is selected.
var allVars = strings.NewReplacer("$cluster", ".*", "$node", ".*", "$target", ".*", "$check", ".*",
	"$__rate_interval", "1m", "$__range", "5m")

// testCopyOfAlerts writes the rule file at src to dst with AxigenOffline's `for` set to
// offlineFor; every expression stays as written. It returns dst.
func testCopyOfAlerts(t *testing.T, src, dst string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, src), &doc); err != nil {
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
	itest.WriteFile(t, dst, string(out))
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

// waitState waits until the daemon at addr reports axigen in state, and returns since
// when it is in it.
func waitState(t *testing.T, addr, state string) time.Time {
	t.Helper()
	var since time.Time
	waitUntil(t, "the daemon to report axigen "+state, func() bool {
		st, err := daemonState(addr)
		since = st.Since
		return err == nil && st.State == state
	})
	return since
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

// waitUntil waits (itest.WaitUntil) at most waitLimit, polling every 100 ms.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	itest.WaitUntil(t, waitLimit, 100*time.Millisecond, what, cond)
}
