package probe

import (
	"bufio"
	"fmt"
	"strings"
)

// smtpReply is one SMTP reply: its code and the text of each line.
type smtpReply struct {
	Code  int
	Lines []string
}

// Text is the reply's lines joined by newlines.
func (r smtpReply) Text() string { return strings.Join(r.Lines, "\n") }

// parseSMTPLine parses one reply line, "250-text", "250 text" or "250". more reports a
// continuation line (hyphen after the code).
func parseSMTPLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", syntaxErrorf("smtp reply line %q: too short", truncate(line))
	}
	for i := range 3 {
		c := line[i]
		if c < '0' || c > '9' {
			return 0, false, "", syntaxErrorf("smtp reply line %q: no 3-digit code", truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return 0, false, "", syntaxErrorf("smtp reply line %q: code %d out of range", truncate(line), code)
	}
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", syntaxErrorf("smtp reply line %q: bad separator after code", truncate(line))
	}
	return code, more, line[4:], nil
}

// readSMTPReply reads one possibly multi-line reply. Every line must carry the same code;
// at most maxReplyLines lines of at most maxLine bytes are read.
func readSMTPReply(br *bufio.Reader) (smtpReply, error) {
	var r smtpReply
	for range maxReplyLines {
		b, err := readLine(br)
		if err != nil {
			return r, err
		}
		code, more, text, err := parseSMTPLine(string(b))
		if err != nil {
			return r, err
		}
		if r.Lines != nil && code != r.Code {
			return r, syntaxErrorf("smtp reply: code changed from %d to %d mid-reply", r.Code, code)
		}
		r.Code = code
		r.Lines = append(r.Lines, text)
		if !more {
			return r, nil
		}
	}
	return r, syntaxErrorf("smtp reply: more than %d lines", maxReplyLines)
}

// smtpHasExtension reports whether an EHLO reply advertises ext (case-insensitive); the
// first line of an EHLO reply is the greeting, not an extension.
func smtpHasExtension(ehlo smtpReply, ext string) bool {
	for i, l := range ehlo.Lines {
		if i == 0 {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		if strings.EqualFold(name, ext) {
			return true
		}
	}
	return false
}

// truncate shortens s for inclusion in an error message.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// wire renders the reply as the server would have sent it.
func (r smtpReply) wire() []byte {
	var b strings.Builder
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%03d%s%s\r\n", r.Code, sep, l)
	}
	return []byte(b.String())
}
