package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/testkit"
)

// impostorEnv makes the test binary, re-executed as nobody, serve a fake daemon on the
// socket it names (TestImpostorSocket).
const impostorEnv = "AXPROBE_TEST_IMPOSTOR"

// impostorSecret is what the impostor puts in its answer: it must not reach the output.
const impostorSecret = "impostor-says-s3cr3t"

// runImpostor answers "online, 110" to every connection on sock until SIGTERM.
func runImpostor(sock string) int {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "impostor:", err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; ln.Close() }()
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 0
		}
		fmt.Fprintf(c, "axprobe/1 code=110 state=online confidence=1 age=1s max_age=30s target=axigen reason=%q\n", impostorSecret)
		c.Close()
	}
}

// TestImpostorSocket is issue 13's "an unprivileged user replaced the live socket with a
// fake daemon and the root shim exited 110": the process answering on the socket runs as
// nobody. The shim must not believe it, must say why, and must not repeat what it said.
func TestImpostorSocket(t *testing.T) {
	// The attack's setting: a socket directory anyone can write.
	dir := sockDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	cmd := testkit.AsNobody(t, dir, "impostor", impostorEnv+"="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	testkit.FirstLine(t, out, "listening", "impostor")
	if fi, err := os.Stat(sock); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Fatalf("impostor's socket: %v", err)
	}
	os.Chmod(sock, 0o777)

	// A fallback file whose direct check would say 110: the shim must not fall back to it
	// when an impostor holds the socket.
	writeFallback(t, sock, "127.0.0.1", openPort(t))
	code, stdout, stderr := run(t, "--socket", sock, "--target", "axigen", "--timeout", "3s")
	if code != 100 {
		t.Errorf("exit %d with an impostor on the socket, want 100 (stdout %q)", code, stdout)
	}
	if !strings.Contains(stderr, "answered by uid 65534, not by the daemon's") {
		t.Errorf("stderr does not say why: %q", stderr)
	}
	if strings.Contains(stdout+stderr, impostorSecret) {
		t.Errorf("the impostor's answer reached the output: %q %q", stdout, stderr)
	}
}

// TestFallbackFileHostile: a fallback file that is a symlink (to a secret), owned by
// another user or writable by others is refused: 100, the reason on stderr, none of its
// content. The same facts in a good file give 110.
func TestFallbackFileHostile(t *testing.T) {
	const secretLine = "root:$6$s3cr3t-hash-of-root:19000:0:99999:7:::"
	secret := filepath.Join(sockDir(t), "shadow")
	if err := os.WriteFile(secret, []byte(secretLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spoil func(path string) error
		want  string
	}{
		{"symlink to a secret", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(secret, p)
		}, "is a symbolic link; not following it"},
		{"writable by others", func(p string) error { return os.Chmod(p, 0o666) }, "others than its owner can write it"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name  string
			spoil func(path string) error
			want  string
		}{"owned by nobody", func(p string) error { return os.Chown(p, 65534, 65534) }, "owned by uid 65534"})
	} else {
		t.Log("not root: the foreign-owner case runs only as root (CI runs it)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sock := filepath.Join(sockDir(t), "none.sock")
			writeFallback(t, sock, "127.0.0.1", openPort(t))
			args := []string{"--socket", sock, "--target", "axigen", "--timeout", "3s"}
			if code, out, errOut := run(t, args...); code != 110 {
				t.Fatalf("the good file: exit %d (%q, %q), want 110", code, out, errOut)
			}
			if err := c.spoil(ipc.FallbackPath(sock)); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run(t, args...)
			if code != 100 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want 100 and %q", code, errOut, c.want)
			}
			if strings.Contains(out+errOut, "s3cr3t") || strings.Contains(out+errOut, "root:") {
				t.Errorf("the output quotes the file's content: %q %q", out, errOut)
			}
		})
	}
}

// TestIdleFloodKeepsTheVerdict is issue 13's "busy turns offline into online": with 300
// idle connections filling the daemon's cap, the shim must still report the daemon's 100,
// not fall back to a direct check that finds the port open and says 110.
func TestIdleFloodKeepsTheVerdict(t *testing.T) {
	sock := fakeDaemon(t, answer(100, "offline"))
	writeFallback(t, sock, "127.0.0.1", openPort(t)) // the direct check would say 110
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The flood is in once a PING past it is turned away as busy (past the cap only
	// MONITOR is answered).
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		err := ipc.Ping(ctx, sock)
		cancel()
		var se *ipc.ServerError
		if errorsAs(err, &se) && se.Message == "busy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not fill the cap within 20 s (last PING: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out, errOut := run(t, "--socket", sock, "--target", "axigen", "--timeout", "3s")
	if code != 100 || strings.Contains(out, "direct check") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the daemon's 100", code, out, errOut)
	}
}

// TestEscapesFromTheDaemon: an ERR reply with terminal escapes (ESC]0; retitles a terminal,
// ESC[2J clears it) reaches the shim's stderr escaped.
func TestEscapesFromTheDaemon(t *testing.T) {
	path := testkit.Listen(t, "unix", filepath.Join(sockDir(t), "d.sock"), func(c net.Conn) {
		_, _ = io.WriteString(c, "axprobe/1 ERR \x1b]0;pwned\x07\x1b[2J\u009b31m gone\n")
		c.Close()
	})
	code, out, errOut := run(t, "--socket", path, "--timeout", "3s")
	if code != 100 {
		t.Errorf("exit %d, want 100", code)
	}
	if strings.ContainsAny(out+errOut, "\x1b\x07\u009b") {
		t.Errorf("raw control characters in the output: %q %q", out, errOut)
	}
	if !strings.Contains(errOut, `\x1b]0;pwned\a\x1b[2J\u009b31m gone`) {
		t.Errorf("stderr does not show the escaped text: %q", errOut)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
