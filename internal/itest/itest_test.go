package itest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestRunCode(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "echo out; exit 3"}, 3},
		{[]string{"/nonexistent/command"}, -1},
	} {
		if out, code := RunCode(30*time.Second, c.argv...); code != c.want {
			t.Errorf("%v: exit %d (%q), want %d", c.argv, code, out, c.want)
		}
	}
	if _, err := RunErr("sh", "-c", "echo why >&2; exit 1"); err == nil || err.Error() != "sh: exit 1: why" {
		t.Errorf("RunErr of a failing command: %v, want its exit status and output", err)
	}
}

// TestStartProcStoppedWhenTestEnds: the cleanup of the test that started a process stops
// it, also when it was stopped with SIGSTOP, and its output is in the log file.
func TestStartProcStoppedWhenTestEnds(t *testing.T) {
	log := filepath.Join(t.TempDir(), "p.log")
	var p *Proc
	t.Run("starts", func(t *testing.T) {
		p = StartProc(t, "sleeper", log, "sh", "-c", "echo started; exec sleep 3600")
		WaitUntil(t, 30*time.Second, 10*time.Millisecond, "the log line", func() bool {
			b, _ := os.ReadFile(log)
			return string(b) == "started\n"
		})
		p.Signal(syscall.SIGSTOP) // the cleanup must still end it
	})
	if !p.Exited() {
		t.Fatalf("%s (pid %d) still running after the test that started it ended", p.Name, p.Pid())
	}
}

// TestDaemonConfig: the start of a config, completed with a target, is YAML with the
// socket, the listener and the log level where the daemon reads them.
func TestDaemonConfig(t *testing.T) {
	var cfg struct {
		Socket  string
		HTTP    struct{ Listen string }
		Log     struct{ Level string }
		Targets []struct{ Name string }
	}
	text := DaemonConfig("/run/a.sock", "127.0.0.1:9100", true) + "  - name: axigen\n"
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if cfg.Socket != "/run/a.sock" || cfg.HTTP.Listen != "127.0.0.1:9100" || cfg.Log.Level != "debug" ||
		len(cfg.Targets) != 1 || cfg.Targets[0].Name != "axigen" {
		t.Errorf("parsed %+v from\n%s", cfg, text)
	}
	if text := DaemonConfig("/run/a.sock", "", false); text != "socket: /run/a.sock\nhttp:\n  listen: \"\"\ntargets:\n" {
		t.Errorf("without a listener or debug: %q", text)
	}
}
