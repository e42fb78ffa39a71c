package ipc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Source is what the daemon hands the server: the current answers. Both methods are called
// from many connections at once and must be safe for concurrent use and quick (they read a
// published snapshot; they never probe).
type Source interface {
	// Monitor returns the answer for target; "" means the only (or first) target. An
	// unknown target is an error, which the client receives as an ERR reply.
	Monitor(target string) (Answer, error)
	// Status returns the daemon's status for target ("" = all) as JSON. Line breaks in it
	// are turned into spaces on the wire (JSON strings cannot hold raw ones).
	Status(target string) ([]byte, error)
}

// Versioner is optionally implemented by a Source to name the daemon's version in the
// VERSION reply.
type Versioner interface {
	Version() string
}

// Observer is told the outcome of every request, for metrics. Request is called from many
// goroutines at once and must not block. command is one of Commands(); result is one of
// Results().
type Observer interface {
	Request(command, result string)
}

// The result labels passed to Observer.
const (
	ResultOK         = "ok"          // answered
	ResultError      = "error"       // the Source failed or panicked, or the reply could not be written
	ResultBadRequest = "bad_request" // not a valid request (oversize, unknown command, bad target, empty)
	ResultTimeout    = "timeout"     // the client did not send a full request, or did not read the reply, in time
	ResultBusy       = "busy"        // refused: the connection cap was reached
)

// commandInvalid labels requests that could not be parsed.
const commandInvalid = "invalid"

// Commands lists every command label an Observer can see, in a stable order.
func Commands() []string {
	return []string{"ping", "monitor", "status", "version", commandInvalid}
}

// Results lists every result label an Observer can see, in a stable order.
func Results() []string {
	return []string{ResultOK, ResultError, ResultBadRequest, ResultTimeout, ResultBusy}
}

// Defaults of the Server's tunables.
const (
	DefaultMaxConns = 256
	DefaultTimeout  = 2 * time.Second
	DefaultMode     = os.FileMode(0o660)
)

// Server answers requests on a Unix socket. Create it with Listen, set the exported fields
// before Serve, then call Serve once; Close (or canceling Serve's context) stops it.
//
// Every connection carries one request and one reply, then the server closes it. A
// connection gets Timeout to send its request and Timeout to take the reply. At most
// MaxConns connections are served at once; beyond that a new connection is accepted,
// answered "axprobe/1 ERR busy" and closed at once, so a flood costs no file descriptors
// beyond the cap.
type Server struct {
	Observer Observer      // optional
	MaxConns int           // concurrent connections; 0 means DefaultMaxConns
	Timeout  time.Duration // read and write deadline per connection; 0 means DefaultTimeout

	path string
	ln   *net.UnixListener

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	serving bool
	wg      sync.WaitGroup // connection handlers
	stop    chan struct{}  // closed by Close
}

// Listen creates the socket at path and returns a Server that does not serve yet.
//
// mode is the socket file's mode (0 means 0660). group, when not empty, is the group (a
// name or a numeric gid) given the socket, so its members can connect. A missing parent
// directory is created with mode 0750 (and the group). An existing socket file is removed
// only when nothing answers on it; if a daemon answers, Listen fails with "another axprobe
// is serving <path> (pid N)". A path that exists and is not a socket is never removed.
func Listen(path string, mode os.FileMode, group string) (*Server, error) {
	if mode == 0 {
		mode = DefaultMode
	}
	gid := -1
	if group != "" {
		var err error
		if gid, err = lookupGroup(group); err != nil {
			return nil, err
		}
	}
	if err := ensureDir(filepath.Dir(path), gid); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	fail := func(err error) (*Server, error) {
		ln.Close()
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		return fail(fmt.Errorf("socket %s: set mode %v: %w", path, mode, err))
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			return fail(fmt.Errorf("socket %s: set group %s: %w", path, group, err))
		}
	}
	return &Server{path: path, ln: ln, conns: make(map[net.Conn]struct{}), stop: make(chan struct{})}, nil
}

// lookupGroup resolves a group name or numeric gid.
func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("socket group %q: gid %q is not a number", group, g.Gid)
	}
	return gid, nil
}

// ensureDir creates dir with mode 0750 (and gid, when >= 0) if it does not exist.
func ensureDir(dir string, gid int) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return fmt.Errorf("socket directory %s: set group: %w", dir, err)
		}
	}
	return nil
}

// removeStale removes a socket file at path that nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: exists and is not a socket; not removing it", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		pid := peerPID(conn)
		conn.Close()
		if pid > 0 {
			return fmt.Errorf("another axprobe is serving %s (pid %d)", path, pid)
		}
		return fmt.Errorf("another axprobe is serving %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("socket %s: cannot tell whether it is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections and answers them from src until ctx ends or Close is called,
// then returns nil after every connection handler has returned and the socket file is
// gone. It returns an error if called twice or after Close.
func (s *Server) Serve(ctx context.Context, src Source) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return errors.New("ipc: Serve after Close")
	case s.serving:
		s.mu.Unlock()
		return errors.New("ipc: Serve called twice")
	}
	s.serving = true
	s.mu.Unlock()

	ctxClosed := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		defer close(ctxClosed)
		s.Close()
	})
	defer func() {
		if !stopWatch() {
			<-ctxClosed
		}
	}()

	limit := s.MaxConns
	if limit <= 0 {
		limit = DefaultMaxConns
	}
	slots := make(chan struct{}, limit)
	var backoff time.Duration
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if s.isClosed() {
				s.wg.Wait()
				return nil
			}
			// Out of file descriptors or similar: wait a little and try again rather
			// than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
			}
			continue
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
		default:
			s.refuse(conn)
			continue
		}
		if !s.track(conn) {
			conn.Close()
			<-slots
			continue
		}
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			defer s.untrack(conn)
			s.handle(conn, src)
		}()
	}
}

// Close stops accepting, closes every open connection, removes the socket file and waits
// for every connection handler to return. It is safe to call more than once and from any
// goroutine.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		close(s.stop)
		err = s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers conn and its handler unless the server is closing.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	conn.Close()
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Server) observe(command, result string) {
	if s.Observer != nil {
		s.Observer.Request(command, result)
	}
}

// refuse tells a connection over the cap that the server is busy, without waiting on it.
func (s *Server) refuse(conn net.Conn) {
	_ = conn.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = io.WriteString(conn, Prefix+" ERR busy\n")
	conn.Close()
	s.observe(commandInvalid, ResultBusy)
}

// handle serves the one request on conn.
func (s *Server) handle(conn net.Conn, src Source) {
	command := commandInvalid
	defer func() {
		if p := recover(); p != nil {
			s.reply(conn, Prefix+" ERR internal error")
			s.observe(command, ResultError)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(s.timeout()))
	line, err := readRequest(conn)
	if err != nil {
		var netErr net.Error
		switch {
		case errors.As(err, &netErr) && netErr.Timeout():
			s.reply(conn, Prefix+" ERR timeout: no complete request within "+s.timeout().String())
			s.observe(command, ResultTimeout)
		case errors.Is(err, errOversize):
			s.reply(conn, Prefix+" ERR "+err.Error())
			s.observe(command, ResultBadRequest)
		default: // the client went away before asking anything
			s.observe(command, ResultBadRequest)
		}
		return
	}
	req, err := ParseRequest(line)
	if err != nil {
		s.reply(conn, Prefix+" ERR bad request: "+oneLine(err.Error()))
		s.observe(command, ResultBadRequest)
		return
	}
	command = labelOf(req.Command)
	out, result := s.answer(req, src)
	if err := s.reply(conn, out); err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			result = ResultTimeout
		} else {
			result = ResultError
		}
	}
	s.observe(command, result)
}

// answer builds the reply line (without newline) for req and the result label.
func (s *Server) answer(req Request, src Source) (string, string) {
	switch req.Command {
	case CmdPing:
		return Prefix + " PONG", ResultOK
	case CmdVersion:
		daemon := "unknown"
		if v, ok := src.(Versioner); ok && v.Version() != "" {
			daemon = v.Version()
		}
		return Prefix + " VERSION protocol=" + strconv.Itoa(ProtocolVersion) + " daemon=" + strconv.QuoteToASCII(daemon), ResultOK
	case CmdMonitor:
		a, err := src.Monitor(req.Target)
		if err != nil {
			return Prefix + " ERR " + oneLine(err.Error()), ResultError
		}
		line, err := FormatAnswer(a)
		if err != nil {
			return Prefix + " ERR daemon produced a bad answer: " + oneLine(err.Error()), ResultError
		}
		return line, ResultOK
	case CmdStatus:
		js, err := src.Status(req.Target)
		if err != nil {
			return Prefix + " ERR " + oneLine(err.Error()), ResultError
		}
		return Prefix + " STATUS " + string(flatten(js)), ResultOK
	}
	return Prefix + " ERR unknown command", ResultBadRequest
}

// flatten replaces every control byte of js by a space, so the JSON stays one line. Valid
// JSON holds raw control bytes only as white space between tokens, so its meaning is kept.
func flatten(js []byte) []byte {
	if bytes.IndexFunc(js, func(r rune) bool { return r < 0x20 }) < 0 {
		return js
	}
	out := bytes.Clone(js)
	for i, c := range out {
		if c < 0x20 {
			out[i] = ' '
		}
	}
	return out
}

func labelOf(cmd string) string {
	switch cmd {
	case CmdPing:
		return "ping"
	case CmdMonitor:
		return "monitor"
	case CmdStatus:
		return "status"
	case CmdVersion:
		return "version"
	}
	return commandInvalid
}

// reply writes line and a newline within the write deadline.
func (s *Server) reply(conn net.Conn, line string) error {
	_ = conn.SetWriteDeadline(time.Now().Add(s.timeout()))
	_, err := io.WriteString(conn, line+"\n")
	return err
}

var errOversize = fmt.Errorf("request longer than %d bytes", MaxRequest)

// readRequest reads up to and including the first newline, at most MaxRequest bytes. A
// request the client ends by closing its side (no newline) is returned as is.
func readRequest(conn net.Conn) ([]byte, error) {
	buf := make([]byte, MaxRequest)
	n := 0
	for {
		m, err := conn.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return buf[:n+i+1], nil
		}
		n += m
		if err == io.EOF && n > 0 {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n == len(buf) {
			return nil, errOversize
		}
	}
}
