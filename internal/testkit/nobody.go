package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Main is the TestMain of a package whose tests run this test binary again as another
// user (AsNobody): when the environment variable env is set, the binary plays that part,
// part(env's value), and exits with its code; otherwise it runs the tests and fails them
// if any leaves a goroutine behind.
func Main(m *testing.M, env string, part func(value string) int) {
	if v := os.Getenv(env); v != "" {
		os.Exit(part(v))
	}
	goleak.VerifyTestMain(m)
}

// AsNobody returns the command that runs this test binary as the user nobody (uid and gid
// 65534, via setpriv) with env added to the environment: a test's TestMain that finds that
// variable plays the other user's part. The binary is copied to dir/name first, out of
// the build cache nobody cannot read; dir must let nobody in. It skips the test unless it
// runs as root with setpriv installed.
func AsNobody(t testing.TB, dir, name string, env ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to run a process as nobody (CI runs it as root with AXPROBE_INTEGRATION=1)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipped: setpriv (util-linux) is not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}
