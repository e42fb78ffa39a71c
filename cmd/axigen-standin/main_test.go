package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]int
		wantErr string
	}{
		{name: "ephemeral", args: nil,
			want: map[string]int{"smtp": 0, "imap": 0, "pop3": 0, "webmail": 0, "webadmin": 0, "cli": 0}},
		{name: "base port", args: []string{"--base-port", "2500"},
			want: map[string]int{"smtp": 2500, "imap": 2501, "pop3": 2502, "webmail": 2503, "webadmin": 2504, "cli": 2505}},
		{name: "override one", args: []string{"--base-port", "2500", "--cli-port", "7000"},
			want: map[string]int{"smtp": 2500, "imap": 2501, "pop3": 2502, "webmail": 2503, "webadmin": 2504, "cli": 7000}},
		{name: "per-listener only", args: []string{"--smtp-port", "25"},
			want: map[string]int{"smtp": 25, "imap": 0, "pop3": 0, "webmail": 0, "webadmin": 0, "cli": 0}},
		{name: "highest base", args: []string{"--base-port", "65530"},
			want: map[string]int{"smtp": 65530, "imap": 65531, "pop3": 65532, "webmail": 65533, "webadmin": 65534, "cli": 65535}},
		{name: "base too high", args: []string{"--base-port", "65531"}, wantErr: "--base-port 65531"},
		{name: "negative base", args: []string{"--base-port", "-1"}, wantErr: "--base-port -1"},
		{name: "port too high", args: []string{"--imap-port", "70000"}, wantErr: "--imap-port 70000"},
		{name: "bad ip", args: []string{"--ip", "mail.example"}, wantErr: `--ip "mail.example"`},
		{name: "relative pidfile", args: []string{"--pidfile", "run/axigen.pid"}, wantErr: `--pidfile "run/axigen.pid"`},
		{name: "relative cert dir", args: []string{"--cert-dir", "certs"}, wantErr: `--cert-dir "certs"`},
		{name: "stray argument", args: []string{"start"}, wantErr: `unexpected argument "start"`},
		{name: "user without password", args: []string{"--user", "admin"}, wantErr: "--user and --password-file go together"},
		{name: "relative password file", args: []string{"--user", "admin", "--password-file", "pw"}, wantErr: `--password-file "pw"`},
		{name: "bad version", args: []string{"--axigen-version", "ten"}, wantErr: `--axigen-version "ten"`},
		{name: "negative queue", args: []string{"--queue-size", "-1"}, wantErr: "--queue-size -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, port := range tt.want {
				if o.ports[name] != port {
					t.Errorf("%s port %d, want %d", name, o.ports[name], port)
				}
			}
		})
	}
}

func TestRunUsageErrorsExit2(t *testing.T) {
	if code := run(context.Background(), []string{"--base-port", "x"}, io.Discard, nil); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-h"}, io.Discard, nil); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

// startRun runs the stand-in in-process with args and returns its listeners' addresses
// once it is ready, and stop, which ends it and returns its exit status (failing t when
// it has not returned 10 s after the stop).
func startRun(t *testing.T, args ...string) (addrs map[string]string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan map[string]string, 1)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, ready) }()
	select {
	case addrs = <-ready:
	case code := <-done:
		t.Fatalf("run exited %d before it was ready", code)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	return addrs, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return within 10s of the stop")
			return -1
		}
	}
}

// TestRunServesThenCleansUp runs the stand-in in-process: every listener answers, the
// pidfile holds our pid while it runs, and ending the context closes everything and
// removes the pidfile.
func TestRunServesThenCleansUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "axigen.pid")
	addrs, stop := startRun(t, "--pidfile", pidfile, "--cert-dir", dir)
	if len(addrs) != numListeners {
		t.Fatalf("got %d listeners %v, want %d", len(addrs), addrs, numListeners)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pidfile holds %q (err %v), want our pid %d", b, err, os.Getpid())
	}
	for name, prefix := range map[string]string{"smtp": "220 ", "imap": "* OK", "pop3": "+OK", "cli": "Welcome to AXIGEN"} {
		if line := firstLine(t, addrs[name]); !strings.HasPrefix(line, prefix) {
			t.Errorf("%s greeting %q, want prefix %q", name, line, prefix)
		}
	}

	if code := stop(); code != 0 {
		t.Fatalf("exit %d after stop, want 0", code)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after stop (stat err %v)", err)
	}
	if c, err := net.Dial("tcp", addrs["smtp"]); err == nil {
		c.Close()
		t.Error("smtp still accepts connections after stop")
	}
}

// TestRunFailsOnBusyPort: a port in use is an error naming the listener, and no pidfile is
// left behind.
func TestRunFailsOnBusyPort(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "axigen.pid")
	var stderr strings.Builder
	code := run(context.Background(), []string{"--pop3-port", strconv.Itoa(port), "--pidfile", pidfile, "--cert-dir", dir}, &stderr, nil)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if want := "pop3 on port " + strconv.Itoa(port); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not name %q", stderr.String(), want)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile written although start failed (stat err %v)", err)
	}
}

func TestRemovePidfileKeepsAnotherInstancesPid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "axigen.pid")
	if err := writePidfile(path, 4242); err != nil {
		t.Fatal(err)
	}
	if err := removePidfile(path, 1111); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("another instance's pidfile was removed: %v", err)
	}
	if err := removePidfile(path, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("own pidfile not removed (stat err %v)", err)
	}
	if err := removePidfile(path, 4242); err != nil {
		t.Errorf("removing a missing pidfile: %v", err)
	}
}

// TestBinaryStopsOnSIGTERM builds the command and checks what the deployment scripts rely
// on: the process is named axigen-standin, writes its pidfile when ready, and SIGTERM
// makes it exit 0 and remove the pidfile.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "axigen-standin")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pidfile := filepath.Join(dir, "axigen.pid")
	cmd := exec.Command(bin, "--pidfile", pidfile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// One goroutine reads stderr to the end (the process's exit closes it): it signals
	// the "ready" log line, and Wait is called only after it is done.
	ready, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			if strings.Contains(lines.Text(), "msg=ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-drained:
		t.Fatal("stand-in exited before it logged msg=ready")
	case <-time.After(30 * time.Second):
		t.Fatal("stand-in not ready after 30s")
	}

	comm, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "axigen-standin" {
		t.Errorf("process name %q (err %v), want axigen-standin", comm, err)
	}
	if b, err := os.ReadFile(pidfile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("pidfile %q (err %v), want %d", b, err, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-drained:
	case <-time.After(30 * time.Second):
		t.Fatal("stand-in still running 30s after SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0", err)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after SIGTERM (stat err %v)", err)
	}
}

// firstLine connects to addr and returns the first line the server sends, bounded to 5s.
func firstLine(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		t.Fatalf("%s: %v", addr, err)
	}
	return line
}

// TestRunServesMetrics: with --user, --queue-size and --axigen-version, WebAdmin's /metrics
// answers the user with the queue and the CLI reports the version.
func TestRunServesMetrics(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, stop := startRun(t, "--cert-dir", dir, "--user", "admin", "--password-file", pw,
		"--queue-size", "42", "--axigen-version", "10.5.1")
	req, _ := http.NewRequest(http.MethodGet, "http://"+addrs["webadmin"]+"/metrics", nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "queue_size 42\n") {
		t.Errorf("/metrics: %d %q", resp.StatusCode, body)
	}
	c, err := net.Dial("tcp", addrs["cli"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET VERSION\r\n")); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), "+OK") {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("cli: %v after %q", err, got.String())
		}
	}
	if !strings.Contains(got.String(), "10.5.1|Linux|x86_64") {
		t.Errorf("GET VERSION answered %q", got.String())
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
