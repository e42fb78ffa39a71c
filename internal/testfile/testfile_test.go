package testfile

import (
	"io/fs"
	"os"
	"testing"
)

func TestMakes(t *testing.T) {
	if b, err := os.ReadFile(Write(t, "f", "content")); err != nil || string(b) != "content" {
		t.Errorf("Write: %q, %v", b, err)
	}
	if b, err := os.ReadFile(PidFile(t, 42)); err != nil || string(b) != "42\n" {
		t.Errorf("PidFile: %q, %v", b, err)
	}
	if fi, err := os.Lstat(FIFO(t, "fifo")); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("FIFO: %v, %v", fi, err)
	}
	link := Link(t, "zero", "/dev/zero")
	if target, err := os.Readlink(link); err != nil || target != "/dev/zero" {
		t.Errorf("Link: %q, %v", target, err)
	}
	if got := Within(t, "a quick read", func() int { return 7 }); got != 7 {
		t.Errorf("Within returned %d, want 7", got)
	}
}
