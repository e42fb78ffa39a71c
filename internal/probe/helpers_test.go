package probe

import (
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs with the mount options data (e.g. "size=1m") on the existing
// directory dir, nosuid and nodev, and unmounts it when the test ends, whatever happened
// (a busy mount is reported and detached rather than left behind). It needs root; the
// error is the mount's.
func mountTmpfs(t *testing.T, dir, data string) error {
	t.Helper()
	if err := syscall.Mount("axprobe-test", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, data); err != nil {
		return err
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v; detaching", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return nil
}

// fakeFor returns the fake of fakes() for protocol.
func fakeFor(t testing.TB, protocol string) fake {
	t.Helper()
	for _, f := range fakes() {
		if f.protocol == protocol {
			return f
		}
	}
	t.Fatalf("no fake for %s", protocol)
	return fake{}
}
