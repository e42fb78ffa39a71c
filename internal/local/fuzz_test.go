package local

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParsePid: a pidfile's content is written by another program; whatever it holds,
// parsePid returns either a positive pid whose decimal form is the trimmed content, or an
// error.
func FuzzParsePid(f *testing.F) {
	for _, s := range []string{"1234\n", " 1 ", "abc", "", "-1", "+5", "0", "99999999999999999999", "12\x0034"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := parsePid(b)
		if err != nil {
			return
		}
		if pid <= 0 {
			t.Fatalf("parsePid(%q) = %d", b, pid)
		}
		if got := strings.TrimLeft(strings.TrimSpace(string(b)), "0"); got != strconv.Itoa(pid) {
			t.Fatalf("parsePid(%q) = %d, content is %q", b, pid, got)
		}
	})
}

// FuzzUnescapeMount: mountinfo is kernel output, but a mount point name is chosen by
// whoever mounted it; unescaping never panics and never grows the string.
func FuzzUnescapeMount(f *testing.F) {
	for _, s := range []string{`/mnt/a\040b`, `\`, `\0`, `\777`, `/x\134y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescapeMount(s); len(got) > len(s) {
			t.Fatalf("unescapeMount(%q) = %q grew", s, got)
		}
	})
}
