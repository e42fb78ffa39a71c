package mailtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds the implicit-TLS handshake a client must finish (except under
// FaultStallTLS, where the server is the one that never finishes).
const handshakeTimeout = 10 * time.Second

// protocol is what one kind of listener adds to the shared connection layer.
type protocol interface {
	// greeting is what a healthy server sends first on c, or nil when the client speaks
	// first (HTTP).
	greeting(c *conn) []byte
	// wrongGreeting is another product's positive greeting, or nil when the protocol acts
	// out FaultWrongBanner itself.
	wrongGreeting() []byte
	// rejectGreeting is the negative greeting sent before closing, or nil when the protocol
	// acts out FaultRejectBanner itself.
	rejectGreeting() []byte
	// serve speaks the protocol on c, whose greeting has been sent, and returns once c is
	// closed. It must return when the server closes c.
	serve(c *conn)
	// close stops whatever serve hands connections to; serve calls made afterwards must
	// close their conn and return.
	close() error
}

// Server is one running fake listener. Its methods are safe for concurrent use.
type Server struct {
	opts  Options
	proto protocol
	addr  string      // the address every (re)listen uses, port resolved
	tls   *tls.Config // implicit TLS only
	log   *slog.Logger
	quit  chan struct{} // closed by Close
	wg    sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener // nil while refused or closed
	closed   bool
	fault    Fault
	slow     time.Duration
	trickle  time.Duration
	conns    map[net.Conn]struct{} // raw accepted conns, closed by Close
	nextID   uint64
	messages []Message // SMTP only
	// onData (SMTP only) sees every message at the end of DATA; an error rejects it. Set
	// by Deliver (delivery.go).
	onData func(Message) error
}

// settings is what a connection snapshots from its server when it is accepted.
type settings struct {
	id      uint64
	fault   Fault
	slow    time.Duration
	trickle time.Duration
}

// newServer validates opts, listens and starts accepting. build makes the protocol once
// the Server exists and listens (protocols keep a pointer to it; addr is the listener's).
// On error nothing keeps running.
func newServer(opts Options, build func(s *Server, addr net.Addr) (protocol, error)) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		quit:    make(chan struct{}),
		slow:    DefaultSlowDelay,
		trickle: DefaultTrickleInterval,
		conns:   make(map[net.Conn]struct{}),
	}
	if opts.TLS == TLSImplicit {
		s.tls = opts.Cert.ServerTLSConfig()
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s.addr = ln.Addr().String()
	if s.proto, err = build(s, ln.Addr()); err != nil {
		ln.Close()
		return nil, err
	}
	s.mu.Lock()
	s.startAccepting(ln)
	s.mu.Unlock()
	return s, nil
}

// Addr returns the listening address, "127.0.0.1:PORT". It stays the same across
// FaultRefuse.
func (s *Server) Addr() string { return s.addr }

// Fault returns the fault new connections get.
func (s *Server) Fault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// SetFault is ApplyFault without the error: an unknown fault is ignored, and a listener that
// cannot be re-opened leaves the server refusing.
func (s *Server) SetFault(f Fault) { _ = s.ApplyFault(f) }

// ApplyFault switches the fault for connections accepted from now on; open connections keep
// theirs. FaultRefuse closes the listener at once; any other fault re-opens it on the same
// address. It returns an error, and changes nothing, for an unknown fault or a closed
// server; if the address cannot be listened on again the error says so and the server stays
// refusing.
func (s *Server) ApplyFault(f Fault) error {
	if _, err := ParseFault(string(f)); err != nil || f == "none" {
		return fmt.Errorf("fault %q is not one of %v", f, Faults())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("server %s is closed", s.addr)
	}
	s.fault = f
	if f == FaultRefuse {
		if s.ln != nil {
			s.ln.Close() // the accept loop sees net.ErrClosed and exits
			s.ln = nil
		}
		return nil
	}
	if s.ln == nil {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			s.fault = FaultRefuse
			return fmt.Errorf("re-listen on %s: %w", s.addr, err)
		}
		s.startAccepting(ln)
	}
	return nil
}

// SetSlowDelay sets how long FaultSlowBanner waits before the banner (default 2s), for
// connections accepted from now on.
func (s *Server) SetSlowDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// SetTrickleInterval sets the pause between two bytes under FaultTrickle (default 1s), for
// connections accepted from now on.
func (s *Server) SetTrickleInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trickle = d
}

// Close closes the listener and every open connection, stops the protocol's library server
// and returns once every goroutine the server started has exited. (The per-connection
// goroutines of go-smtp, go-imap and net/http are waited for up to their closing of the
// connection, which is the last thing they do.) Calling it again returns nil at once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	var err error
	if s.ln != nil {
		err = s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err = errors.Join(err, s.proto.close())
	s.wg.Wait()
	return err
}

// startAccepting runs the accept loop for ln. s.mu must be held.
func (s *Server) startAccepting(ln net.Listener) {
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop(ln)
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		raw, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // e.g. EMFILE: back off instead of spinning
			s.log.Debug("mailtest: accept", "addr", s.addr, "err", err)
			if !s.sleep(50 * time.Millisecond) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			raw.Close()
			return
		}
		s.nextID++
		set := settings{id: s.nextID, fault: s.fault, slow: s.slow, trickle: s.trickle}
		s.conns[raw] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(raw, set)
	}
}

// handle acts out the connection's fault on the raw conn, then hands it to the protocol.
func (s *Server) handle(raw net.Conn, set settings) {
	defer s.wg.Done()
	defer func() {
		raw.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()

	var nc net.Conn = raw
	switch {
	case set.fault == FaultHang:
		drain(raw)
		return
	case s.tls != nil && set.fault == FaultStallTLS:
		drain(raw) // swallows the ClientHello, answers nothing
		return
	case s.tls != nil:
		tc, err := serverTLS(raw, s.tls)
		if err != nil {
			s.log.Debug("mailtest: tls handshake", "addr", s.addr, "err", err)
			return
		}
		nc = tc
	}
	c := &conn{Conn: nc, id: set.id, fault: set.fault, srv: s, done: make(chan struct{})}

	greeting := s.proto.greeting(c)
	switch set.fault {
	case FaultHugeLine:
		writeHuge(nc, greeting)
		drain(nc)
		return
	case FaultRejectBanner:
		if reject := s.proto.rejectGreeting(); reject != nil {
			nc.Write(reject)
			return
		}
	case FaultWrongBanner:
		if wrong := s.proto.wrongGreeting(); wrong != nil {
			greeting = wrong
		}
	case FaultSlowBanner:
		if !s.sleep(set.slow) {
			return
		}
	case FaultTrickle:
		if greeting == nil { // nothing to trickle before the client speaks: trickle the replies
			c.trickle = set.trickle
		}
	}
	if greeting != nil {
		var err error
		if set.fault == FaultTrickle {
			err = s.trickleWrite(nc, greeting, set.trickle)
		} else {
			_, err = nc.Write(greeting)
		}
		if err != nil {
			return
		}
	}
	if set.fault == FaultDrop {
		var one [1]byte
		nc.Read(one[:]) // the client's first byte, or its leaving, or Close
		return
	}
	s.proto.serve(c)
}

// sleep waits d and reports true, or reports false as soon as the server closes.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-s.quit:
		return false
	}
}

// trickleWrite writes p one byte at a time, pausing every between two bytes. It stops with
// net.ErrClosed when the server closes.
func (s *Server) trickleWrite(w io.Writer, p []byte, every time.Duration) error {
	for i := range p {
		if i > 0 && !s.sleep(every) {
			return net.ErrClosed
		}
		if _, err := w.Write(p[i : i+1]); err != nil {
			return err
		}
	}
	return nil
}

// drain reads and discards until c fails: the client leaves, a deadline passes or the
// server closes c. It is how a fault holds a connection without answering.
func drain(c net.Conn) {
	io.Copy(io.Discard, c)
}

// writeHuge writes the greeting's first line without its line end, padded with 'x' to
// HugeLineSize bytes. It blocks while the client does not read; closing the conn ends it.
func writeHuge(w io.Writer, greeting []byte) {
	prefix, _, _ := bytes.Cut(greeting, []byte("\n"))
	prefix = bytes.TrimSuffix(prefix, []byte("\r"))
	if _, err := w.Write(prefix); err != nil {
		return
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	for left := HugeLineSize - len(prefix); left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return
		}
	}
}

// conn is what a protocol gets: the client connection (TLS already done for implicit
// listeners) with the fault it was accepted under. Close is idempotent and signals Done.
type conn struct {
	net.Conn
	id      uint64
	fault   Fault
	srv     *Server
	trickle time.Duration // > 0: every Write goes out one byte at a time (HTTP under FaultTrickle)

	once sync.Once
	done chan struct{}
}

// Write writes p, one byte per c.trickle when trickling.
func (c *conn) Write(p []byte) (int, error) {
	if c.trickle <= 0 {
		return c.Conn.Write(p)
	}
	if err := c.srv.trickleWrite(c.Conn, p, c.trickle); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the connection; Done is closed after the first call.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		err = c.Conn.Close()
		close(c.done)
	})
	return err
}

// handoff is a net.Listener fed by the connection layer, so that a library server (go-smtp,
// go-imap, net/http) serves connections whose faults were already decided, and so that the
// layer knows when the library is done with each one.
type handoff struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{ch: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

// Accept returns the next connection, or net.ErrClosed once the handoff is closed.
func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail from now on. It is idempotent.
func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Addr returns the address of the real listener behind the handoff.
func (h *handoff) Addr() net.Addr { return h.addr }

// serve gives nc (c itself or a wrapper whose Close closes c) to the library and waits until
// the library has closed it. If the handoff is closed first, it closes nc itself.
func (h *handoff) serve(c *conn, nc net.Conn) {
	select {
	case h.ch <- nc:
	case <-h.closed:
		nc.Close()
		return
	}
	<-c.done
}
