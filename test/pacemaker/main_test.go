package pacemaker

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
)

// commands are what the suite runs, built once by itest.Main.
var commands = []string{"axprobe", "axprobe-monitor", "axigen-standin"}

// needCluster skips t unless the suite is enabled, and fails it when it is enabled but
// cannot run here (not root, a tool or a command missing): CI must not pass by skipping.
func needCluster(t *testing.T) {
	t.Helper()
	itest.Require(t, "the Pacemaker suite (namespaces, corosync, pacemakerd)")
	for _, tool := range []string{"corosync", "corosync-cmapctl", "pacemakerd", "crm_mon", "cibadmin", "crm_resource",
		"crm_attribute", "crm_failcount", "attrd_updater", "nsenter", "ip"} {
		itest.LookTool(t, tool)
	}
	for _, c := range commands {
		itest.Binary(t, c)
	}
}

// bin returns the path of one of commands.
func bin(name string) string { return filepath.Join(itest.BinDir(), name) }

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

// waitFor polls cond every 100 ms until it holds (itest.WaitFor), failing t after limit;
// it returns how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return itest.WaitFor(t, limit, 100*time.Millisecond, what, cond)
}
