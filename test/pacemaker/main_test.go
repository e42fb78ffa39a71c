package pacemaker

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// integrationEnv enables the suite (with root); the same switch as the real-server suites.
const integrationEnv = "AXPROBE_INTEGRATION"

// binDir holds axprobe, axprobe-monitor and axigen-standin, built by runMain.
var binDir string

// runMain builds the commands once when the suite is enabled, then runs the tests.
func runMain(m *testing.M) int {
	if os.Getenv(integrationEnv) == "1" {
		dir, err := os.MkdirTemp("", "axprobe-pcmk-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "pacemaker:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		for _, c := range []string{"axprobe", "axprobe-monitor", "axigen-standin"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			out, err := exec.CommandContext(ctx, gobin, "build", "-o", filepath.Join(dir, c), "github.com/axprobe/axprobe/cmd/"+c).CombinedOutput()
			cancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "pacemaker: go build %s: %v\n%s", c, err, out)
				return 1
			}
		}
		binDir = dir
	}
	return m.Run()
}

// needCluster skips t unless the suite is enabled, and fails it when it is enabled but
// cannot run here (not root, a tool missing): CI must not pass by skipping.
func needCluster(t *testing.T) {
	t.Helper()
	if os.Getenv(integrationEnv) != "1" {
		t.Skip(integrationEnv + "=1 runs the Pacemaker suite (root; scripts/install-test-deps.sh installs pacemaker, corosync, crmsh)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the Pacemaker suite needs root (namespaces, corosync, pacemakerd)")
	}
	for _, tool := range []string{"corosync", "corosync-cmapctl", "pacemakerd", "crm_mon", "cibadmin", "crm_resource",
		"crm_attribute", "crm_failcount", "attrd_updater", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/install-test-deps.sh", tool)
		}
	}
	if binDir == "" {
		t.Fatal("the commands were not built")
	}
}

// repoFile returns the path of a file of this repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// noClusterLeft returns a check that fails t if a corosync or Pacemaker process runs that
// did not run when noClusterLeft was called: the suite must leave none behind.
func noClusterLeft(t *testing.T) func() {
	t.Helper()
	before := map[string]bool{}
	for _, p := range clusterProcesses() {
		before[p] = true
	}
	return func() { noNewCluster(t, before) }
}

func noNewCluster(t *testing.T, before map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, p := range clusterProcesses() {
			if !before[p] {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("cluster processes left running: %s", strings.Join(left, ", "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clusterProcesses lists "pid comm" of every corosync, pacemaker*, axigen-standin process.
func clusterProcesses() []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var left []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		if comm == "corosync" || comm == "pacemakerd" || strings.HasPrefix(comm, "pacemaker-") {
			left = append(left, filepath.Base(d)+" "+comm)
		}
	}
	return left
}

// crmMon is the part of `crm_mon --output-as=xml` the suite reads.
type crmMon struct {
	Summary struct {
		DC struct {
			Present bool   `xml:"present,attr"`
			Name    string `xml:"name,attr"`
		} `xml:"current_dc"`
	} `xml:"summary"`
	Nodes []struct {
		Name   string `xml:"name,attr"`
		Online bool   `xml:"online,attr"`
		Health string `xml:"health,attr"`
	} `xml:"nodes>node"`
	Resources []monResource `xml:"resources>resource"`
	Groups    []struct {
		ID        string        `xml:"id,attr"`
		Resources []monResource `xml:"resource"`
	} `xml:"resources>group"`
	Failures []struct {
		OpKey    string `xml:"op_key,attr"`
		ExitCode int    `xml:"exitcode,attr"`
		Status   string `xml:"status,attr"`
	} `xml:"failures>failure"`
}

// monResource is one primitive in crm_mon's XML.
type monResource struct {
	ID     string `xml:"id,attr"`
	Role   string `xml:"role,attr"`
	Active bool   `xml:"active,attr"`
	Failed bool   `xml:"failed,attr"`
	Nodes  []struct {
		Name string `xml:"name,attr"`
	} `xml:"node"`
}

// mon reads the cluster's status from inside n.
func (n *node) mon(t *testing.T) (crmMon, string) {
	t.Helper()
	out, code := n.run("crm_mon", "-1", "--output-as=xml")
	var m crmMon
	if code != 0 {
		return m, out
	}
	if err := xml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("crm_mon XML: %v\n%s", err, out)
	}
	return m, out
}

// role returns the resource's role and the node it runs on ("" when none).
func (m crmMon) role(id string) (role, on string, failed bool) {
	all := m.Resources
	for _, g := range m.Groups {
		all = append(all, g.Resources...)
	}
	for _, r := range all {
		if r.ID == id {
			if len(r.Nodes) > 0 {
				on = r.Nodes[0].Name
			}
			return r.Role, on, r.Failed
		}
	}
	return "", "", false
}

// waitFor polls cond every 100 ms until it holds, failing t after limit; it returns how
// long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		last = detail
		if time.Since(start) > limit {
			t.Fatalf("timed out after %s waiting for %s; last: %s", limit, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// atoi parses a decimal, -1 when it is not one.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}
