package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/local"
)

func TestStorageGateGradesCapacity(t *testing.T) {
	g := storageGate{storage: &local.Storage{Path: "/srv/axigen"}, degraded: 10, failed: 2}
	for _, tc := range []struct {
		c        local.Capacity
		degraded string
		failed   string
	}{
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 500, Inodes: 100, FreeInodes: 50}},
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 100, Inodes: 100, FreeInodes: 10}}, // at the line: not below
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 99, Inodes: 100, FreeInodes: 50}, degraded: "free space 9.90% (99 of 1000 bytes), below degraded_free_percent 10"},
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 500, Inodes: 100, FreeInodes: 5}, degraded: "free inodes 5.00% (5 of 100 inodes)"},
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 500}, degraded: ""}, // no inode count (btrfs): space only
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 19, Inodes: 100, FreeInodes: 50}, failed: "free space 1.90% (19 of 1000 bytes), below failed_free_percent 2"},
		{c: local.Capacity{SizeBytes: 1000, FreeBytes: 500, Inodes: 100, FreeInodes: 1}, failed: "free inodes 1.00%"},
	} {
		tr := NewTrace()
		tr.Begin("capacity")
		err := g.grade(tr, tc.c)
		reason, detail := tr.Degraded()
		switch {
		case tc.failed != "":
			if pe := wantFail(t, err, ReasonLocal, "capacity"); !strings.Contains(pe.Error(), tc.failed) || !strings.Contains(pe.Error(), "/srv/axigen") {
				t.Errorf("%+v: %v, want %q", tc.c, pe, tc.failed)
			}
		case err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case (tc.degraded == "") != (reason == "") || !strings.Contains(detail, tc.degraded):
			t.Errorf("%+v: degraded %q %q, want %q", tc.c, reason, detail, tc.degraded)
		case tc.degraded != "" && reason != "storage_low":
			t.Errorf("reason %q", reason)
		}
	}
	// 0 disables a level.
	off := storageGate{storage: &local.Storage{Path: "/x"}}
	tr := NewTrace()
	if err := off.grade(tr, local.Capacity{SizeBytes: 1000, Inodes: 10}); err != nil {
		t.Errorf("disabled levels: %v", err)
	}
	if r, _ := tr.Degraded(); r != "" {
		t.Errorf("disabled levels degraded %q", r)
	}
	for _, bad := range []Spec{
		{Protocol: "storage", StoragePath: "/x", DegradedFreePercent: 101},
		{Protocol: "storage", StoragePath: "/x", FailedFreePercent: -1},
	} {
		if _, err := New(bad); err == nil || !strings.Contains(err.Error(), "is not in 0-100") {
			t.Errorf("New(%+v) = %v", bad, err)
		}
	}
}

func TestStorageGateRecordsCapacity(t *testing.T) {
	dir := t.TempDir()
	tr, err := runProbe(t, Spec{Protocol: "storage", StoragePath: dir}, 10*time.Second)
	if got := strings.Join(wantOK(t, tr, err), " "); got != "storage capacity" {
		t.Errorf("phases %q", got)
	}
	c := tr.Capacity()
	if c == nil || c.SizeBytes == 0 || c.FreeBytes > c.SizeBytes || c.FreeInodes > c.Inodes {
		t.Errorf("capacity %+v", c)
	}
}

// TestStorageGateOnFullTmpfs fills a small tmpfs past the gate's thresholds, first with
// bytes, then with inodes: degraded, then failed. It needs root (mount) and runs only with
// AXPROBE_INTEGRATION=1; the tmpfs is unmounted when the test ends, whatever happened.
func TestStorageGateOnFullTmpfs(t *testing.T) {
	if os.Getenv("AXPROBE_INTEGRATION") != "1" {
		t.Skip("set AXPROBE_INTEGRATION=1 (as root) to mount a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Fatal("AXPROBE_INTEGRATION=1: this test mounts a tmpfs and needs root")
	}
	mnt := filepath.Join(t.TempDir(), "storage")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// 1 MiB and 64 inodes: small enough to fill in a moment.
	if err := mountTmpfs(t, mnt, "size=1m,nr_inodes=64,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", mnt, err)
	}
	spec := Spec{Protocol: "storage", StoragePath: mnt, RequireMount: true, DegradedFreePercent: 20, FailedFreePercent: 5}
	p, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	probe := func() (*Trace, error) {
		t.Helper()
		return Run(context.Background(), p, 10*time.Second)
	}
	fill := func(name string, size int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(mnt, name), make([]byte, size), 0o600); err != nil {
			t.Fatalf("fill %s: %v", name, err)
		}
	}
	wantDegraded := func(what string) {
		t.Helper()
		tr, err := probe()
		wantOK(t, tr, err)
		if r, d := tr.Degraded(); r != "storage_low" || !strings.Contains(d, what) {
			t.Fatalf("degraded %q %q, want storage_low on %s (capacity %+v)", r, d, what, tr.Capacity())
		}
	}

	tr, err := probe()
	wantOK(t, tr, err)
	if r, _ := tr.Degraded(); r != "" || tr.Capacity().SizeBytes != 1<<20 || tr.Capacity().Inodes != 64 {
		t.Fatalf("empty tmpfs: degraded %q, capacity %+v", r, tr.Capacity())
	}

	fill("bytes-1", 850<<10) // ~17 % free
	wantDegraded("free space")
	fill("bytes-2", 130<<10) // ~4 % free
	tr, err = probe()
	if pe := wantFail(t, err, ReasonLocal, "capacity"); !strings.Contains(pe.Error(), "below failed_free_percent 5") {
		t.Fatalf("nearly full: %v", pe)
	}
	if tr.Capacity() == nil {
		t.Fatal("failed gate did not record the capacity")
	}
	for _, f := range []string{"bytes-1", "bytes-2"} {
		if err := os.Remove(filepath.Join(mnt, f)); err != nil {
			t.Fatal(err)
		}
	}
	tr, err = probe()
	wantOK(t, tr, err)

	// Inodes: 64 in all, the root directory holds one.
	n := 0
	for ; n < 53; n++ { // 10 left: ~16 %
		fill(fmt.Sprintf("inode-%d", n), 0)
	}
	wantDegraded("free inodes")
	for ; n < 61; n++ { // 2 left: ~3 %
		fill(fmt.Sprintf("inode-%d", n), 0)
	}
	_, err = probe()
	if pe := wantFail(t, err, ReasonLocal, "capacity"); !strings.Contains(pe.Error(), "free inodes") {
		t.Fatalf("inodes nearly gone: %v", pe)
	}
	// Out of inodes entirely: the canary cannot be created, and the error says so.
	for ; ; n++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("inode-%d", n)), nil, 0o600); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling inodes: %v", err)
			}
			break
		}
	}
	tr, err = probe()
	if pe := wantFail(t, err, ReasonLocal, "storage"); !strings.Contains(pe.Error(), "create canary") || tr.Capacity() == nil {
		t.Fatalf("no inodes left: %v (capacity %+v)", pe, tr.Capacity())
	}
}
