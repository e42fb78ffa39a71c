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
	ResultBusy       = "busy"        // refused: the connection cap or the peer's limit was reached
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
	DefaultMaxConns   = 256
	DefaultMaxPerPeer = 32
	DefaultTimeout    = 2 * time.Second
	DefaultMode       = os.FileMode(0o660)
	// DefaultCheckEvery is how often the server checks that its socket file is still in
	// place (and recreates it when it was deleted).
	DefaultCheckEvery = time.Second
)

// Server answers requests on a Unix socket. Create it with Listen, set the exported fields
// before Serve, then call Serve once; Close (or canceling Serve's context) stops it.
//
// Every connection carries one request and one reply, then the server closes it. A
// connection gets Timeout to send its request and Timeout to take the reply.
//
// Admission (docs/SOCKET.md, "Connection"; docs/SECURITY.md): a peer uid other than root
// and the daemon's own may hold at most MaxPerPeer connections at once, so one local user
// cannot fill the cap. MaxConns connections are served normally; past that cap a connection
// is still read, up to MaxConns more ("overflow"), but only MONITOR is answered on it
// (from the published snapshot: microseconds) and anything else gets "ERR busy". When the
// overflow is full too, the oldest overflow connection that has not sent its request yet
// is told "ERR busy" to make room, so idle connections cannot keep a prompt MONITOR out.
// Only when every overflow connection is busy answering is a new one refused at once.
type Server struct {
	Observer   Observer      // optional
	MaxConns   int           // connections served normally at once; 0 means DefaultMaxConns
	MaxPerPeer int           // connections one non-root peer uid may hold; 0 means DefaultMaxPerPeer
	Timeout    time.Duration // read and write deadline per connection; 0 means DefaultTimeout
	// CheckEvery is how often the socket file is checked (DefaultCheckEvery when 0).
	CheckEvery time.Duration
	// Events, when set, is told when the socket file goes missing, is recreated, or is
	// found replaced by a file this server did not create. It is called from the
	// server's goroutines and must not block.
	Events func(SocketEvent)

	path  string
	mode  os.FileMode
	gid   int
	group string
	// unlimited are the peer uids MaxPerPeer does not apply to: root and this process's.
	unlimited map[int]bool

	mu       sync.Mutex
	ln       *net.UnixListener // the current listener
	file     os.FileInfo       // the socket file ln created, to recognise it
	conns    map[*clientConn]struct{}
	perPeer  map[int]int // open connections by peer uid
	normal   int         // connections holding a normal slot
	overflow int         // connections holding an overflow slot
	seq      uint64
	closed   bool
	serving  bool
	src      Source // what Serve answers from
	health   SocketStatus
	wg       sync.WaitGroup // connection handlers and accept loops
	stop     chan struct{}  // closed by Close
}

// clientConn is one accepted connection and what admission decided about it.
type clientConn struct {
	conn     *net.UnixConn
	uid      int // peer uid; -1 when unknown
	seq      uint64
	overflow bool // past MaxConns: MONITOR only
	asked    bool // the request has been read; no longer evictable
	evicted  bool // its overflow slot was given to a newer connection
	freed    bool // its slot was given back: before its short reply, or when it ended
}

// SocketEvent tells Server.Events what happened to the socket file.
type SocketEvent struct {
	Kind   string // SocketMissing, SocketRecreated or SocketReplaced
	Path   string
	Detail string // why, for the log
}

// The SocketEvent kinds.
const (
	SocketRecreated = "recreated" // the file was gone; a new socket now listens at the path
	SocketMissing   = "missing"   // the file is gone and could not be recreated (Detail says why)
	SocketReplaced  = "replaced"  // something this server did not create sits at the path; left alone
)

// SocketStatus is what /healthz reports about the socket file.
type SocketStatus struct {
	Problem       string    // "" while the socket file is this server's own
	Recreated     int       // how often the file was found deleted and recreated
	LastRecreated time.Time // when it was last recreated
}

// Listen creates the socket at path and returns a Server that does not serve yet.
//
// mode is the socket file's mode (0 means 0660). group, when not empty, is the group (a
// name or a numeric gid) given the socket, so its members can connect. A missing parent
// directory is created with mode 0750 (and the group). Listen refuses a directory that a
// user other than root or this process's could write to (unless it is sticky and owned by
// root, as /tmp is): that user could replace the socket. An existing socket file is
// removed only when nothing answers on it; if a daemon answers, Listen fails with "another
// axprobe is serving <path> (pid N)". A path that exists and is not a socket is never
// removed.
func Listen(path string, mode os.FileMode, group string) (*Server, error) {
	if mode == 0 {
		mode = DefaultMode
	}
	gid := -1
	if group != "" {
		var err error
		if gid, err = LookupGroup(group); err != nil {
			return nil, err
		}
	}
	s := &Server{
		path: path, mode: mode, gid: gid, group: group,
		unlimited: map[int]bool{0: true, os.Geteuid(): true},
		conns:     make(map[*clientConn]struct{}),
		perPeer:   make(map[int]int),
		stop:      make(chan struct{}),
	}
	// The directory is checked before anything in it is touched, the stale socket included.
	if err := ensureDir(filepath.Dir(path), gid); err != nil {
		return nil, err
	}
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, file, err := s.create()
	if err != nil {
		return nil, err
	}
	s.ln, s.file = ln, file
	return s, nil
}

// create makes the directory if needed, checks it, and listens at s.path with s's mode and
// group. The listener never removes the file itself (Close does, after checking it is
// still this server's).
func (s *Server) create() (*net.UnixListener, os.FileInfo, error) {
	dir := filepath.Dir(s.path)
	if err := ensureDir(dir, s.gid); err != nil {
		return nil, nil, err
	}
	if err := CheckDir(dir); err != nil {
		return nil, nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", s.path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		ln.Close()
		os.Remove(s.path)
		return nil, nil, err
	}
	if err := os.Chmod(s.path, s.mode); err != nil {
		return fail(fmt.Errorf("socket %s: set mode %v: %w", s.path, s.mode, err))
	}
	if s.gid >= 0 {
		if err := os.Chown(s.path, -1, s.gid); err != nil {
			return fail(fmt.Errorf("socket %s: set group %s: %w", s.path, s.group, err))
		}
	}
	file, err := os.Lstat(s.path)
	if err != nil {
		return fail(fmt.Errorf("socket %s: %w", s.path, err))
	}
	return ln, file, nil
}

// LookupGroup resolves a group name or numeric gid. The error names the group.
func LookupGroup(group string) (int, error) {
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

// CheckDir returns an error saying why when a user other than root or this process's
// could replace files in dir: dir or one of its ancestors (symlinks resolved) is owned by
// another user, or writable by others (group or world) without being sticky and owned by
// root. Such a user could swap the socket for an impostor's, or the fallback file for
// their own. docs/SECURITY.md has the trust model.
func CheckDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	euid, egid := os.Geteuid(), os.Getegid()
	for d := real; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // no owners on this system
		}
		uid, gid, perm := int(st.Uid), int(st.Gid), fi.Mode().Perm()
		where := ""
		if d != real {
			where = fmt.Sprintf(" (its ancestor %s)", d)
		} else if real != abs {
			where = fmt.Sprintf(" (%s)", real)
		}
		if uid != 0 && uid != euid {
			return fmt.Errorf("socket directory %s%s is owned by uid %d, not root: that user could replace the socket; use a directory only root can write, such as /run/axprobe", dir, where, uid)
		}
		others := perm&0o002 != 0 || (perm&0o020 != 0 && gid != 0 && gid != egid)
		if others && !(fi.Mode()&fs.ModeSticky != 0 && (uid == 0 || uid == euid)) {
			return fmt.Errorf("socket directory %s%s has mode %04o (owner uid %d, group %d): users other than root can write it and could replace the socket; use a directory only root can write, such as /run/axprobe", dir, where, perm, uid, gid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
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

// SocketStatus says whether the socket file is still this server's and how often it was
// recreated.
func (s *Server) SocketStatus() SocketStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Serve accepts connections and answers them from src until ctx ends or Close is called,
// then returns nil after every connection handler has returned and the socket file is
// gone. Meanwhile it checks the socket file every CheckEvery and recreates it when it was
// deleted (CheckSocket). It returns an error if called twice or after Close.
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
	s.startAccept(s.ln, src)
	s.wg.Add(1)
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

	func() { // the socket file watcher
		defer s.wg.Done()
		every := s.CheckEvery
		if every <= 0 {
			every = DefaultCheckEvery
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				_ = s.CheckSocket()
			}
		}
	}()
	s.wg.Wait()
	return nil
}

// CheckSocket checks now that the socket file is still the one this server listens on,
// and recreates it when it was deleted (the daemon's SIGHUP calls it; Serve calls it every
// CheckEvery). A path taken by something this server did not create is left alone and
// reported. It returns the problem that remains, or nil.
func (s *Server) CheckSocket() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.serving {
		return nil
	}
	fi, err := os.Lstat(s.path)
	switch {
	case err == nil && os.SameFile(fi, s.file):
		s.health.Problem = ""
		return nil
	case err == nil:
		return s.problem(SocketReplaced, "the path holds a file this daemon did not create (a "+fileKind(fi)+"); leaving it alone; clients cannot reach this daemon")
	case !errors.Is(err, fs.ErrNotExist):
		return s.problem(SocketMissing, err.Error())
	}
	ln, file, err := s.create()
	if err != nil {
		return s.problem(SocketMissing, "deleted, and cannot be recreated: "+err.Error())
	}
	old := s.ln
	s.ln, s.file = ln, file
	old.Close()
	s.startAccept(ln, s.src)
	s.health.Problem = ""
	s.health.Recreated++
	s.health.LastRecreated = time.Now()
	s.event(SocketEvent{Kind: SocketRecreated, Path: s.path, Detail: "the socket file had been deleted; listening on a new one"})
	return nil
}

// problem records a socket file problem (telling Events once per change) and returns it.
func (s *Server) problem(kind, detail string) error {
	msg := "socket " + s.path + ": " + detail
	if s.health.Problem != msg {
		s.health.Problem = msg
		s.event(SocketEvent{Kind: kind, Path: s.path, Detail: detail})
	}
	return errors.New(msg)
}

func (s *Server) event(e SocketEvent) {
	if s.Events != nil {
		s.Events(e)
	}
}

func fileKind(fi os.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == fs.ModeSocket:
		return "socket"
	case t == fs.ModeSymlink:
		return "symlink"
	case t == fs.ModeDir:
		return "directory"
	case t == 0:
		return "regular file"
	}
	return "special file"
}

// startAccept runs an accept loop on ln. s.mu is held.
func (s *Server) startAccept(ln *net.UnixListener, src Source) {
	s.src = src
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.accept(ln, src)
	}()
}

// accept accepts on ln until it is closed (by Close or by a recreation of the socket).
func (s *Server) accept(ln *net.UnixListener, src Source) {
	var backoff time.Duration
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
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
		c, why := s.admit(conn)
		if c == nil {
			if why != "" {
				s.refuse(conn)
			} else {
				conn.Close()
			}
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.release(c)
			s.handle(c, src)
		}()
	}
}

// admit decides whether conn is served, normally or as overflow, and registers it (and
// its handler on s.wg). It returns nil and a reason when conn must be refused as busy, nil
// and "" when the server is closing.
func (s *Server) admit(conn *net.UnixConn) (*clientConn, string) {
	uid := peerUID(conn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ""
	}
	if uid >= 0 && !s.unlimited[uid] && s.perPeer[uid] >= s.maxPerPeer() { // -1: no SO_PEERCRED on this system
		return nil, "peer limit"
	}
	s.seq++
	c := &clientConn{conn: conn, uid: uid, seq: s.seq}
	limit := s.maxConns()
	switch {
	case s.normal < limit:
		s.normal++
	case s.overflow < limit:
		s.overflow++
		c.overflow = true
	default:
		victim := s.oldestIdleOverflow()
		if victim == nil {
			return nil, "cap"
		}
		// The victim keeps no slot: its handler wakes from its read, answers busy and
		// goes. c takes the slot.
		victim.evicted = true
		_ = victim.conn.SetReadDeadline(time.Unix(1, 0))
		c.overflow = true
	}
	// The read deadline is set here, under the lock, so that an eviction (which moves it
	// to the past) always comes after it.
	_ = conn.SetReadDeadline(time.Now().Add(s.timeout()))
	s.conns[c] = struct{}{}
	s.perPeer[uid]++
	s.wg.Add(1)
	return c, ""
}

// oldestIdleOverflow returns the oldest overflow connection still waiting for its
// request, or nil. s.mu is held.
func (s *Server) oldestIdleOverflow() *clientConn {
	var oldest *clientConn
	for c := range s.conns {
		if c.overflow && !c.asked && !c.evicted && (oldest == nil || c.seq < oldest.seq) {
			oldest = c
		}
	}
	return oldest
}

// release gives back c's slot and closes it.
func (s *Server) release(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perPeer[c.uid]--; s.perPeer[c.uid] <= 0 {
		delete(s.perPeer, c.uid)
	}
	s.freeSlot(c)
	s.mu.Unlock()
	c.conn.Close()
}

// freeSlot gives back the slot c holds, if it still holds one. s.mu is held.
func (s *Server) freeSlot(c *clientConn) {
	switch {
	case c.evicted, c.freed:
		return
	case c.overflow:
		s.overflow--
	default:
		s.normal--
	}
	c.freed = true
}

// shortReply is the longest reply whose slot is given back before it is written. It is
// far below any Unix socket's send buffer, so writing it into the connection, which has
// carried nothing else, cannot block: the connection needs no slot for it. A client that
// has its answer must find the slot free for its next request, and a handler descheduled
// between writing and returning would otherwise hold it a while
// (TestAnsweredMonitorsFreeTheirSlots). A longer reply (a STATUS of many targets) keeps
// its slot while it is written, within Timeout.
const shortReply = 4 << 10

// respond writes line and a newline as c's reply, within Timeout, giving c's slot back
// first when line is short.
func (s *Server) respond(c *clientConn, line string) error {
	if len(line) < shortReply {
		s.mu.Lock()
		s.freeSlot(c)
		s.mu.Unlock()
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(s.timeout()))
	_, err := io.WriteString(c.conn, line+"\n")
	return err
}

// asked marks c's request as read and reports whether c was evicted before that.
func (s *Server) asked(c *clientConn) (evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.asked = true
	return c.evicted
}

func (s *Server) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return DefaultMaxConns
}

func (s *Server) maxPerPeer() int {
	if s.MaxPerPeer > 0 {
		return s.MaxPerPeer
	}
	return DefaultMaxPerPeer
}

// Close stops accepting, closes every open connection, removes the socket file if it is
// still the one this server created (never one that replaced it), and waits for every
// connection handler to return. It is safe to call more than once and from any goroutine.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		close(s.stop)
		err = s.ln.Close()
		for c := range s.conns {
			c.conn.Close()
		}
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.file) {
			os.Remove(s.path)
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

// refuse tells a connection that cannot be admitted that the server is busy, without
// waiting on it: a fresh connection's empty send buffer takes the short line at once. The
// deadline only bounds a buffer that cannot be full; it is long enough that the accept
// loop, descheduled between setting it and writing on a loaded machine, does not fail the
// write and reset the client instead of answering it.
func (s *Server) refuse(conn net.Conn) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(conn, Prefix+" ERR busy\n")
	conn.Close()
	s.observe(commandInvalid, ResultBusy)
}

// handle serves the one request on c. An overflow connection is answered only for
// MONITOR; an evicted one is told it is busy.
func (s *Server) handle(c *clientConn, src Source) {
	conn := c.conn
	command := commandInvalid
	defer func() {
		if p := recover(); p != nil {
			s.respond(c, Prefix+" ERR internal error")
			s.observe(command, ResultError)
		}
	}()
	line, err := readRequest(conn) // the read deadline was set by admit
	if evicted := s.asked(c); evicted && err != nil {
		s.respond(c, Prefix+" ERR busy")
		s.observe(command, ResultBusy)
		return
	}
	if err != nil {
		var netErr net.Error
		switch {
		case errors.As(err, &netErr) && netErr.Timeout():
			s.respond(c, Prefix+" ERR timeout: no complete request within "+s.timeout().String())
			s.observe(command, ResultTimeout)
		case errors.Is(err, errOversize):
			s.respond(c, Prefix+" ERR "+err.Error())
			s.observe(command, ResultBadRequest)
		default: // the client went away before asking anything
			s.observe(command, ResultBadRequest)
		}
		return
	}
	req, err := ParseRequest(line)
	if err != nil {
		s.respond(c, Prefix+" ERR bad request: "+oneLine(err.Error()))
		s.observe(command, ResultBadRequest)
		return
	}
	command = labelOf(req.Command)
	if c.overflow && req.Command != CmdMonitor {
		s.respond(c, Prefix+" ERR busy")
		s.observe(command, ResultBusy)
		return
	}
	out, result := s.answer(req, src)
	if err := s.respond(c, out); err != nil {
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
