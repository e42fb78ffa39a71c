package ipc

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"all checks healthy", 0, "all checks healthy"},
		{"\x1b]0;pwned\x07\x1b[2J", 0, `\x1b]0;pwned\a\x1b[2J`},
		{"NO [ALERT] \x1b[31mred", 0, `NO [ALERT] \x1b[31mred`},
		{"line\r\nbreak\ttab\x7f", 0, `line\r\nbreak\ttab\x7f`},
		{"c1 \u009b2J bidi \u202eevil", 0, `c1 \u009b2J bidi \u202eevil`},
		{"bad \xff\xfe utf8", 0, `bad \xff\xfe utf8`},
		{`back\slash \x1b`, 0, `back\slash \x1b`},
		{"Zürich mail", 0, "Zürich mail"},
		{"0123456789", 10, "0123456789"},
		{"01234567890", 10, "0123456..."},
		{"\x1b\x1b\x1b", 10, `\x1b...`},
		{"\x1b\x1b", 8, `\x1b\x1b`},
		{strings.Repeat("x", 20<<20), 64, strings.Repeat("x", 61) + "..."},
	} {
		got := Sanitize(c.in, c.limit)
		if got != c.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", clip(c.in, 40), c.limit, clip(got, 80), clip(c.want, 80))
		}
	}
}

// FuzzSanitize: whatever the input, the output is valid UTF-8 with no control byte, no
// escape-sequence introducer and no format character, within the limit.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b]0;t\x07", "\u202e", "\xff", "\\", "a\nb"} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit %= 4096
		got := Sanitize(s, limit)
		if !utf8.ValidString(got) {
			t.Fatalf("Sanitize(%q) = %q: not valid UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == '\u200b' {
				t.Fatalf("Sanitize(%q) = %q: holds %U", s, got, r)
			}
		}
		if limit > 0 && len(got) > max(limit, 4) {
			t.Fatalf("Sanitize(%q, %d) is %d bytes", s, limit, len(got))
		}
		if limit <= 0 && isASCIIPrintable(s) && got != s {
			t.Fatalf("Sanitize(%q) changed printable text to %q", s, got)
		}
	})
}
