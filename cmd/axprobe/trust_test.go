package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/testfile"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestProbePasswordFileHostile is issue 13's "--password-file reads without a limit":
// /dev/zero ran out of memory, a FIFO hung past --timeout. Both end at once, exit 2, with
// the reason.
func TestProbePasswordFileHostile(t *testing.T) {
	for _, path := range []string{testfile.FIFO(t, "fifo"), "/dev/zero"} {
		code, _, stderr := runBounded(t, probeCommand, "imap://probe@127.0.0.1:1", "--password-file", path, "--timeout", "2s")
		if code != 2 || !strings.Contains(stderr, path+" is not a regular file") {
			t.Errorf("--password-file %s: exit %d, stderr %q; want 2 and why", path, code, stderr)
		}
	}
}

// hostileBanner is what a server controls and a terminal must never get raw: ESC]0;
// retitles the terminal, ESC[2J clears it, CSI (U+009B) is the one-byte ESC[.
const hostileBanner = "\x1b]0;pwned\x07\x1b[2J\u009b31mgone"

// TestProbeEscapesServerText: an Axigen CLI whose prompt carries terminal escapes (the
// probe error quotes it raw: "first prompt is <...>"); `axprobe probe` shows them escaped.
func TestProbeEscapesServerText(t *testing.T) {
	addr := testkit.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_, _ = io.WriteString(c, "Welcome to the CLI\r\n<"+hostileBanner+"> ")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, c) // until the probe hangs up
		c.Close()
	})
	code, stdout, stderr := runProbeCommand(t, "axigen-cli://"+addr, "--timeout", "5s")
	if code != 1 {
		t.Errorf("exit %d, want 1 (stdout %q, stderr %q)", code, stdout, stderr)
	}
	if strings.ContainsAny(stdout+stderr, "\x1b\x07\u009b") {
		t.Errorf("raw control characters reach the terminal:\n%q", stdout)
	}
	if !strings.Contains(stdout, `\x1b]0;pwned\a\x1b[2J\u009b31mgone`) {
		t.Errorf("the banner is not shown escaped:\n%s", stdout)
	}
}

// TestStatusEscapes: `axprobe status` shows server-controlled text (a check's error, the
// target's reason, a transition's reason) escaped.
func TestStatusEscapes(t *testing.T) {
	snap := &daemon.Snapshot{Targets: []daemon.TargetSnapshot{{
		Name: "axigen", State: "offline", Code: 100, Reason: "smtp: " + hostileBanner,
		Checks:      []daemon.CheckSnapshot{{Name: "imap", Address: "127.0.0.1:143", HasResult: true, Outcome: "auth", Error: "NO " + hostileBanner}},
		Transitions: []daemon.Transition{{From: "online", To: "offline", Reason: hostileBanner}},
	}}}
	var out bytes.Buffer
	writeStatus(&out, snap, time.Now())
	if strings.ContainsAny(out.String(), "\x1b\x07\u009b") {
		t.Errorf("raw control characters reach the terminal:\n%q", out.String())
	}
	if n := strings.Count(out.String(), `\x1b]0;pwned\a`); n != 3 {
		t.Errorf("escaped banner shown %d times, want 3:\n%s", n, out.String())
	}
}

// TestRunHTTPBindFailsBeforeStart: a port in use fails the start before "axprobe started"
// is logged (issue 13: the log announced a daemon that was about to exit).
func TestRunHTTPBindFailsBeforeStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "axprobe.yaml")
	yaml := "socket: " + filepath.Join(dir, "s.sock") + "\nhttp:\n  listen: " + taken.Addr().String() + "\n" + `targets:
  - name: axigen
    vip: 127.0.0.1
    checks:
      - { name: smtp, protocol: smtp, port: 1 }
`
	writeFile(t, config, yaml)
	code, _, stderr := runBounded(t, runCommand, "--config", config)
	if code != 1 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, log:\n%s\nwant 1 and the bind error", code, stderr)
	}
	if strings.Contains(stderr, "axprobe started") {
		t.Errorf("\"axprobe started\" logged before the bind failed:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); !os.IsNotExist(err) {
		t.Errorf("the socket was left behind: %v", err)
	}
}
