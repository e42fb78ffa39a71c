package shim

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool returns the go command, or skips the test.
func goTool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short: runs the go tool")
	}
	for _, p := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "go"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("skipped: no go tool to build with")
	return ""
}

// TestShimDependencies enforces the shim's start-up budget: axprobe-monitor links only the
// standard library and axprobe's ipc, local, vcs and shim packages, and none of the standard
// packages whose init is known to be costly.
func TestShimDependencies(t *testing.T) {
	out, err := exec.Command(goTool(t), "list", "-deps", "-f", "{{if not .Standard}}+{{end}}{{.ImportPath}}",
		"github.com/axprobe/axprobe/cmd/axprobe-monitor").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/axprobe/axprobe/cmd/axprobe-monitor": true,
		"github.com/axprobe/axprobe/internal/shim":       true,
		"github.com/axprobe/axprobe/internal/ipc":        true,
		"github.com/axprobe/axprobe/internal/local":      true,
		"github.com/axprobe/axprobe/internal/vcs":        true,
	}
	forbiddenStd := map[string]bool{"net/http": true, "encoding/json": true, "crypto/tls": true, "log/slog": true}
	for _, line := range strings.Fields(string(out)) {
		if pkg, ok := strings.CutPrefix(line, "+"); ok {
			if !allowed[pkg] {
				t.Errorf("axprobe-monitor links %s: only the standard library, internal/ipc, internal/local and internal/vcs are allowed", pkg)
			}
		} else if forbiddenStd[line] {
			t.Errorf("axprobe-monitor links %s, whose package init slows every start", line)
		}
	}
}

// TestBinaryEndToEnd builds axprobe-monitor and runs it as VCS would, checking the real
// process's exit code.
func TestBinaryEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "axprobe-monitor")
	build := exec.Command(goTool(t), "build", "-o", bin, "github.com/axprobe/axprobe/cmd/axprobe-monitor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	healthy := fakeDaemon(t, answer(110, "online"))
	offline := fakeDaemon(t, answer(100, "offline"))
	missing := filepath.Join(sockDir(t), "none.sock")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--socket", healthy}, 110, "axprobe/1 code=110 state=online"},
		{[]string{"axigen_res", "ProbeSocket", "1", healthy, "ProbeTarget", "1", "axigen"}, 110, "code=110"},
		{[]string{"--socket", offline, "--target", "axigen"}, 100, "code=100 state=offline"},
		{[]string{"--socket", missing, "--on-unavailable", "offline"}, 100, "daemon unavailable"},
		{[]string{"--socket", missing, "--on-unavailable", "unknown"}, 99, "state=unknown"},
		{[]string{"--socket", missing}, 100, "cannot read the fallback file"},
		{[]string{"--help"}, 99, "Exit codes:"},
		{[]string{"--bogus"}, 99, ""},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("%q: %v (want exit %d)", tc.args, err, tc.code)
			continue
		}
		if exit.ExitCode() != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("%q: exit %d, stdout %q; want %d and %q", tc.args, exit.ExitCode(), out, tc.code, tc.out)
		}
	}
}
