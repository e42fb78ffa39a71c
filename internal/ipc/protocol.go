// Package ipc is the line protocol between the axprobe daemon and its clients (the VCS
// monitor shim, `axprobe status`) over a Unix socket, and the fallback file the daemon
// leaves beside the socket. docs/SOCKET.md is the specification; this package is its
// reference implementation.
//
// ipc knows nothing about probes: the daemon hands the server a Source. The client half is
// what the monitor shim links, so the package imports only the standard library and
// nothing with a costly package init (internal/vcs, the exit codes, imports nothing).
package ipc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/vcs"
)

// ProtocolVersion is the major version of the protocol this package speaks. Every reply
// starts with Prefix; a client refuses replies of another major version. Within a major
// version, replies may gain new key=value fields, which clients ignore.
const ProtocolVersion = 1

// DefaultSocket is the daemon's socket when the config (socket), the shim (--socket,
// ProbeSocket) or `axprobe status` (--socket) names none.
const DefaultSocket = "/run/axprobe/axprobe.sock"

// Prefix starts every reply line, followed by one space.
const Prefix = "axprobe/1"

// MaxRequest is the longest request the server reads, in bytes, including the newline.
const MaxRequest = 256

// MaxAnswerLine is the longest MONITOR reply a client accepts, in bytes, without the
// newline. FormatAnswer never produces a longer one.
const MaxAnswerLine = 4096

// maxReason caps the reason text FormatAnswer puts on the wire, in bytes before quoting.
const maxReason = 1024

// maxTarget caps a target name.
const maxTarget = 128

// The request commands.
const (
	CmdPing    = "PING"    // liveness: "axprobe/1 PONG"
	CmdMonitor = "MONITOR" // the current verdict for a target, as an Answer line
	CmdStatus  = "STATUS"  // the daemon's status as one line of JSON
	CmdVersion = "VERSION" // protocol and daemon version
)

// Request is one parsed request line.
type Request struct {
	Command string // one of the Cmd constants
	Target  string // MONITOR and STATUS only; "" means the only (or first) target
}

// String returns the request as it goes on the wire, without the newline.
func (r Request) String() string {
	if r.Target == "" {
		return r.Command
	}
	return r.Command + " " + r.Target
}

// ParseRequest parses one request line: a command, case-insensitive, and for MONITOR and
// STATUS an optional target name, separated by single spaces, printable ASCII only, at
// most MaxRequest bytes including the trailing "\n" (or "\r\n"), which may be absent. It
// returns an error for anything else and never panics.
func ParseRequest(line []byte) (Request, error) {
	if len(line) > MaxRequest {
		return Request{}, fmt.Errorf("request longer than %d bytes", MaxRequest)
	}
	s := string(line)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return Request{}, fmt.Errorf("request contains byte 0x%02x at offset %d: only printable ASCII is allowed", s[i], i)
		}
	}
	cmd, target, hasArg := strings.Cut(s, " ")
	cmd = strings.ToUpper(cmd)
	switch cmd {
	case CmdPing, CmdVersion:
		if hasArg {
			return Request{}, fmt.Errorf("%s takes no argument", cmd)
		}
		return Request{Command: cmd}, nil
	case CmdMonitor, CmdStatus:
		if hasArg {
			if err := ValidTarget(target); err != nil {
				return Request{}, err
			}
		}
		return Request{Command: cmd, Target: target}, nil
	case "":
		return Request{}, errors.New("empty request")
	}
	return Request{}, fmt.Errorf("unknown command %q (want PING, MONITOR, STATUS or VERSION)", clip(cmd, 32))
}

// ValidTarget returns nil when name can be a target name on the wire: 1 to 128 bytes of
// letters, digits and . _ - : @ + /.
func ValidTarget(name string) error {
	if name == "" || len(name) > maxTarget {
		return fmt.Errorf("target %q: must be 1 to %d characters", clip(name, maxTarget), maxTarget)
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return fmt.Errorf("target %q: character %q not allowed (letters, digits and . _ - : @ + / only)", name, name[i])
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("._-:@+/", c) >= 0
}

// Answer is the daemon's verdict for one target: what MONITOR returns.
type Answer struct {
	Target     string
	Code       int           // the VCS exit code: 100 offline, 101-110 online, 200 intentional offline, 99 unknown
	State      string        // online, offline, starting, ... (a lowercase word)
	Confidence float64       // 0..1
	Age        time.Duration // since the result the answer is built from
	MaxAge     time.Duration // the daemon's staleness bound; 0 means none
	Reason     string        // free text for people
}

// Stale reports whether the answer is older than the daemon's own staleness bound.
func (a Answer) Stale() bool { return a.MaxAge > 0 && a.Age > a.MaxAge }

// validate checks the fields a well-formed Answer must have.
func (a Answer) validate() error {
	switch {
	case !vcs.ValidCode(a.Code):
		return fmt.Errorf("code %d: must be 99, 100-110 or 200", a.Code)
	case !validState(a.State):
		return fmt.Errorf("state %q: must be 1-32 lowercase letters or _", clip(a.State, 32))
	case math.IsNaN(a.Confidence) || a.Confidence < 0 || a.Confidence > 1:
		return fmt.Errorf("confidence %v: must be between 0 and 1", a.Confidence)
	case a.Age < 0:
		return fmt.Errorf("age %s: must not be negative", a.Age)
	case a.MaxAge < 0:
		return fmt.Errorf("max_age %s: must not be negative", a.MaxAge)
	}
	return ValidTarget(a.Target)
}

func validState(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// FormatAnswer returns a's reply line without the newline, e.g.
//
//	axprobe/1 code=110 state=online confidence=0.97 age=1.2s max_age=30s target=axigen reason="all checks healthy"
//
// Confidence is rounded to 3 decimals and durations to the millisecond; a reason longer
// than 1024 bytes is cut. The line is always one line of printable ASCII. It returns an
// error naming the field when a is not well-formed.
func FormatAnswer(a Answer) (string, error) {
	if err := a.validate(); err != nil {
		return "", err
	}
	reason := a.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	var b strings.Builder
	b.Grow(96 + len(reason))
	b.WriteString(Prefix)
	b.WriteString(" code=")
	b.WriteString(strconv.Itoa(a.Code))
	b.WriteString(" state=")
	b.WriteString(a.State)
	b.WriteString(" confidence=")
	b.WriteString(strconv.FormatFloat(math.Round(a.Confidence*1000)/1000, 'f', -1, 64))
	b.WriteString(" age=")
	b.WriteString(a.Age.Round(time.Millisecond).String())
	b.WriteString(" max_age=")
	b.WriteString(a.MaxAge.Round(time.Millisecond).String())
	b.WriteString(" target=")
	b.WriteString(a.Target)
	b.WriteString(" reason=")
	b.WriteString(strconv.QuoteToASCII(reason))
	return b.String(), nil
}

// ServerError is an "axprobe/1 ERR <message>" reply: the daemon understood the question
// and refused it (unknown target, bad request, busy).
type ServerError struct{ Message string }

func (e *ServerError) Error() string { return "daemon answered ERR: " + e.Message }

// ParseAnswer parses a MONITOR reply line (with or without its trailing newline). It is
// strict: the prefix must be Prefix, fields are key=value separated by single spaces,
// values are bare (printable ASCII without space, quote or backslash) or Go-quoted ASCII
// strings, keys appear at most once, code, state, confidence, age, max_age and target are
// required and must be valid; unknown keys are ignored (a newer daemon may add fields).
// An ERR reply returns a *ServerError. It never panics.
func ParseAnswer(line string) (Answer, error) {
	line = strings.TrimSuffix(line, "\n")
	if len(line) > MaxAnswerLine {
		return Answer{}, fmt.Errorf("reply longer than %d bytes", MaxAnswerLine)
	}
	rest, err := cutPrefix(line)
	if err != nil {
		return Answer{}, err
	}
	if msg, ok := strings.CutPrefix(rest, "ERR "); ok {
		return Answer{}, &ServerError{Message: msg}
	}
	fields, err := splitFields(rest)
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	for _, key := range []string{"code", "state", "confidence", "age", "max_age", "target"} {
		if _, ok := fields[key]; !ok {
			return Answer{}, fmt.Errorf("reply has no %s field", key)
		}
	}
	if a.Code, err = strconv.Atoi(fields["code"]); err != nil {
		return Answer{}, fmt.Errorf("code %q is not a number", fields["code"])
	}
	a.State = fields["state"]
	if a.Confidence, err = strconv.ParseFloat(fields["confidence"], 64); err != nil {
		return Answer{}, fmt.Errorf("confidence %q is not a number", fields["confidence"])
	}
	if a.Age, err = time.ParseDuration(fields["age"]); err != nil {
		return Answer{}, fmt.Errorf("age %q is not a duration", fields["age"])
	}
	if a.MaxAge, err = time.ParseDuration(fields["max_age"]); err != nil {
		return Answer{}, fmt.Errorf("max_age %q is not a duration", fields["max_age"])
	}
	a.Target = fields["target"]
	a.Reason = fields["reason"]
	if err := a.validate(); err != nil {
		return Answer{}, err
	}
	return a, nil
}

// cutPrefix checks the version prefix and returns what follows it.
func cutPrefix(line string) (string, error) {
	rest, ok := strings.CutPrefix(line, Prefix+" ")
	if ok {
		return rest, nil
	}
	if v, _, _ := strings.Cut(line, " "); strings.HasPrefix(v, "axprobe/") && v != Prefix {
		return "", fmt.Errorf("reply speaks protocol %q, this client speaks %s", clip(v, 32), Prefix)
	}
	return "", fmt.Errorf("reply %q does not start with %q", clip(line, 64), Prefix+" ")
}

// splitFields splits "k=v k2=\"quoted v\"" into a map, strictly (see ParseAnswer).
func splitFields(s string) (map[string]string, error) {
	fields := make(map[string]string, 8)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("field %q is not key=value", clip(s, 32))
		}
		key := s[:eq]
		if !validKey(key) {
			return nil, fmt.Errorf("field name %q is not a lowercase word", clip(key, 32))
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("field %s appears twice", key)
		}
		s = s[eq+1:]
		var value string
		if strings.HasPrefix(s, `"`) {
			end := closingQuote(s)
			if end < 0 {
				return nil, fmt.Errorf("field %s: unterminated quoted value", key)
			}
			v, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("field %s: bad quoted value", key)
			}
			if !isASCIIPrintable(s[:end+1]) {
				return nil, fmt.Errorf("field %s: quoted value must be printable ASCII", key)
			}
			value, s = v, s[end+1:]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
			if !isBareValue(value) {
				return nil, fmt.Errorf("field %s: value %q must be quoted", key, clip(value, 32))
			}
		}
		fields[key] = value
		if len(s) > 0 {
			if s[0] != ' ' || len(s) == 1 {
				return nil, fmt.Errorf("field %s: expected one space before the next field", key)
			}
			s = s[1:]
		}
	}
	return fields, nil
}

// closingQuote returns the index of the quote that ends the Go string literal s starts
// with, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func validKey(k string) bool {
	if len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if (k[i] < 'a' || k[i] > 'z') && k[i] != '_' && (i == 0 || k[i] < '0' || k[i] > '9') {
			return false
		}
	}
	return true
}

func isBareValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isASCIIPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// oneLine makes msg safe for an ERR reply: printable ASCII, at most 256 bytes.
func oneLine(msg string) string {
	b := []byte(clip(msg, 256))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// clip cuts s to at most n bytes, for quoting untrusted input in error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
