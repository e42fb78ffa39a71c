package ipc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxStatusLine bounds a STATUS reply a client accepts.
const maxStatusLine = 16 << 20

// Monitor asks the daemon at the socket path for target's answer ("" = the only or first
// target): one round trip, bounded by ctx. An ERR reply is a *ServerError; any other
// failure (no socket, refused, deadline, malformed reply) is an error naming the socket.
//
// With trusted uids given, the process answering on the socket must run as one of them
// (SO_PEERCRED, checked before anything is sent or read); otherwise Monitor returns a
// *PeerError and reads nothing from it. docs/SECURITY.md says why the shim needs this.
func Monitor(ctx context.Context, path, target string, trusted ...int) (Answer, error) {
	line, err := roundTrip(ctx, path, Request{Command: CmdMonitor, Target: target}, MaxAnswerLine, trusted...)
	if err != nil {
		return Answer{}, err
	}
	a, err := ParseAnswer(line)
	if err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			return Answer{}, err
		}
		return Answer{}, fmt.Errorf("daemon at %s: bad reply: %w", path, err)
	}
	return a, nil
}

// Status asks the daemon at path for its status for target ("" = all targets) and returns
// the JSON it sent.
func Status(ctx context.Context, path, target string) ([]byte, error) {
	line, err := roundTrip(ctx, path, Request{Command: CmdStatus, Target: target}, maxStatusLine)
	if err != nil {
		return nil, err
	}
	rest, err := replyBody(line, "STATUS")
	if err != nil {
		return nil, fmt.Errorf("daemon at %s: %w", path, err)
	}
	return []byte(rest), nil
}

// Ping checks that a daemon answers at path.
func Ping(ctx context.Context, path string) error {
	line, err := roundTrip(ctx, path, Request{Command: CmdPing}, 64)
	if err != nil {
		return err
	}
	if _, err := replyBody(line, "PONG"); err != nil {
		return fmt.Errorf("daemon at %s: %w", path, err)
	}
	return nil
}

// DaemonVersion asks the daemon at path for its version string.
func DaemonVersion(ctx context.Context, path string) (string, error) {
	line, err := roundTrip(ctx, path, Request{Command: CmdVersion}, 512)
	if err != nil {
		return "", err
	}
	rest, err := replyBody(line, "VERSION")
	if err != nil {
		return "", fmt.Errorf("daemon at %s: %w", path, err)
	}
	fields, err := splitFields(strings.TrimPrefix(rest, " "))
	if err != nil {
		return "", fmt.Errorf("daemon at %s: bad VERSION reply: %w", path, err)
	}
	return fields["daemon"], nil
}

// replyBody checks "axprobe/1 <kind>[ rest]" and returns rest (with its leading space).
func replyBody(line, kind string) (string, error) {
	rest, err := cutPrefix(line)
	if err != nil {
		return "", err
	}
	if msg, ok := strings.CutPrefix(rest, "ERR "); ok {
		return "", &ServerError{Message: msg}
	}
	if rest == kind {
		return "", nil
	}
	if body, ok := strings.CutPrefix(rest, kind+" "); ok {
		return body, nil
	}
	return "", fmt.Errorf("reply %q is not %s", clip(rest, 64), kind)
}

// PeerError is a socket answered by a process of a uid the client does not trust: not
// the daemon, whatever it says.
type PeerError struct {
	Path    string
	UID     int   // the peer's uid; -1 when it could not be told
	Trusted []int // the uids that were accepted
}

func (e *PeerError) Error() string {
	who := "a process whose uid cannot be told"
	if e.UID >= 0 {
		who = "uid " + strconv.Itoa(e.UID)
	}
	return fmt.Sprintf("socket %s is answered by %s, not by the daemon's (uid %s); not trusting it", e.Path, who, uidList(e.Trusted))
}

func uidList(uids []int) string {
	s := make([]string, len(uids))
	for i, u := range uids {
		s[i] = strconv.Itoa(u)
	}
	return strings.Join(s, " or ")
}

// roundTrip sends req and returns the reply line without its newline, reading at most
// limit bytes. It never outlives ctx. With trusted uids, the peer must run as one of them.
func roundTrip(ctx context.Context, path string, req Request, limit int, trusted ...int) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fmt.Errorf("daemon at %s: %w", path, err)
	}
	defer conn.Close()
	if len(trusted) > 0 {
		_, uid, _ := peerCred(conn)
		if !slices.Contains(trusted, uid) || uid < 0 {
			return "", &PeerError{Path: path, UID: uid, Trusted: trusted}
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation without a deadline: unblock the read by moving the deadline to the past.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	_, werr := io.WriteString(conn, req.String()+"\n")
	// Read even when the write failed: a server that refuses a connection (busy) replies
	// and closes before reading, and its reply is the better error.
	line, err := readLine(conn, limit)
	if err != nil && werr != nil {
		return "", fmt.Errorf("daemon at %s: send %s: %w", path, req.Command, ctxErr(ctx, werr))
	}
	if err != nil {
		return "", fmt.Errorf("daemon at %s: read reply to %s: %w", path, req.Command, ctxErr(ctx, err))
	}
	return line, nil
}

// ctxErr prefers the context's reason over the deadline error it caused. The conn's
// deadline is the context's, and may fire a moment before the context's own timer.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// readLine reads up to the first newline, at most limit bytes before it.
func readLine(r io.Reader, limit int) (string, error) {
	buf := make([]byte, 0, min(limit+1, 512))
	chunk := make([]byte, 512)
	for {
		n, err := r.Read(chunk)
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			buf = append(buf, chunk[:i]...)
			if len(buf) > limit {
				break
			}
			return string(buf), nil
		}
		buf = append(buf, chunk[:n]...)
		if len(buf) > limit {
			break
		}
		if err == io.EOF {
			return "", errors.New("connection closed before a full reply")
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("reply longer than " + strconv.Itoa(limit) + " bytes")
}
