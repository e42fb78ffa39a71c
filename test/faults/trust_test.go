package faults

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
)

// TestTrustBoundaries is issue 13's attacks against the real binaries, as root, with a
// hostile local user played by nobody (setpriv): the daemon holds a target offline (its
// SMTP greeting is a 554) while the shim's direct check would find the VIP local, the
// process running and the port open, so every attack that pushes the shim to its fallback
// or to a fake daemon shows as 110 instead of 100. docs/SECURITY.md is the model.
func TestTrustBoundaries(t *testing.T) {
	integration(t)
	axprobe, monitor := itest.Binary(t, "axprobe"), itest.Binary(t, "axprobe-monitor")
	setpriv := itest.LookTool(t, "setpriv")
	dir := itest.ShortDir(t, "axf-")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	smtp := startFake(t, mailtest.StartSMTP)
	smtp.SetFault(mailtest.FaultRejectBanner)
	pidfile := filepath.Join(dir, "axigen.pid")
	startSleeper(t, dir, pidfile)
	runDir := filepath.Join(dir, "run")
	socket := filepath.Join(runDir, "axprobe.sock")
	config := filepath.Join(dir, "axprobe.yaml")
	yaml := itest.DaemonConfig(socket, "", false) + fmt.Sprintf(`  - name: axigen
    vip: 127.0.0.1
%s    interval: 600ms
    fast_interval: 100ms
    timeout: 500ms
    fall: 2
    checks:
      - { name: smtp, protocol: smtp, port: %s }
`, processGate(pidfile, "sleep"), itest.Port(smtp.Addr()))
	itest.WriteFile(t, config, yaml)
	shimArgs := []string{"--socket", socket, "--target", "axigen", "--timeout", "3s"}
	shimOut := func() (int, string) {
		r := shimBinary(monitor, "", shimArgs...)
		return r.code, r.output()
	}

	t.Run("socket directory others can write is refused", func(t *testing.T) {
		open := filepath.Join(dir, "open")
		if err := os.Mkdir(open, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(open, 0o777)
		out, err := itest.RunErr(axprobe, "run", "--config", config, "--socket", filepath.Join(open, "a.sock"))
		if err == nil || !strings.Contains(out, "users other than root can write it") {
			t.Errorf("axprobe run with its socket in a 0777 directory: %v\n%s", err, out)
		}
	})

	logPath := filepath.Join(dir, "axprobe.log")
	d := itest.StartProc(t, "axprobe run", logPath, axprobe, "run", "--config", config)
	itest.WaitUntil(t, 30*time.Second, 50*time.Millisecond, "the daemon to hold the target offline", func() bool {
		a, err := monitorCode(socket, "axigen", time.Second)
		return err == nil && a.Code == 100 && a.State == "offline"
	})
	if code, out := shimOut(); code != 100 {
		t.Fatalf("shim before any attack: exit %d\n%s", code, out)
	}

	t.Run("300 idle connections do not change the shim's code", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 300 {
			c, err := net.DialTimeout("unix", socket, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		itest.WaitUntil(t, 20*time.Second, 20*time.Millisecond, "the cap to fill (PING answered busy)", func() bool {
			c, err := net.DialTimeout("unix", socket, time.Second)
			if err != nil {
				return false
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprint(c, "PING\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			return strings.Contains(line, "busy")
		})
		if code, out := shimOut(); code != 100 || strings.Contains(out, "direct check") {
			t.Errorf("shim behind 300 idle connections: exit %d, want the daemon's 100\n%s", code, out)
		}
	})

	t.Run("a deleted socket is back within seconds", func(t *testing.T) {
		if err := os.Remove(socket); err != nil {
			t.Fatal(err)
		}
		took := itest.WaitUntil(t, 10*time.Second, 50*time.Millisecond, "the socket to answer again", func() bool {
			_, err := monitorCode(socket, "axigen", time.Second)
			return err == nil
		})
		t.Logf("socket back after %s", took.Round(time.Millisecond))
		itest.WaitUntil(t, 10*time.Second, 50*time.Millisecond, "the log to say so", func() bool {
			b, _ := os.ReadFile(logPath)
			return strings.Contains(string(b), "socket file recreated")
		})
	})

	t.Run("a symlinked fallback file is refused without echo", func(t *testing.T) {
		secret := filepath.Join(dir, "shadow")
		if err := os.WriteFile(secret, []byte("root:$6$s3cr3t-of-root:19000:0:99999:7:::\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A socket nobody serves, so the shim goes to its fallback file: a link to a secret.
		none := filepath.Join(runDir, "nothing.sock")
		if err := os.Symlink(secret, none+".fallback"); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(none + ".fallback")
		r := shimBinary(monitor, "", "--socket", none, "--timeout", "3s")
		code, out := r.code, r.output()
		if code != 100 || !strings.Contains(out, "symbolic link") || strings.Contains(out, "s3cr3t") {
			t.Errorf("shim with a symlinked fallback file: exit %d\n%s", code, out)
		}
	})

	t.Run("an impostor socket of nobody gives 100 and is not removed by the daemon", func(t *testing.T) {
		// The operator's mistake the daemon cannot prevent once running: the directory
		// opened to everyone. nobody swaps the socket for its own fake daemon.
		if err := os.Chmod(runDir, 0o777); err != nil {
			t.Fatal(err)
		}
		fake := filepath.Join(dir, "fake.sh")
		script := `#!/bin/sh
rm -f "$1" && exec python3 -c '
import socket, sys, os
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"axprobe/1 code=110 state=online confidence=1 age=1s max_age=30s target=axigen reason=\"impostor-s3cr3t\"\n"); c.close()
' "$1"
`
		if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		impostor := itest.StartProc(t, "impostor", filepath.Join(dir, "impostor.Log"), setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", fake, socket)
		itest.WaitUntil(t, 20*time.Second, 50*time.Millisecond, "the impostor to listen", func() bool {
			b, _ := os.ReadFile(impostor.Log)
			return strings.Contains(string(b), "listening")
		})
		code, out := shimOut()
		if code != 100 || !strings.Contains(out, "answered by uid 65534") || strings.Contains(out, "impostor-s3cr3t") {
			t.Errorf("shim with nobody's fake daemon on the socket: exit %d\n%s", code, out)
		}
		itest.WaitUntil(t, 10*time.Second, 50*time.Millisecond, "the daemon to log the replaced socket", func() bool {
			b, _ := os.ReadFile(logPath)
			return strings.Contains(string(b), "socket file unusable")
		})
		d.Stop(t, 10*time.Second)
		fi, err := os.Lstat(socket)
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Errorf("the daemon removed nobody's socket on shutdown: %v", err)
		}
	})
}
