package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs with the given options on a fresh temp dir and unmounts it when
// the test ends. It skips the test when this process may not mount (not root, or no
// CAP_SYS_ADMIN in this container).
func mountTmpfs(t *testing.T, flags uintptr, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, opts); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestStorageWritableDir(t *testing.T) {
	dir := t.TempDir()
	s := &Storage{Path: dir, Canary: "canary"}
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check(%s): %v", dir, err)
	}
	// Twice in a row: the first write finished, so the second is allowed to start.
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("second Check(%s): %v", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("canary left behind: %v", entries)
	}
}

func TestStorageNotMounted(t *testing.T) {
	dir := t.TempDir()
	err := CheckStorage(t.Context(), dir, "")
	if err == nil || !strings.Contains(err.Error(), "not a mount point") || !strings.Contains(err.Error(), dir) {
		t.Errorf("CheckStorage(plain dir) = %v, want a not-a-mount-point error naming %s", err, dir)
	}
	ok, err := IsMountPoint(dir)
	if err != nil || ok {
		t.Errorf("IsMountPoint(plain dir) = %v, %v", ok, err)
	}
	if ok, err := IsMountPoint("/"); err != nil || !ok {
		t.Errorf("IsMountPoint(/) = %v, %v", ok, err)
	}
	if _, err := IsMountPoint(filepath.Join(dir, "missing")); err == nil {
		t.Error("IsMountPoint(missing) succeeded")
	}
}

func TestStorageMountedTmpfs(t *testing.T) {
	dir := mountTmpfs(t, 0, "size=1m")
	if err := CheckStorage(t.Context(), dir, ""); err != nil {
		t.Errorf("CheckStorage(tmpfs): %v", err)
	}
}

func TestStorageBindMountSameDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: bind mounts need root")
	}
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("skipped: cannot bind mount here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dst, syscall.MNT_DETACH) })
	if ok, err := IsMountPoint(dst); err != nil || !ok {
		t.Errorf("IsMountPoint(bind mount) = %v, %v; want true from mountinfo", ok, err)
	}
}

func TestStorageReadOnly(t *testing.T) {
	dir := mountTmpfs(t, syscall.MS_RDONLY, "size=1m")
	err := CheckStorage(t.Context(), dir, "")
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), dir) {
		t.Errorf("CheckStorage(read-only) = %v, want EROFS naming %s", err, dir)
	}
}

func TestStorageFull(t *testing.T) {
	dir := mountTmpfs(t, 0, "size=64k")
	// Fill the filesystem; the loop ends at ENOSPC, bounded by the tmpfs size.
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for i := 0; i < 64; i++ {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling a 64k tmpfs: got %v, want ENOSPC", err)
	}
	err = CheckStorage(t.Context(), dir, "")
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) {
		t.Errorf("CheckStorage(full) = %v, want ENOSPC naming %s", err, dir)
	}
}

// TestStorageStuck: a write that never returns makes Check time out at the deadline, and
// later Checks fail at once without starting a second write until the first returns.
func TestStorageStuck(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var calls atomic.Int32
	s := &Storage{Path: t.TempDir()}
	s.write = func(string) error {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return nil
	}

	// The deadline passes (here: the context is canceled) while the write hangs.
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	err := s.Check(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "did not finish in time") {
		t.Fatalf("stuck Check = %v, want a did-not-finish error", err)
	}
	err = s.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "still stuck") {
		t.Errorf("Check while stuck = %v, want a still-stuck error", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("write started %d times while stuck, want 1", n)
	}

	close(release)
	s.mu.Lock()
	finished := s.inflight
	s.mu.Unlock()
	<-finished
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("Check after the stuck write returned: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("write started %d times, want 2", n)
	}
}

func TestStorageExpiredContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := &Storage{Path: t.TempDir()}
	if err := s.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Check(canceled) = %v", err)
	}
	if err := (&Storage{}).Check(t.Context()); err == nil {
		t.Error("Check without a path succeeded")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/a\040b`: "/mnt/a b",
		`/plain`:      "/plain",
		`/bad\04`:     `/bad\04`,
		`/tab\011x`:   "/tab\tx",
		`\`:           `\`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
