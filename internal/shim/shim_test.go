package shim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestMain: re-executed as another user by TestImpostorSocket, the binary is the impostor.
func TestMain(m *testing.M) { testkit.Main(m, impostorEnv, runImpostor) }

// source is a fake daemon Source that always gives one answer.
type source struct{ answer ipc.Answer }

func (s source) Monitor(target string) (ipc.Answer, error) {
	if target != "" && target != s.answer.Target {
		return ipc.Answer{}, fmt.Errorf("no target %q", target)
	}
	return s.answer, nil
}
func (s source) Status(string) ([]byte, error) { return []byte("{}"), nil }

func answer(code int, state string) ipc.Answer {
	return ipc.Answer{Target: "axigen", Code: code, State: state, Confidence: float64(code-100) / 10,
		Age: time.Second, MaxAge: 30 * time.Second, Reason: "fake"}
}

// sockDir returns a short fresh directory for sockets (sun_path holds 108 bytes).
func sockDir(t *testing.T) string { return itest.ShortDir(t, "shim") }

// fakeDaemon serves a on a fresh socket until the test ends and returns the socket path.
func fakeDaemon(t *testing.T, a ipc.Answer) string {
	t.Helper()
	srv, err := ipc.Listen(filepath.Join(sockDir(t), "d.sock"), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "the fake daemon's Serve", func(ctx context.Context) error { return srv.Serve(ctx, source{a}) })
	return srv.Path()
}

// silentDaemon accepts connections and never answers, until the test ends.
func silentDaemon(t *testing.T) string {
	return testkit.Listen(t, "unix", filepath.Join(sockDir(t), "d.sock"), func(net.Conn) {})
}

// staleSocket leaves a socket file nobody listens on.
func staleSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(sockDir(t), "d.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return path
}

// openPort listens on a loopback TCP port until the test ends and returns host:port.
func openPort(t *testing.T) string {
	return testkit.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) { c.Close() })
}

// writeFallback writes a fallback file beside socket for target "axigen": VIP 127.0.0.1,
// this test process as the process, and ports.
func writeFallback(t *testing.T, socket, vip string, ports ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(filepath.Dir(socket), "axigen.pid")
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	err = ipc.WriteFallback(ipc.FallbackPath(socket), []ipc.FallbackTarget{{
		Name: "axigen", VIP: vip, PidFile: pidfile, Process: filepath.Base(exe), Ports: ports, Interval: 10 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// run calls Main, bounded at 10 s so a hang fails the test instead of stalling it.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(args, &stdout, &stderr) }()
	select {
	case code := <-done:
		if code == 0 || code == 1 {
			t.Errorf("Main(%q) exited %d: VCS would read that as a verdict", args, code)
		}
		return code, stdout.String(), stderr.String()
	case <-time.After(10 * time.Second):
		t.Fatalf("Main(%q) did not return", args)
	}
	return 0, "", ""
}

func TestDaemonAnswers(t *testing.T) {
	for _, a := range []ipc.Answer{answer(110, "online"), answer(105, "online"), answer(100, "offline"), answer(200, "intentional_offline")} {
		if a.Code == 200 {
			a.Confidence = 0
		}
		sock := fakeDaemon(t, a)
		code, out, _ := run(t, "--socket", sock, "--target", "axigen")
		want, _ := ipc.FormatAnswer(a)
		if code != a.Code || out != want+"\n" {
			t.Errorf("daemon says %d: exit %d, stdout %q; want %d, %q", a.Code, code, out, a.Code, want)
		}
	}
}

// TestDaemonUnavailable: every way the daemon can fail ends in the configured fallback.
// The subtests run in parallel: "never answers" waits out half the budget on every run.
func TestDaemonUnavailable(t *testing.T) {
	stale := answer(110, "online")
	stale.Age = time.Minute
	daemons := map[string]func(t *testing.T) string{
		"no socket":        func(t *testing.T) string { return filepath.Join(sockDir(t), "none.sock") },
		"nobody listening": staleSocket,
		"never answers":    silentDaemon,
		"stale answer":     func(t *testing.T) string { return fakeDaemon(t, stale) },
		"starting":         func(t *testing.T) string { return fakeDaemon(t, answer(100, "starting")) },
		"unknown code": func(t *testing.T) string {
			return fakeDaemon(t, ipc.Answer{Target: "axigen", Code: 99, State: "unknown"})
		},
		"ERR for the target": func(t *testing.T) string { return fakeDaemon(t, answer(110, "online")) }, // asked for "other" below
	}
	for name, mk := range daemons {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sock := mk(t)
			target := "axigen"
			if name == "ERR for the target" {
				target = "other"
			}
			// The direct check gets half the budget: it must be long enough for a starved
			// process on a loaded machine to dial a loopback port and read its addresses.
			base := []string{"--socket", sock, "--target", target, "--timeout", "3s"}

			if code, out, _ := run(t, append(base, "--on-unavailable", "offline")...); code != 100 || !strings.Contains(out, "state=offline") {
				t.Errorf("offline mode: exit %d, %q", code, out)
			}
			if code, _, _ := run(t, append(base, "--on-unavailable", "unknown")...); code != 99 {
				t.Errorf("unknown mode: exit %d, want 99", code)
			}
			code, _, errOut := run(t, base...)
			if code != 100 || !strings.Contains(errOut, "cannot read the fallback file") {
				t.Errorf("direct mode without a fallback file: exit %d, stderr %q; want 100 and why", code, errOut)
			}
			if target == "other" {
				return // the fallback file below is for target axigen
			}
			writeFallback(t, sock, "127.0.0.1", openPort(t), openPort(t))
			if code, out, errOut := run(t, base...); code != 110 || !strings.Contains(out, "direct check: vip 127.0.0.1 is local") {
				t.Errorf("direct mode, all local facts true: exit %d, stdout %q, stderr %q; want 110", code, out, errOut)
			}
			writeFallback(t, sock, "127.0.0.1", openPort(t), itest.FreeAddr(t))
			if code, _, errOut := run(t, base...); code != 100 || !strings.Contains(errOut, "refused") {
				t.Errorf("direct mode, a port closed: exit %d, stderr %q; want 100", code, errOut)
			}
			writeFallback(t, sock, "192.0.2.1", openPort(t))
			if code, _, errOut := run(t, base...); code != 100 || !strings.Contains(errOut, "vip 192.0.2.1 is not on this node") {
				t.Errorf("direct mode, VIP elsewhere: exit %d, stderr %q; want 100", code, errOut)
			}
		})
	}
}

func TestDirectNeedsLocalFacts(t *testing.T) {
	sock := filepath.Join(sockDir(t), "none.sock")
	if err := ipc.WriteFallback(ipc.FallbackPath(sock), []ipc.FallbackTarget{{Name: "axigen", Ports: []string{openPort(t)}}}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "--socket", sock)
	if code != 100 || !strings.Contains(errOut, "names neither a VIP nor a process") {
		t.Errorf("fallback without local facts: exit %d, stderr %q; want 100", code, errOut)
	}
	// A process that is not running here fails the check even with the VIP local.
	if err := ipc.WriteFallback(ipc.FallbackPath(sock), []ipc.FallbackTarget{{Name: "axigen", VIP: "127.0.0.1", Process: "axprobe-no-such-process"}}); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "--socket", sock); code != 100 || !strings.Contains(errOut, "no process named axprobe-no-such-process") {
		t.Errorf("process not running: exit %d, stderr %q; want 100", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != 99 || !strings.Contains(out, "Exit codes:") {
		t.Errorf("--help: exit %d, stdout %q", code, out)
	}
	bad := [][]string{
		{"--no-such-flag"},
		{"--timeout", "soon"},
		{"--timeout", "0s"},
		{"--timeout", "61s"},
		{"--on-unavailable", "maybe"},
		{"--socket", ""},
		{"--target", "a b"},
		{"--target", "axigen", "extra"},
		{"res", "ProbeSocket"},
		{"res", "ProbeSocket", "x"},
		{"res", "ProbeSocket", "3", "a"},
		{"res", "ProbeTimeout", "1", "forever"},
		{"res", "ProbeTarget", "2", "a", "b"},
		{"res", "ProbeDaemonUID", "1", "axigen"},
		{"--daemon-uid", "-1"},
	}
	for _, args := range bad {
		code, out, errOut := run(t, args...)
		if code != 99 || out != "" || !strings.Contains(errOut, "see --help") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 99 and a message", args, code, out, errOut)
		}
	}
}

func TestParseVCS(t *testing.T) {
	cfg, err := Parse([]string{"axigen_res", "PidFile", "1", "/var/opt/axigen/run/axigen.pid",
		"ProbeSocket", "1", "/run/x.sock", "ProbeTarget", "1", "axigen", "Empty", "0",
		"Vector", "2", "a", "b", "ProbeTimeout", "1", "3", "ProbeOnUnavailable", "1", "offline", "AEPTimeout", "1", "60", "ProbeDaemonUID", "1", "998"})
	want := Config{Resource: "axigen_res", Socket: "/run/x.sock", Target: "axigen", Timeout: 3 * time.Second, OnUnavailable: "offline", DaemonUID: 998}
	if err != nil || cfg != want {
		t.Errorf("Parse(VCS) = %+v, %v; want %+v", cfg, err, want)
	}
	cfg, err = Parse([]string{"axigen_res"})
	want = Config{Resource: "axigen_res", Socket: ipc.DefaultSocket, Timeout: DefaultTimeout, OnUnavailable: ModeDirect}
	if err != nil || cfg != want {
		t.Errorf("Parse(resource only) = %+v, %v; want defaults", cfg, err)
	}

	// End to end with the VCS convention.
	sock := fakeDaemon(t, answer(110, "online"))
	if code, _, _ := run(t, "axigen_res", "PidFile", "1", "/x", "ProbeSocket", "1", sock, "ProbeTarget", "1", "axigen"); code != 110 {
		t.Errorf("VCS arguments against a healthy daemon: exit %d", code)
	}
}

func TestHardLimit(t *testing.T) {
	if d, code, line := HardLimit([]string{"--timeout", "1s", "--on-unavailable", "unknown", "--target", "axigen"}); d != time.Second+2*hardMargin || code != 99 ||
		!strings.HasPrefix(line, "axprobe/1 code=99 state=unknown") || !strings.Contains(line, "target=axigen") {
		t.Errorf("HardLimit(unknown) = %s, %d, %q", d, code, line)
	}
	if d, code, _ := HardLimit([]string{"--bad"}); d != DefaultTimeout+2*hardMargin || code != 99 {
		t.Errorf("HardLimit(bad flags) = %s, %d", d, code)
	}
	if _, code, line := HardLimit(nil); code != 100 || !strings.Contains(line, "code=100 state=offline") || !strings.Contains(line, "hard deadline") {
		t.Errorf("HardLimit(defaults) = %d, %q; want 100 and a line saying why", code, line)
	}
}

// TestRunWithin: work that hangs past the limit yields the fallback code; a panic yields 99.
func TestRunWithin(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	v := runWithin(time.Millisecond, "axigen", 100, func() verdict {
		defer close(finished)
		<-release
		return verdict{code: 110}
	})
	close(release)
	<-finished
	// A stdout line too: VCS and people read one line from every run (issue 13: the shim
	// printed none when its hard deadline fired).
	if v.code != 100 || len(v.notes) != 1 || !strings.Contains(v.notes[0], "hard deadline") ||
		!strings.HasPrefix(v.line, "axprobe/1 code=100 state=offline") || !strings.Contains(v.line, "target=axigen") {
		t.Errorf("hung work: %+v", v)
	}
	v = runWithin(time.Minute, "", 100, func() verdict { panic("boom") })
	if v.code != 99 || !strings.Contains(v.notes[0], "internal error: boom") {
		t.Errorf("panicking work: %+v", v)
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout bytes.Buffer
	sock := silentDaemon(t)
	code := Run(ctx, []string{"--socket", sock, "--on-unavailable", "offline"}, &stdout, io.Discard)
	if code != 100 || !strings.Contains(stdout.String(), "canceled") {
		t.Errorf("canceled run: exit %d, %q", code, stdout.String())
	}
}
