package probe

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// parsePOP3Status parses a status line: "+OK [text]" (ok) or "-ERR [text]" (not ok).
// Anything else is a syntax error.
func parsePOP3Status(line string) (ok bool, text string, err error) {
	word, text, _ := strings.Cut(line, " ")
	switch word {
	case "+OK":
		return true, text, nil
	case "-ERR":
		return false, text, nil
	}
	return false, "", syntaxErrorf("pop3 status line %q: want +OK or -ERR", truncate(line))
}

// parsePOP3Stat parses the text of a STAT answer, "nn mm [...]": message count and size in
// octets, both non-negative.
func parsePOP3Stat(text string) (count, size int64, err error) {
	f := strings.Fields(text)
	if len(f) < 2 {
		return 0, 0, syntaxErrorf("pop3 STAT %q: want \"count size\"", truncate(text))
	}
	count, err1 := strconv.ParseInt(f[0], 10, 64)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || count < 0 || size < 0 {
		return 0, 0, syntaxErrorf("pop3 STAT %q: count and size must be non-negative integers", truncate(text))
	}
	return count, size, nil
}

// readPOP3Multi reads the body of a multi-line answer up to the terminating ".", undoing
// dot-stuffing. At most maxReplyLines lines are read.
func readPOP3Multi(br *bufio.Reader) ([]string, error) {
	var lines []string
	for range maxReplyLines {
		b, err := readLine(br)
		if err != nil {
			return lines, err
		}
		l := string(b)
		if l == "." {
			return lines, nil
		}
		lines = append(lines, strings.TrimPrefix(l, "."))
	}
	return lines, syntaxErrorf("pop3 multi-line answer: more than %d lines", maxReplyLines)
}

// pop3Command sends line (when not empty) and reads the status line.
func pop3Command(w io.Writer, br *bufio.Reader, line string) (ok bool, text string, err error) {
	if line != "" {
		if err := writeLine(w, line); err != nil {
			return false, "", err
		}
	}
	b, err := readLine(br)
	if err != nil {
		return false, "", err
	}
	return parsePOP3Status(string(b))
}

// pop3HasCapability reports whether a CAPA listing names capability.
func pop3HasCapability(capa []string, capability string) bool {
	for _, l := range capa {
		name, _, _ := strings.Cut(l, " ")
		if strings.EqualFold(name, capability) {
			return true
		}
	}
	return false
}
