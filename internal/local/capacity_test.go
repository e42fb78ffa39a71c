package local

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCapacityMeasure(t *testing.T) {
	p := &CapacityProbe{Path: t.TempDir()}
	c, err := p.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.SizeBytes == 0 || c.FreeBytes > c.SizeBytes || c.FreeInodes > c.Inodes {
		t.Errorf("capacity %+v", c)
	}
	if pct := c.FreeBytesPercent(); pct < 0 || pct > 100 {
		t.Errorf("free %v%%", pct)
	}
	_, err = (&CapacityProbe{Path: "/nonexistent/axprobe"}).Measure(context.Background())
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "/nonexistent/axprobe") {
		t.Errorf("missing path: %v", err)
	}
}

func TestCapacityFromStatfs(t *testing.T) {
	st := syscall.Statfs_t{Bsize: 4096, Frsize: 1024, Blocks: 1000, Bavail: 100, Bfree: 150, Files: 50, Ffree: 5}
	c := capacityOf(&st)
	want := Capacity{SizeBytes: 1024000, FreeBytes: 102400, Inodes: 50, FreeInodes: 5}
	if c != want {
		t.Errorf("capacityOf = %+v, want %+v (f_frsize is the unit, f_bavail the free room)", c, want)
	}
	if p, ok := (Capacity{}).FreeInodesPercent(); ok || p != 0 {
		t.Errorf("no inode count: %v %v", p, ok)
	}
}

// TestCapacityBackToBack: a Measure that starts the moment the previous one returned must
// find the previous statfs finished. The answer used to be sent before the statfs was
// marked finished, so a back-to-back Measure could fail with "previous statfs still stuck"
// (TestStorageGateOnFullTmpfs did so under load). A no-op statfs makes the window as wide
// as it gets.
func TestCapacityBackToBack(t *testing.T) {
	p := &CapacityProbe{Path: "/quick", statfs: func(string, *syscall.Statfs_t) error { return nil }}
	for i := range 5000 {
		if _, err := p.Measure(t.Context()); err != nil {
			t.Fatalf("Measure %d right after the previous one returned: %v", i, err)
		}
	}
}

// A statfs stuck on a hung filesystem returns at the caller's deadline, and no second one
// piles onto it until it comes back.
func TestCapacityStuckStatfs(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	p := &CapacityProbe{Path: "/hung", statfs: func(string, *syscall.Statfs_t) error {
		entered <- struct{}{}
		<-release
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Measure(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("stuck statfs: %v", err)
	}
	if _, err := p.Measure(context.Background()); err == nil || !strings.Contains(err.Error(), "previous statfs still stuck") {
		t.Fatalf("second measure while stuck: %v", err)
	}
	if len(entered) != 1 {
		t.Fatalf("%d statfs calls started, want 1", len(entered))
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := p.Measure(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after the statfs returned: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
