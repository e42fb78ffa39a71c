package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

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
