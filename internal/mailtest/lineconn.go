package mailtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// writeTimeout bounds one reply of the in-tree servers to a client that does not read.
const writeTimeout = 30 * time.Second

// errLineTooLong is returned by lineConn.readLine for a line longer than its limit.
var errLineTooLong = errors.New("line too long")

// lineConn reads CRLF (or bare LF) lines of bounded length, each within an idle deadline,
// and writes replies within writeTimeout. It is the I/O of the in-tree POP3 and CLI
// servers, which must never hang or grow on a hostile client.
type lineConn struct {
	nc   net.Conn
	r    *bufio.Reader
	idle time.Duration
}

// newLineConn reads lines of at most maxLine bytes, line end included.
func newLineConn(nc net.Conn, maxLine int, idle time.Duration) *lineConn {
	return &lineConn{nc: nc, r: bufio.NewReaderSize(nc, maxLine), idle: idle}
}

// readLine returns the next line without its line end. A line that does not fit the
// buffer is errLineTooLong; a client silent for the idle time gets a timeout error.
func (l *lineConn) readLine() (string, error) {
	if err := l.nc.SetReadDeadline(time.Now().Add(l.idle)); err != nil {
		return "", err
	}
	b, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("%w: more than %d bytes", errLineTooLong, l.r.Size())
	}
	if err != nil {
		return "", err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	return string(b), nil
}

// write sends s within writeTimeout.
func (l *lineConn) write(s string) error {
	if err := l.nc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := l.nc.Write([]byte(s))
	return err
}

// buffered reports whether the client sent bytes that were read but not yet used; a
// client must not pipeline bytes behind STARTTLS/STLS.
func (l *lineConn) buffered() bool { return l.r.Buffered() > 0 }

// lineNext says what a line session's connection does after a reply.
type lineNext int

const (
	lineContinue lineNext = iota
	lineQuit              // close the connection
	lineStartTLS          // run the TLS handshake, then read commands again
)

// serveLines runs the state machine of an in-tree line server (POP3, the CLI) on nc until
// it says lineQuit (nil), an error or the connection's end: each line, at most maxLine
// bytes and awaited at most idle, goes to exec, which is free of I/O and returns the whole
// reply (line ends and prompt included) and what to do next; the reply goes back.
// An over-long line is answered tooLong and ends the session. After a lineStartTLS reply,
// upgrade (nil when exec never asks) gets the plain conn and whether the client already sent
// bytes behind the command, and returns the TLS conn the session goes on over.
func serveLines(nc net.Conn, exec func(line string) (string, lineNext), maxLine int, idle time.Duration, tooLong string, upgrade func(nc net.Conn, pipelined bool) (net.Conn, error)) error {
	lc := newLineConn(nc, maxLine, idle)
	for {
		line, err := lc.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				lc.write(tooLong)
			}
			return err
		}
		reply, next := exec(line)
		if err := lc.write(reply); err != nil {
			return err
		}
		switch next {
		case lineQuit:
			return nil
		case lineStartTLS:
			if nc, err = upgrade(nc, lc.buffered()); err != nil {
				return err
			}
			lc = newLineConn(nc, maxLine, idle)
		}
	}
}

// serverTLS runs the server side of a TLS handshake on nc within handshakeTimeout and
// returns the TLS conn, its deadline cleared.
func serverTLS(nc net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(nc, cfg)
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return tc, nil
}

// inTreeProto is the protocol of an in-tree line server (POP3, the CLI): the greetings, and
// the session each connection runs.
type inTreeProto struct {
	srv           *Server
	logMsg        string // what the log says of a session that ended in an error
	greet         func(s *Server, c *conn) []byte
	wrong, reject []byte
	run           func(s *Server, c *conn) error
}

// startLines starts a fake of an in-tree line protocol: greet is what a healthy server
// sends first, wrong and reject the FaultWrongBanner and FaultRejectBanner greetings, run
// the session of one connection (serveLines underneath).
func startLines(opts Options, name string, greet func(s *Server, c *conn) []byte, wrong, reject string, run func(s *Server, c *conn) error) (*Server, error) {
	return newServer(opts, func(s *Server, _ net.Addr) (protocol, error) {
		return &inTreeProto{srv: s, logMsg: "mailtest: " + name + " session", greet: greet, wrong: []byte(wrong), reject: []byte(reject), run: run}, nil
	})
}

func (p *inTreeProto) greeting(c *conn) []byte { return p.greet(p.srv, c) }
func (p *inTreeProto) wrongGreeting() []byte   { return p.wrong }
func (p *inTreeProto) rejectGreeting() []byte  { return p.reject }
func (p *inTreeProto) close() error            { return nil } // no library server behind
func (p *inTreeProto) serve(c *conn) {
	if err := p.run(p.srv, c); err != nil {
		p.srv.log.Debug(p.logMsg, "addr", p.srv.addr, "err", err)
	}
}
