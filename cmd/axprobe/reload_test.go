package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestRunReloadOnSIGHUP drives `axprobe run` through two SIGHUPs: a good new config that
// adds a check and names another socket (the unchanged checks keep their history, the
// target stays online, the socket and the fallback file beside it stay where they are, and
// nothing is written beside the socket nobody serves), then a broken one (rejected with every problem logged, the running config kept, and
// axprobe_config_last_reload_successful 0).
func TestRunReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ax.Close()
	port := func(s *mailtest.Server) string { _, p, _ := net.SplitHostPort(s.Addr()); return p }
	socket := filepath.Join(dir, "axprobe.sock")
	configPath := filepath.Join(dir, "axprobe.yaml")
	listen := itest.FreeAddr(t)
	base := strings.NewReplacer("SOCK", socket, "LISTEN", listen, "SMTP", port(ax.SMTP), "IMAP", port(ax.IMAP), "CLI", port(ax.CLI)).Replace(`
socket: SOCK
http: { listen: "LISTEN" }
` + testTarget + `      - { name: smtp, protocol: smtp, port: SMTP }
      - { name: imap, protocol: imap, port: IMAP }
`)
	writeFile(t, configPath, base)

	var stderr testkit.SyncBuffer
	defer testkit.Run(t, "axprobe run", func(ctx context.Context) error {
		if code := runCommand(ctx, []string{"--config", configPath}, io.Discard, &stderr); code != 0 {
			return fmt.Errorf("exited %d; log:\n%s", code, stderr.String())
		}
		return nil
	})()

	// waitFor polls the daemon's STATUS until cond holds; the daemon has no event to wait
	// on from outside the process.
	waitFor := func(what string, cond func(daemon.TargetSnapshot) bool) daemon.TargetSnapshot {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sctx, scancel := context.WithTimeout(t.Context(), 2*time.Second)
			raw, err := ipc.Status(sctx, socket, "axigen")
			scancel()
			var snap daemon.Snapshot
			if err == nil && json.Unmarshal(raw, &snap) == nil && len(snap.Targets) == 1 && cond(snap.Targets[0]) {
				return snap.Targets[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("not %s within 20s (err %v); log:\n%s", what, err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	before := waitFor("online", func(ts daemon.TargetSnapshot) bool { return ts.State == "online" })

	// A good reload adds the CLI check and names another socket, which changes only on
	// restart.
	fallback := ipc.FallbackPath(socket)
	if err := os.Remove(fallback); err != nil {
		t.Fatal(err)
	}
	otherSocket := filepath.Join(dir, "other.sock")
	writeFile(t, configPath, strings.Replace(base, socket, otherSocket, 1)+"      - { name: cli, protocol: cli, port: "+port(ax.CLI)+" }\n")
	hup(t)
	after := waitFor("reloaded with 3 checks", func(ts daemon.TargetSnapshot) bool { return len(ts.Checks) == 3 })
	testkit.WaitForLog(t, 20*time.Second, &stderr, "config reloaded") // logged once the fallback file is written
	if _, err := os.Stat(fallback); err != nil {
		t.Errorf("the fallback file beside the served socket was not rewritten on reload: %v", err)
	}
	if _, err := os.Stat(ipc.FallbackPath(otherSocket)); err == nil {
		t.Errorf("the reload wrote a fallback file beside %s, a socket nobody serves", otherSocket)
	}
	if !strings.Contains(stderr.String(), "change only on restart") {
		t.Errorf("the socket change was not reported; log:\n%s", stderr.String())
	}
	if after.State != "online" || !after.Since.Equal(before.Since) {
		t.Errorf("after reload: %s since %v; want still online since %v", after.State, after.Since, before.Since)
	}
	if !after.Checks[1].HasResult {
		t.Errorf("imap lost its history across the reload: %+v", after.Checks[1])
	}
	if v := metric(t, listen, "axprobe_config_last_reload_successful"); v != "1" {
		t.Errorf("reload_successful after a good reload = %s, want 1", v)
	}

	// A broken reload is rejected and the running config stays.
	writeFile(t, configPath, strings.Replace(base, "interval: 2s", "interval: 2", 1)+"      - { name: bad, protocol: imap4 }\n")
	hup(t)
	// Every problem is a log line of its own, written one after the other, and the metric
	// is set after the last: wait for each rather than check once after the first line
	// (under load the second line came after the check).
	for _, want := range []string{`targets[0].interval: 2 is not a duration`, `targets[0].checks[2].protocol: \"imap4\" is not one of`} {
		testkit.WaitForLog(t, 20*time.Second, &stderr, want)
	}
	testkit.WaitFor(t, 20*time.Second, "axprobe_config_last_reload_successful 0 after a bad reload", func() bool {
		return metric(t, listen, "axprobe_config_last_reload_successful") == "0"
	})
	kept := waitFor("still serving", func(ts daemon.TargetSnapshot) bool { return ts.State == "online" })
	if len(kept.Checks) != 3 {
		t.Errorf("the rejected config replaced the running one: %d checks", len(kept.Checks))
	}
}

// testTarget opens the targets of the configs of the tests that run the daemon: one target
// on loopback, its checks to follow. The timeout is generous (a probe starved on a loaded
// machine must not fail and add a transition the test does not expect); the fast interval
// keeps confirming a failure quick.
const testTarget = `targets:
  - name: axigen
    vip: 127.0.0.1
    interval: 2s
    fast_interval: 100ms
    timeout: 1500ms
    checks:
`

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// metric scrapes addr's /metrics and returns the value of an unlabelled metric.
func metric(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}
