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

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want ProcStat
		ok   bool
	}{
		{"123 (dovecot) S 1 123 123 0 -1", ProcStat{'S', "dovecot", 123, 123}, true},
		{"124 (imap-login) T 123 123 123 0\n", ProcStat{'T', "imap-login", 123, 123}, true},
		{"125 (a) b (c)) Z 1 7 8 0", ProcStat{'Z', "a) b (c)", 7, 8}, true}, // comm with ") " inside
		{"126 (x) S 1 7", ProcStat{}, false},                                // too short
		{"127 (x) S 1 seven 8 0", ProcStat{}, false},                        // not a number
		{"128 (x) SS 1 7 8 0", ProcStat{}, false},
		{"129 (x) S 1 -1 +8 0", ProcStat{}, false},
		{"130 (x) S 1 -1 8 0", ProcStat{'S', "x", -1, 8}, true}, // state is one letter
		{"no parenthesis", ProcStat{}, false},
		{"", ProcStat{}, false},
	} {
		got, ok := ParseProcStat([]byte(tc.stat))
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseProcStat(%q) = %+v, %v; want %+v, %v", tc.stat, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseProcStat: comm is chosen by the process; whatever the text, ParseProcStat
// returns a zero ProcStat with false, or a comm taken from between the parentheses.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("123 (dovecot) S 1 123 123 0 -1"))
	f.Add([]byte("1 ()) R 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := ParseProcStat(b)
		if !ok && st != (ProcStat{}) {
			t.Fatalf("ParseProcStat(%q) failed but returned %+v", b, st)
		}
		if ok && !strings.Contains(string(b), "("+st.Comm+")") {
			t.Fatalf("ParseProcStat(%q): comm %q is not between parentheses", b, st.Comm)
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
