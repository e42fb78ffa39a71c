package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/testfile"
)

func TestLocalGatesConfig(t *testing.T) {
	bad := []struct {
		spec Spec
		want string
	}{
		{Spec{Protocol: "vip"}, "vip: required"},
		{Spec{Protocol: "vip", VIP: "x"}, `vip: "x" is not an IP address`},
		{Spec{Protocol: "process"}, "needs at least one"},
		{Spec{Protocol: "storage"}, "storage_path: required"},
	}
	for _, tc := range bad {
		_, err := New(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

// runGate builds the gate for spec and runs it once.
func runGate(t *testing.T, spec Spec) error {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	_, err = Run(t.Context(), p, 5*time.Second)
	return err
}

// wantLocalFail asserts err is an *Error with ReasonLocal in phase, mentioning text.
func wantLocalFail(t *testing.T, err error, phase, text string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want an *Error", err)
	}
	if pe.Reason != ReasonLocal || pe.Phase != phase || !strings.Contains(pe.Error(), text) {
		t.Errorf("got reason %s phase %s (%v), want local in %s mentioning %q", pe.Reason, pe.Phase, pe, phase, text)
	}
}

func TestVIPGate(t *testing.T) {
	if err := runGate(t, Spec{Protocol: "vip", VIP: "127.0.0.1"}); err != nil {
		t.Errorf("vip 127.0.0.1: %v", err)
	}
	err := runGate(t, Spec{Protocol: "vip", VIP: "192.0.2.1"})
	wantLocalFail(t, err, "vip", "vip 192.0.2.1 is not configured on this node")
}

func TestProcessGate(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidfile := testfile.PidFile(t, os.Getpid())
	if err := runGate(t, Spec{Protocol: "process", PidFile: pidfile, ProcessName: filepath.Base(exe)}); err != nil {
		t.Errorf("this process: %v", err)
	}
	err = runGate(t, Spec{Protocol: "process", PidFile: pidfile, ProcessName: "axigen"})
	wantLocalFail(t, err, "process", "not axigen")
}

func TestStorageGate(t *testing.T) {
	dir := t.TempDir()
	if err := runGate(t, Spec{Protocol: "storage", StoragePath: dir, StorageCanary: "c"}); err != nil {
		t.Errorf("writable dir, mount not required: %v", err)
	}
	err := runGate(t, Spec{Protocol: "storage", StoragePath: dir, RequireMount: true})
	wantLocalFail(t, err, "storage", "not a mount point")
	err = runGate(t, Spec{Protocol: "storage", StoragePath: filepath.Join(dir, "missing")})
	wantLocalFail(t, err, "storage", "no such file")

	if os.Geteuid() != 0 {
		t.Skip("skipped the mounted case: mounting a tmpfs needs root")
	}
	if err := mountTmpfs(t, dir, "size=1m"); err != nil {
		t.Skipf("skipped the mounted case: cannot mount a tmpfs here: %v", err)
	}
	if err := runGate(t, Spec{Protocol: "storage", StoragePath: dir, RequireMount: true}); err != nil {
		t.Errorf("mounted tmpfs: %v", err)
	}
}
