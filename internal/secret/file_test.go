package secret

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/testfile"
)

func TestReadFile(t *testing.T) {
	for _, c := range []struct{ content, want string }{
		{"hunter2\n", "hunter2"},
		{"hunter2\r\n", "hunter2"},
		{"hunter2", "hunter2"},
		{"two\nlines\n", "two\nlines"},
		{strings.Repeat("x", MaxFileSize), strings.Repeat("x", MaxFileSize)},
	} {
		s, err := ReadFile(testfile.Write(t, "pw", c.content))
		if err != nil || s.Reveal() != c.want {
			t.Errorf("ReadFile(%.20q) = %.20q, %v; want %.20q", c.content, s.Reveal(), err, c.want)
		}
	}
	for _, c := range []struct{ content, want string }{
		{"", "is empty"},
		{"\n", "is empty"},
		{strings.Repeat("s3cr3t", MaxFileSize), "larger than 4096 bytes"},
	} {
		_, err := ReadFile(testfile.Write(t, "bad", c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("ReadFile(%.20q) = %v, want an error containing %q and no content", c.content, err, c.want)
		}
	}
}

// TestReadFileHostile is issue 13's "--password-file reads without a limit": /dev/zero ran
// out of memory and a FIFO hung past --timeout. Both, and a directory, end at once with
// an error naming the path.
func TestReadFileHostile(t *testing.T) {
	fifo := testfile.FIFO(t, "fifo")
	link := testfile.Link(t, "zero-link", "/dev/zero")
	for _, path := range []string{"/dev/zero", fifo, link, t.TempDir()} {
		err := testfile.Within(t, "ReadFile("+path+")", func() error { _, err := ReadFile(path); return err })
		if err == nil || err.Error() != path+" is not a regular file" {
			t.Errorf("ReadFile(%s) = %v, want %q", path, err, path+" is not a regular file")
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadFile(missing) succeeded")
	}
}
