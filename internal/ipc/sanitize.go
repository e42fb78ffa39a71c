package ipc

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sanitize makes text that a server, a file or another process controls safe to show on a
// terminal or to put in one line (the shim's output, `axprobe status`, `axprobe probe`):
// every byte or character that is not printable — control bytes such as ESC, CR, LF and
// DEL, C1 controls, invalid UTF-8, and Unicode format characters such as bidi overrides —
// is written as a Go escape (\x1b, \n, \u202e), so an "ESC]0;…" in an IMAP NO reply
// cannot retitle the terminal nor an "ESC[2J" clear it. Backslashes are left as they are:
// text that was quoted already (a banner in a probe error) stays readable. The result is at
// most limit bytes (no cap when limit <= 0), ending in "..." when cut; the work is bounded
// by limit, not by len(s). docs/SECURITY.md lists where it is used.
func Sanitize(s string, limit int) string {
	if isASCIIPrintable(s) && (limit <= 0 || len(s) <= limit) {
		return s
	}
	if limit > 0 {
		limit = max(limit, 4)
	}
	var b strings.Builder
	cut := -1 // where to cut for "...", once known
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = `\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:]
		case r == ' ' || strconv.IsPrint(r):
			piece = s[i : i+size]
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u202e'
			piece = q[1 : len(q)-1]
		}
		if limit > 0 {
			if cut < 0 && b.Len()+len(piece) > limit-len("...") {
				cut = b.Len()
			}
			if b.Len()+len(piece) > limit {
				return b.String()[:cut] + "..."
			}
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}
