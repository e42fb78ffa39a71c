package pacemaker

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The two-node cluster's network: a veth pair between the nodes' network namespaces.
const (
	twoNet  = "10.250.0.%d"
	twoVIP  = "10.250.0.100"
	twoBase = "/run/axnode" // where each node mounts its own directory
)

// TestTwoNodes: two Pacemaker nodes, each in its own pid, mount, network and UTS namespaces,
// joined by a veth pair; the VIP (IPaddr2) and Axigen (the OCF agent) in one group. A hung
// IMAP listener on the active node makes its monitor fail and (migration-threshold 1) the
// group move to the other node, while both nodes' axprobe-monitor are sampled: never both
// online, the old node offline once the new one is up.
func TestTwoNodes(t *testing.T) {
	needCluster(t)
	if _, err := os.Stat(ocfRoot + "/heartbeat/IPaddr2"); err != nil {
		t.Fatal("ocf:heartbeat:IPaddr2 missing: install resource-agents (scripts/install-test-deps.sh)")
	}
	defer noClusterLeft(t)()
	members := [][2]string{{"node1", fmt.Sprintf(twoNet, 1)}, {"node2", fmt.Sprintf(twoNet, 2)}}
	suffix := fmt.Sprintf("%04x", rand.IntN(1<<16))
	var nodes []*node
	var dirs []string
	for i, m := range members {
		dir := nodeDir(t, m[0])
		spec := nodeFiles(t, dir, twoBase, m[0], members, twoVIP)
		spec.BindAt, spec.WaitNet = twoBase, true
		n := startNode(t, spec)
		defer n.kill(t)
		nodes = append(nodes, n)
		dirs = append(dirs, dir)
		_ = i
	}

	// Plug the nodes together.
	a, b := "pcmka"+suffix, "pcmkb"+suffix
	if out, err := exec.Command("ip", "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Fatalf("ip link add veth: %v: %s", err, out)
	}
	defer exec.Command("ip", "link", "del", a).Run() // gone with the namespaces; in case they never got it
	for i, ifc := range []string{a, b} {
		if out, err := exec.Command("ip", "link", "set", ifc, "netns", fmt.Sprint(nodes[i].init.Process.Pid)).CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s netns: %v: %s", ifc, err, out)
		}
		nodes[i].must(t, "ip", "addr", "add", members[i][1]+"/24", "dev", ifc)
		nodes[i].must(t, "ip", "link", "set", ifc, "up")
	}
	started := time.Now()
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "net"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n1 := nodes[0]
	took := waitFor(t, 120*time.Second, "both nodes online with a DC", func() (bool, string) {
		m, out := n1.mon(t)
		online := 0
		for _, nd := range m.Nodes {
			if nd.Online {
				online++
			}
		}
		return m.Summary.DC.Present && online == 2, out
	})
	t.Logf("two-node cluster up (DC elected, both online) %s after the network", took.Round(time.Millisecond))
	_ = started

	group := `<group id="axigen_grp">` +
		`<primitive id="axigen_vip" class="ocf" provider="heartbeat" type="IPaddr2">` +
		`<instance_attributes id="axigen_vip-ia"><nvpair id="axigen_vip-ip" name="ip" value="` + twoVIP + `"/>` +
		`<nvpair id="axigen_vip-mask" name="cidr_netmask" value="24"/></instance_attributes>` +
		`<operations><op id="axigen_vip-monitor" name="monitor" interval="5s" timeout="20s"/></operations>` +
		`</primitive>` +
		strings.Replace(primitive(twoBase, "2s"), `<instance_attributes id="axigen_app-ia">`,
			`<meta_attributes id="axigen_app-meta"><nvpair id="axigen_app-mt" name="migration-threshold" value="1"/></meta_attributes>`+
				`<instance_attributes id="axigen_app-ia">`, 1) +
		`</group>`
	n1.must(t, "cibadmin", "--create", "--scope", "resources", "--xml-text", group)
	var active, other int
	waitFor(t, 90*time.Second, "axigen_app Started", func() (bool, string) {
		m, out := n1.mon(t)
		role, on, _ := m.role("axigen_app")
		if role != "Started" {
			return false, out
		}
		active = map[string]int{"node1": 0, "node2": 1}[on]
		other = 1 - active
		return nodes[active].shimCode(twoBase) == 110, out
	})
	t.Logf("group started on %s", nodes[active].name)
	if c := nodes[other].shimCode(twoBase); c != 100 {
		t.Fatalf("standby %s answers %d, want 100", nodes[other].name, c)
	}

	// Sample both nodes' axprobe-monitor back to back until the failover is over.
	var (
		mu                 sync.Mutex
		samples, bothOn    int
		oldOnlineAfterMove int
		moved              bool
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ca := nodes[active].shimCode(twoBase)
			cb := nodes[other].shimCode(twoBase)
			mu.Lock()
			samples++
			if ca >= 101 && ca <= 110 && cb >= 101 && cb <= 110 {
				bothOn++
			}
			if moved && ca >= 101 && ca <= 110 {
				oldOnlineAfterMove++
			}
			mu.Unlock()
		}
	})
	hung := time.Now()
	fault(t, filepath.Join(dirs[active], "standin.ctl"), "imap", "hang")
	took = waitFor(t, 120*time.Second, "the group on the other node", func() (bool, string) {
		m, out := n1.mon(t)
		role, on, _ := m.role("axigen_app")
		vrole, von, _ := m.role("axigen_vip")
		return role == "Started" && on == nodes[other].name && vrole == "Started" && von == on &&
			nodes[other].shimCode(twoBase) == 110, out
	})
	mu.Lock()
	moved = true
	mu.Unlock()
	if c := nodes[active].shimCode(twoBase); c != 100 {
		t.Errorf("old node %s answers %d after the move, want 100", nodes[active].name, c)
	}
	time.Sleep(2 * time.Second) // a few more samples after the move
	close(stop)
	wg.Wait()
	t.Logf("IMAP hung on %s → group Started on %s with axprobe 110 there after %s; %d sample pairs, %d both online, %d old-node online after the move",
		nodes[active].name, nodes[other].name, took.Round(time.Millisecond), samples, bothOn, oldOnlineAfterMove)
	_ = hung
	if bothOn != 0 || oldOnlineAfterMove != 0 {
		t.Errorf("both nodes online in %d samples, old node online after the move in %d", bothOn, oldOnlineAfterMove)
	}
}
