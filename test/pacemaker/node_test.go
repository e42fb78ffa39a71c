package pacemaker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
)

// The node's private directories: a tmpfs over each, inside the node's mount namespace, so
// the cluster's state (CIB, corosync's ring ids, IPC shared memory) starts empty and never
// touches the host.
var privateDirs = []string{"/run", "/dev/shm", "/etc/corosync", "/var/lib/pacemaker", "/var/lib/corosync",
	"/var/log/pacemaker", "/var/log/corosync"}

// ocfRoot is where Pacemaker looks for OCF agents (no OCF_RA_PATH in 2.1.5): inside the
// node it is a tmpfs holding the host's providers (bind mounts) and ours.
const ocfRoot = "/usr/lib/ocf/resource.d"

// nodeEnv, when set, makes the test binary act as a node's init (pid 1 of its own pid,
// mount, network and UTS namespaces) instead of running tests; its value is the node's
// directory, holding node.json.
const nodeEnv = "AXPROBE_PCMK_NODE"

// nodeSpec is what a node's init needs, written to node.json by the test.
type nodeSpec struct {
	Name   string   // node name (hostname and corosync's nodelist name)
	Dir    string   // the node's directory: logs, corosync.conf, cib.xml
	Agent  string   // deploy/pacemaker/axigen, installed as ocf:axprobe:axigen
	Daemon []string // the axprobe daemon's argv, started once the cluster stack runs
	// BindAt, when set, is where Dir is also mounted inside the node, so resource
	// parameters (the same on every node) can name one path for each node's own files.
	BindAt string
	// WaitNet makes the init write "booted" and wait for a file "net" in Dir (the test
	// plugs the node's network in meanwhile) before it starts corosync.
	WaitNet bool
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(nodeEnv); dir != "" {
		os.Exit(nodeInit(dir))
	}
	os.Exit(itest.Main(m, "pacemaker", "", commands...))
}

// nodeInit runs as pid 1 of a node: it builds the node's file system view, starts
// corosync, pacemakerd and the axprobe daemon, and reaps every process until it is killed.
// When it dies the kernel kills everything in its pid namespace, so no process of the
// cluster can outlive the node.
func nodeInit(dir string) int {
	logf := func(format string, a ...any) {
		f, err := os.OpenFile(filepath.Join(dir, "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintf(f, time.Now().Format("15:04:05.000 ")+format+"\n", a...)
			f.Close()
		}
	}
	if err := nodeSetup(dir, logf); err != nil {
		logf("setup failed: %v", err)
		return 1
	}
	logf("ready")
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		logf("%v", err)
		return 1
	}
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); errors.Is(err, syscall.ECHILD) {
			time.Sleep(time.Second)
		}
	}
}

func nodeSetup(dir string, logf func(string, ...any)) error {
	b, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil {
		return err
	}
	var spec nodeSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := syscall.Sethostname([]byte(spec.Name)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	// The host's OCF providers, seen from a private copy of the directory.
	hostOCF := "/run/host-ocf"
	for _, d := range privateDirs {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", d, err)
		}
	}
	if err := os.Chmod("/dev/shm", 0o1777); err != nil {
		return err
	}
	if err := os.MkdirAll(hostOCF, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(ocfRoot, hostOCF, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", ocfRoot, err)
	}
	if err := syscall.Mount("tmpfs", ocfRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs on %s: %w", ocfRoot, err)
	}
	providers, err := os.ReadDir(hostOCF)
	if err != nil {
		return err
	}
	for _, p := range providers {
		if !p.IsDir() || p.Name() == "axprobe" {
			continue
		}
		target := filepath.Join(ocfRoot, p.Name())
		if err := os.Mkdir(target, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(filepath.Join(hostOCF, p.Name()), target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", target, err)
		}
	}
	if err := os.Mkdir(filepath.Join(ocfRoot, "axprobe"), 0o755); err != nil {
		return err
	}
	if err := copyFile(spec.Agent, filepath.Join(ocfRoot, "axprobe", "axigen"), 0o755); err != nil {
		return err
	}

	hacluster, err := user.Lookup("hacluster")
	if err != nil {
		return err
	}
	haclient, err := user.LookupGroup("haclient")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(hacluster.Uid)
	gid, _ := strconv.Atoi(haclient.Gid)
	for _, d := range []string{"/var/lib/pacemaker/cib", "/var/lib/pacemaker/pengine", "/var/lib/pacemaker/blackbox",
		"/var/lib/pacemaker/cores", "/var/log/pacemaker/bundles"} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
	}
	for _, d := range []string{"/var/lib/pacemaker", "/var/log/pacemaker"} {
		if err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, uid, gid)
		}); err != nil {
			return err
		}
	}
	if spec.BindAt != "" {
		if err := os.MkdirAll(spec.BindAt, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(spec.Dir, spec.BindAt, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", spec.Dir, spec.BindAt, err)
		}
	}
	if spec.WaitNet {
		if err := os.WriteFile(filepath.Join(dir, "booted"), nil, 0o644); err != nil {
			return err
		}
		logf("waiting for the network")
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dir, "net")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("no network after 60s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := copyFile(filepath.Join(dir, "corosync.conf"), "/etc/corosync/corosync.conf", 0o644); err != nil {
		return err
	}
	// A CIB to start from: fencing off and a short DC election wait. Without it the first
	// DC is elected only after dc-deadtime's default 20 s.
	if err := copyFile(filepath.Join(dir, "cib.xml"), "/var/lib/pacemaker/cib/cib.xml", 0o600); err != nil {
		return err
	}
	if err := os.Chown("/var/lib/pacemaker/cib/cib.xml", uid, gid); err != nil {
		return err
	}

	logf("starting corosync")
	if err := startLogged(dir, "corosync", nil, "corosync", "-f"); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command("corosync-cmapctl", "totem.cluster_name").Run() != nil {
		if time.Now().After(deadline) {
			return errors.New("corosync does not answer after 60s (corosync.log)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("starting pacemakerd")
	if err := startLogged(dir, "pacemakerd", []string{"PCMK_logfile=" + filepath.Join(dir, "pacemaker.log")}, "pacemakerd", "-f"); err != nil {
		return err
	}
	if len(spec.Daemon) > 0 {
		logf("starting %s", strings.Join(spec.Daemon, " "))
		if err := startLogged(dir, "axprobe", nil, spec.Daemon...); err != nil {
			return err
		}
	}
	return nil
}

// startLogged starts argv with its output in dir/name.log; the init reaps it.
func startLogged(dir, name string, env []string, argv ...string) error {
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = slicesWithout(cmd.Env, nodeEnv+"=")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	return cmd.Process.Release()
}

func slicesWithout(env []string, prefix string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func copyFile(from, to string, mode os.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, mode)
}

// node is one running node as the test sees it.
type node struct {
	name string
	dir  string
	init *exec.Cmd
}

// startNode starts a node's init in new pid, mount, network and UTS namespaces and waits
// until it has started the cluster stack. The init is killed (and with it every process of
// the node) when the test ends, and by the kernel if the test binary dies first
// (Pdeathsig).
func startNode(t *testing.T, spec nodeSpec) *node {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.Dir, "node.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Pdeathsig fires when the thread that started the child ends: Go ends a thread only
	// for a goroutine that locked it and exits, which this one does not do.
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), nodeEnv+"="+spec.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS,
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	if err != nil {
		t.Fatalf("start node %s: %v", spec.Name, err)
	}
	n := &node{name: spec.Name, dir: spec.Dir, init: cmd}
	t.Cleanup(func() { n.kill(t) })
	deadline := time.Now().Add(90 * time.Second)
	marker := "ready"
	if spec.WaitNet {
		marker = "booted"
	}
	for {
		if _, err := os.Stat(filepath.Join(spec.Dir, marker)); err == nil {
			return n
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) || syscall.Kill(cmd.Process.Pid, 0) != nil {
			n.dumpLogs(t)
			t.Fatalf("node %s did not come up", spec.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the node: SIGKILL to its init takes every process in its pid namespace with it.
func (n *node) kill(t *testing.T) {
	if n.init == nil {
		return
	}
	if t.Failed() {
		n.dumpLogs(t)
	}
	_ = n.init.Process.Kill()
	_ = n.init.Wait()
	n.init = nil
}

// dumpLogs prints the tail of the node's logs into the test log.
func (n *node) dumpLogs(t *testing.T) {
	for _, f := range []string{"init.log", "corosync.log", "pacemaker.log", "axprobe.log", "standin.log"} {
		b, err := os.ReadFile(filepath.Join(n.dir, f))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if f == "pacemaker.log" { // the tail is respawn noise; the cause is an error line
			var important []string
			for _, l := range lines {
				if strings.Contains(l, "error:") || strings.Contains(l, "crit:") || strings.Contains(l, "warning:") {
					important = append(important, l)
				}
			}
			lines = important
		}
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("node %s %s (last %d lines):\n%s", n.name, f, len(lines), strings.Join(lines, "\n"))
	}
}

// run runs argv inside the node (nsenter into its namespaces), bounded to 60 s, and
// returns its combined output and exit code; -1 when it could not run.
func (n *node) run(argv ...string) (string, int) {
	args := append([]string{"nsenter", "--target", strconv.Itoa(n.init.Process.Pid), "--mount", "--net", "--pid", "--uts", "--"}, argv...)
	return itest.RunCode(60*time.Second, args...)
}

// must runs argv inside the node and fails the test unless it exits 0.
func (n *node) must(t *testing.T, argv ...string) string {
	t.Helper()
	out, code := n.run(argv...)
	if code != 0 {
		t.Fatalf("%s on %s: exit %d\n%s", strings.Join(argv, " "), n.name, code, out)
	}
	return out
}
