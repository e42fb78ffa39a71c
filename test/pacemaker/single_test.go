package pacemaker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/itest"
)

// The stand-in's listeners inside a node (its own network namespace): 127.0.0.1:2500-2505.
const basePort = 2500

// corosyncConf is a corosync.conf for the nodes (name → ring0 address): knet, no crypto.
func corosyncConf(nodes [][2]string) string {
	var b strings.Builder
	b.WriteString(`totem {
	version: 2
	cluster_name: axprobe-test
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 3000
}
logging {
	to_stderr: yes
	to_logfile: no
	to_syslog: no
	timestamp: on
}
quorum {
	provider: corosync_votequorum
`)
	if len(nodes) == 2 {
		b.WriteString("\ttwo_node: 1\n")
	}
	b.WriteString("}\nnodelist {\n")
	for i, n := range nodes {
		fmt.Fprintf(&b, "\tnode {\n\t\tname: %s\n\t\tnodeid: %d\n\t\tring0_addr: %s\n\t}\n", n[0], i+1, n[1])
	}
	b.WriteString("}\n")
	return b.String()
}

// seedCIB is the CIB a node starts from: no fencing (a test cluster has no fence device),
// and a 2 s DC election wait instead of 20 s.
const seedCIB = `<cib crm_feature_set="3.0.0" validate-with="pacemaker-3.0" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/>
        <nvpair id="opt-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
`

// initScript is a fake /etc/init.d/axigen: it runs axigen-standin with a control socket.
func initScript(standin, pidfile, control, log, ip string) string {
	return fmt.Sprintf(`#!/bin/sh
# Fake /etc/init.d/axigen for the Pacemaker suite.
pidfile=%[2]s
running() {
	pid=$(cat "$pidfile" 2>/dev/null) && [ -n "$pid" ] &&
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = axigen-standin ]
}
case ${1:-} in
start)
	running && exit 0
	%[1]s --ip %[6]s --base-port %[5]d --pidfile "$pidfile" --control %[3]s </dev/null >>%[4]s 2>&1 &
	i=0
	while [ $i -lt 100 ]; do
		running && exit 0
		kill -0 $! 2>/dev/null || exit 1
		sleep 0.1
		i=$((i + 1))
	done
	exit 1 ;;
stop)
	running || exit 0
	kill -TERM "$pid"
	i=0
	while [ $i -lt 100 ]; do
		running || exit 0
		sleep 0.1
		i=$((i + 1))
	done
	exit 1 ;;
*)
	exit 2 ;;
esac
`, standin, pidfile, control, log, basePort, ip)
}

// daemonConfig is the axprobe config of a node: the stand-in's six listeners, the process
// gate, the VIP gate on vip, and node health pushed with a 1 s dampening. window 1: a
// listener's health is its last result, so one refused WebMail probe degrades the target.
func daemonConfig(sock, pidfile, vip string) string {
	return itest.DaemonConfig(sock, "", true) + fmt.Sprintf(`  - name: axigen
    vip: %s
    require_local_vip: true
    process: { pidfile: %s, name: axigen-standin }
    interval: 500ms
    fast_interval: 200ms
    timeout: 400ms
    window: 1
    rise: 2
    fall: 3
    degraded_after: 0s
    node_health: { delay: 1s }
    checks:
      - { name: smtp, protocol: smtp, port: %d }
      - { name: imap, protocol: imap, port: %d }
      - { name: pop3, protocol: pop3, port: %d }
      - { name: webmail, protocol: http, port: %d, weight: 0.5 }
      - { name: webadmin, protocol: http, port: %d, weight: 0.25 }
      - { name: cli, protocol: cli, port: %d, weight: 0.25 }
`, vip, pidfile, basePort, basePort+1, basePort+2, basePort+3, basePort+4, basePort+5)
}

// fault sends "<listener> <fault>" to a stand-in's control socket.
func fault(t *testing.T, control, listener, f string) {
	t.Helper()
	if reply, err := itest.Control(control, listener+" "+f+"\n"); err != nil || reply != "ok" {
		t.Fatalf("fault %s %s: reply %q, err %v", listener, f, reply, err)
	}
}

// nodeDir returns a fresh directory for node name's files, with a short path (the
// socket paths in it must stay under 108 bytes) that Pacemaker's daemons, running as
// hacluster, can read and log into. It is removed when t ends, or kept and named in the
// log when t failed.
func nodeDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pcmk-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's files are kept in %s", name, dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// nodeFiles writes a node's files into dir and returns its spec. The files name each other
// under base: dir itself, or the path where the node mounts dir (nodeSpec.BindAt).
func nodeFiles(t *testing.T, dir, base, name string, nodes [][2]string, vip string) nodeSpec {
	t.Helper()
	pidfile := filepath.Join(base, "axigen.pid")
	files := map[string]string{
		"corosync.conf": corosyncConf(nodes),
		"cib.xml":       seedCIB,
		"axigen-init": initScript(bin("axigen-standin"), pidfile, filepath.Join(base, "standin.ctl"),
			filepath.Join(base, "standin.log"), vip),
		"axprobe.yaml": daemonConfig(filepath.Join(base, "axprobe.sock"), pidfile, vip),
	}
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return nodeSpec{
		Name:   name,
		Dir:    dir,
		Agent:  repoFile(t, "deploy/pacemaker/axigen"),
		Daemon: []string{bin("axprobe"), "run", "--config", filepath.Join(base, "axprobe.yaml")},
	}
}

// primitive is the CIB XML of the Axigen resource on node dir's files, monitored every
// monitorInterval.
func primitive(dir, monitorInterval string) string {
	nv := func(name, value string) string {
		return fmt.Sprintf(`<nvpair id="axigen_app-ia-%s" name="%s" value="%s"/>`, name, name, value)
	}
	return `<primitive id="axigen_app" class="ocf" provider="axprobe" type="axigen">` +
		`<instance_attributes id="axigen_app-ia">` +
		nv("init_script", filepath.Join(dir, "axigen-init")) +
		nv("pidfile", filepath.Join(dir, "axigen.pid")) +
		nv("process_name", "axigen-standin") +
		nv("axprobe_monitor", bin("axprobe-monitor")) +
		nv("socket", filepath.Join(dir, "axprobe.sock")) +
		nv("target", "axigen") +
		nv("start_timeout", "30") +
		nv("offline_wait", "20") +
		`</instance_attributes>` +
		`<operations>` +
		`<op id="axigen_app-monitor" name="monitor" interval="` + monitorInterval + `" timeout="20s"/>` +
		`<op id="axigen_app-start" name="start" interval="0s" timeout="60s"/>` +
		`<op id="axigen_app-stop" name="stop" interval="0s" timeout="60s"/>` +
		`</operations>` +
		`</primitive>`
}

// standinPid returns the pid in the node's pidfile ("" when none).
func standinPid(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "axigen.pid"))
	return strings.TrimSpace(string(b))
}
