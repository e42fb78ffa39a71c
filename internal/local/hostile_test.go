package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/axprobe/axprobe/internal/testfile"
)

// TestStorageBackToBack: a Check that starts the moment the previous one returned must
// find the previous write finished. The result used to be sent before the write was marked
// finished, so about one Check in 300 failed with "still stuck": a false gate failure, and
// a failover. A no-op write makes the window as wide as it gets.
func TestStorageBackToBack(t *testing.T) {
	s := &Storage{Path: t.TempDir()}
	s.write = func(string) error { return nil }
	for i := range 5000 {
		if err := s.Check(t.Context()); err != nil {
			t.Fatalf("Check %d right after the previous one returned: %v", i, err)
		}
	}
}

// TestCanarySymlinkLeavesVictimUntouched: the storage directory belongs to the Axigen
// user, who plants the canary's name as a symlink to a file only root may write. The root
// daemon must not truncate or write the target; it removes the link and writes its own
// canary.
func TestCanarySymlinkLeavesVictimUntouched(t *testing.T) {
	dir := t.TempDir()
	const secret = "root:$y$secret-hash:19000:0:99999:7:::\n"
	victim := testfile.Write(t, "shadow", secret)
	if err := os.Symlink(victim, filepath.Join(dir, "canary")); err != nil {
		t.Fatal(err)
	}
	s := &Storage{Path: dir, Canary: "canary"}
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check with a planted symlink: %v", err)
	}
	got, err := os.ReadFile(victim)
	if err != nil || string(got) != secret {
		t.Fatalf("victim after Check = %q, %v; want it untouched", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind in the storage directory: %v", entries)
	}
}

// TestCanaryDanglingSymlinkNotCreated: a dangling symlink must not make the daemon create
// its target (O_CREAT would, through the link).
func TestCanaryDanglingSymlinkNotCreated(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "created-by-root")
	if err := os.Symlink(target, filepath.Join(dir, "canary")); err != nil {
		t.Fatal(err)
	}
	s := &Storage{Path: dir, Canary: "canary"}
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check with a dangling symlink: %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target exists after Check (%v): the daemon created it", err)
	}
}

// TestCanaryStaleFileReplaced: a canary left by a crash does not fail the gate.
func TestCanaryStaleFileReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "canary"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Storage{Path: dir, Canary: "canary"}).Check(t.Context()); err != nil {
		t.Fatalf("Check with a stale canary: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// checkProcessWithin runs CheckProcess and fails the test if it has not returned within a
// generous deadline (it used to block for good on a FIFO).
func checkProcessWithin(t *testing.T, pidfile string) error {
	t.Helper()
	return testfile.Within(t, "CheckProcess("+pidfile+")", func() error { _, err := CheckProcess(pidfile, ""); return err })
}

// TestPidFileFIFO: a FIFO in the pidfile's place used to hang the process gate for good.
func TestPidFileFIFO(t *testing.T) {
	err := checkProcessWithin(t, testfile.FIFO(t, "axigen.pid"))
	if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
		t.Errorf("CheckProcess(FIFO) = %v, want a not-a-regular-file error", err)
	}
}

// TestPidFileHostileTargets: a pidfile linked to a device or to a secret file gives an
// error that names the pidfile and quotes none of the content.
func TestPidFileHostileTargets(t *testing.T) {
	err := checkProcessWithin(t, testfile.Link(t, "zero.pid", "/dev/zero"))
	if err == nil || !strings.Contains(err.Error(), "not a regular file (a character device)") {
		t.Errorf("CheckProcess(/dev/zero) = %v, want a not-a-regular-file error", err)
	}

	const secret = "root:$y$secret"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "shadow")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pid")
	if err := os.Symlink(secretFile, link); err != nil {
		t.Fatal(err)
	}
	err = checkProcessWithin(t, link)
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), link) {
		t.Errorf("CheckProcess(link to a secret) = %v, want an error naming the pidfile without its content", err)
	}
}

// TestBoundedSharesOneStuckRead: callers of a read stuck in the kernel get an error when
// their deadline passes, and start no second read while the first is stuck.
func TestBoundedSharesOneStuckRead(t *testing.T) {
	var b Bounded
	release := make(chan struct{})
	var calls atomic.Int32
	started := make(chan struct{})
	stuck := func() error {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return nil
	}

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := b.Do(ctx, "pidfile /x", stuck); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "pidfile /x") {
				t.Errorf("Do while stuck = %v, want a canceled error naming the read", err)
			}
		})
	}
	wg.Wait()
	<-started // the one read Do launched has begun (it may begin after every caller gave up)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d reads started while one was stuck, want 1", n)
	}
	close(release)
	// Once the stuck read returns, the next Do runs a fresh read.
	for calls.Load() < 2 {
		if err := b.Do(t.Context(), "pidfile /x", func() error { calls.Add(1); return nil }); err != nil {
			t.Fatalf("Do after release: %v", err)
		}
	}
}

func TestMountListed(t *testing.T) {
	if ok, err := MountListed("/"); err != nil || !ok {
		t.Errorf("MountListed(/) = %v, %v", ok, err)
	}
	if ok, err := MountListed(t.TempDir()); err != nil || ok {
		t.Errorf("MountListed(plain dir) = %v, %v", ok, err)
	}
	dir := mountTmpfs(t, 0, "size=1m")
	if ok, err := MountListed(dir); err != nil || !ok {
		t.Errorf("MountListed(tmpfs) = %v, %v", ok, err)
	}
}
