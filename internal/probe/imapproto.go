package probe

import (
	"bufio"
	"io"
	"strings"
)

// imapResponse is one IMAP response line split into tag ("*" for untagged data), status
// or data name (OK, NO, BAD, BYE, PREAUTH, CAPABILITY …, upper-cased) and the rest.
type imapResponse struct {
	Tag, Status, Text string
}

// parseIMAPResponse splits "tag SP word [SP text]". It does not interpret literals: the
// in-tree IMAP code only reads greetings, CAPABILITY and STARTTLS answers, which have none.
func parseIMAPResponse(line string) (imapResponse, error) {
	tag, rest, ok := strings.Cut(line, " ")
	if !ok || tag == "" || rest == "" {
		return imapResponse{}, syntaxErrorf("imap response %q: want \"tag status text\"", truncate(line))
	}
	word, text, _ := strings.Cut(rest, " ")
	if word == "" {
		return imapResponse{}, syntaxErrorf("imap response %q: empty status", truncate(line))
	}
	for _, c := range []byte(word) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return imapResponse{}, syntaxErrorf("imap response %q: bad status %q", truncate(line), truncate(word))
		}
	}
	return imapResponse{Tag: tag, Status: strings.ToUpper(word), Text: text}, nil
}

// parseIMAPGreeting checks that line is a server greeting: "* OK", "* PREAUTH" or "* BYE".
func parseIMAPGreeting(line string) (imapResponse, error) {
	r, err := parseIMAPResponse(line)
	if err != nil {
		return r, err
	}
	if r.Tag != "*" {
		return r, syntaxErrorf("imap greeting %q: not untagged", truncate(line))
	}
	switch r.Status {
	case "OK", "PREAUTH", "BYE":
		return r, nil
	}
	return r, syntaxErrorf("imap greeting %q: status %q is not OK, PREAUTH or BYE", truncate(line), r.Status)
}

// imapCommand sends "tag command" and reads until the tagged completion, returning it and
// the untagged responses before it (at most maxReplyLines).
func imapCommand(w io.Writer, br *bufio.Reader, tag, command string) (done imapResponse, untagged []imapResponse, err error) {
	if err := writeLine(w, tag+" "+command); err != nil {
		return done, nil, err
	}
	for range maxReplyLines {
		b, err := readLine(br)
		if err != nil {
			return done, untagged, err
		}
		r, err := parseIMAPResponse(string(b))
		if err != nil {
			return done, untagged, err
		}
		switch r.Tag {
		case tag:
			return r, untagged, nil
		case "*":
			untagged = append(untagged, r)
		default:
			return done, untagged, syntaxErrorf("imap response %q: unexpected tag", truncate(string(b)))
		}
	}
	return done, untagged, syntaxErrorf("imap %s: more than %d response lines", command, maxReplyLines)
}

// imapGreetingCapabilities returns the capabilities a greeting's "[CAPABILITY ...]" code
// lists, as the untagged CAPABILITY response imapHasCapability reads, or nil when the
// greeting has no such code (Axigen's has none; Dovecot's has one).
func imapGreetingCapabilities(greeting imapResponse) []imapResponse {
	const code = "[CAPABILITY "
	text := greeting.Text
	if len(text) < len(code) || !strings.EqualFold(text[:len(code)], code) {
		return nil
	}
	list, _, ok := strings.Cut(text[len(code):], "]")
	if !ok {
		return nil
	}
	return []imapResponse{{Tag: "*", Status: "CAPABILITY", Text: list}}
}

// imapHasCapability reports whether any untagged CAPABILITY response lists capability.
func imapHasCapability(untagged []imapResponse, capability string) bool {
	for _, r := range untagged {
		if r.Status != "CAPABILITY" {
			continue
		}
		for _, c := range strings.Fields(r.Text) {
			if strings.EqualFold(c, capability) {
				return true
			}
		}
	}
	return false
}
