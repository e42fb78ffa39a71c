// Package itest is the harness the integration suites share (test/faults, test/alerting,
// test/pacemaker): it gates them on AXPROBE_INTEGRATION=1 and root, builds the commands
// they run once per test binary, starts processes with their output in a log file and
// stops them when the test ends, runs commands with a bound, and waits on conditions of
// other processes with a deadline. docs/TESTING.md says how to run the suites.
package itest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/realserver"
)

// EnvVar enables the integration suites when set to "1" (they need root).
const EnvVar = realserver.EnvVar

// Enabled reports whether the integration suites are enabled.
func Enabled() bool { return os.Getenv(EnvVar) == "1" }

// Require skips t unless the suites are enabled, saying how to enable them (suite names
// what the suite needs), and fails it when they are enabled but the process is not root:
// CI must not pass by skipping.
func Require(t testing.TB, suite string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("%s: run with %s=1 as root (after scripts/install-test-deps.sh)", suite, EnvVar)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s needs root; euid is %d", suite, os.Geteuid())
	}
}

// binDir holds the commands Main built or found; "" until then.
var binDir string

// BinDir returns the directory holding the commands Main provided ("" when the suites
// are not enabled). Tests that need a command call Binary, which checks it is there.
func BinDir() string { return binDir }

// Main is the body of a suite's TestMain. When the suites are enabled it first provides
// the commands cmds (names under ./cmd/): from the directory the environment variable
// dirEnv names, when dirEnv is not "" and set, or else built with the go tool that runs
// the tests into a temporary directory, removed after the tests. A command that does not
// build is reported on stderr; the tests that ask Binary for it fail, naming it, and the
// others still run.
func Main(m *testing.M, suite, dirEnv string, cmds ...string) int {
	if Enabled() {
		if dirEnv != "" {
			binDir = os.Getenv(dirEnv)
		}
		if binDir == "" {
			dir, err := os.MkdirTemp("", "axprobe-"+suite+"-bin-")
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
				return 1
			}
			defer os.RemoveAll(dir)
			if err := build(dir, cmds); err != nil {
				fmt.Fprintf(os.Stderr, "%s: building the commands failed: %v\n", suite, err)
			}
			binDir = dir
		}
	}
	return m.Run()
}

// build builds each command into dir; a command that does not build is reported in the
// error and the others are still built.
func build(dir string, cmds []string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	var errs []error
	for _, c := range cmds {
		args := []string{"build", "-o", filepath.Join(dir, c), "github.com/axprobe/axprobe/cmd/" + c}
		if out, code := RunCode(5*time.Minute, append([]string{gobin}, args...)...); code != 0 {
			errs = append(errs, fmt.Errorf("go %s: exit %d\n%s", strings.Join(args, " "), code, out))
		}
	}
	return errors.Join(errs...)
}

// Binary returns the path of a command Main provided, failing t when it is missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if binDir == "" {
		t.Fatalf("no directory holding %s: the suites are not enabled, or TestMain does not call itest.Main", name)
	}
	path := filepath.Join(binDir, name)
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("binary %s missing or not executable (%v): see the build error printed by TestMain", path, err)
	}
	return path
}

// DaemonConfig begins an axprobe daemon config (docs/CONFIG.md): the socket, the web
// listener (listen; "" for none) and, when debug, debug logs. It ends with "targets:",
// for the caller's targets.
func DaemonConfig(socket, listen string, debug bool) string {
	cfg := fmt.Sprintf("socket: %s\nhttp:\n  listen: %q\n", socket, listen)
	if debug {
		cfg += "log:\n  level: debug\n"
	}
	return cfg + "targets:\n"
}

// LookTool returns the path of a system tool, failing t when it is missing.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by this suite and is not installed (scripts/install-test-deps.sh): %v", name, err)
	}
	return path
}

// ShortDir returns a fresh directory under /tmp named prefix and a few random characters,
// removed when t ends: Unix socket paths inside it stay under 108 bytes.
func ShortDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// WriteFile writes content to path (mode 0644), failing t on error.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
