package probe

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// maxCLIReply bounds one CLI reply (everything up to its prompt). Axigen's longest
// pre-login reply, HELP, is a few KiB.
const maxCLIReply = 64 << 10

// cliPrompt matches a CLI prompt at the very end of the received bytes: "<", a word
// without blanks or brackets, ">", one space, and nothing after it (no newline).
var cliPrompt = regexp.MustCompile(`<([^<>\s]{1,64})> $`)

// splitCLIPrompt reports whether buf ends with a prompt and, if so, returns the text
// before the prompt and the prompt's word ("login", "password", "#", "server#").
func splitCLIPrompt(buf []byte) (text []byte, prompt string, ok bool) {
	// Only the tail can hold the prompt; do not let the regexp scan a huge buffer.
	tail := buf[max(0, len(buf)-70):]
	m := cliPrompt.FindSubmatchIndex(tail)
	if m == nil {
		return nil, "", false
	}
	start := len(buf) - len(tail) + m[0]
	return buf[:start], string(tail[m[2]:m[3]]), true
}

// cliStatus finds the status line in a reply's text: the last line starting with "+OK" or
// "-ERR". found is false when there is none.
func cliStatus(text []byte) (ok bool, line string, found bool) {
	lines := strings.Split(string(text), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimRight(lines[i], "\r")
		switch {
		case strings.HasPrefix(l, "+OK"):
			return true, l, true
		case strings.HasPrefix(l, "-ERR"):
			return false, l, true
		}
	}
	return false, "", false
}

// cliVersionLine matches GET VERSION's answer, e.g. "10.6.30|Linux|x86_64".
var cliVersionLine = regexp.MustCompile(`(?m)^(\d+(?:\.\d+)+)\|[^|\r\n]+\|[^|\r\n]+\r?$`)

// cliVersion returns the version from a GET VERSION reply's text, or "" when the text has
// no "x.y.z|OS|arch" line.
func cliVersion(text []byte) string {
	m := cliVersionLine.FindSubmatch(text)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// errCLIReplyTooLong is the CLI's errLineTooLong: a hostile or broken server, classified
// as ReasonProtocol in any phase.
var errCLIReplyTooLong = fmt.Errorf("cli reply longer than %d bytes without a prompt", maxCLIReply)

// readCLIReply reads until the received bytes end with a prompt and returns the text
// before it and the prompt word. At most maxCLIReply bytes are read: more without a prompt
// is errCLIReplyTooLong. When the connection ends first, it returns the text so far with the
// read error (io.EOF for an orderly close).
func readCLIReply(r io.Reader) (text []byte, prompt string, err error) {
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for empty := 0; empty < 100; {
		n, rerr := r.Read(chunk)
		buf.Write(chunk[:n])
		if text, prompt, ok := splitCLIPrompt(buf.Bytes()); ok {
			return text, prompt, nil
		}
		if buf.Len() > maxCLIReply {
			return nil, "", errCLIReplyTooLong
		}
		if rerr != nil {
			return buf.Bytes(), "", rerr
		}
		if n == 0 {
			empty++
		}
	}
	return nil, "", io.ErrNoProgress
}
