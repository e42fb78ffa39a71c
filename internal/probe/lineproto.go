package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// maxLine bounds every line the in-tree protocol code reads: a server that sends an endless
// line gets a protocol error after maxLine bytes, never unbounded memory.
const maxLine = 4096

// maxReplyLines bounds multi-line replies (SMTP continuation lines, IMAP untagged data).
const maxReplyLines = 256

// errLineTooLong is returned when a line exceeds maxLine bytes. It classifies as
// ReasonProtocol.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

// newLineReader returns a reader whose buffer is exactly maxLine bytes, so that readLine
// can detect an over-long line without growing anything.
func newLineReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, maxLine) }

// readLine reads one line and returns it without its line ending (CRLF or a bare LF). The
// returned slice is a copy. A line longer than maxLine is errLineTooLong; a connection that
// ends mid-line is io.ErrUnexpectedEOF.
func readLine(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errLineTooLong
	case errors.Is(err, io.EOF) && len(b) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	return bytes.Clone(b), nil
}

// writeLine sends s followed by CRLF.
func writeLine(w io.Writer, s string) error {
	_, err := io.WriteString(w, s+"\r\n")
	return err
}

// replayConn is a conn whose reads come from r. Probers that read a greeting themselves
// (to time it and match BannerRegex) hand a protocol library a replayConn that replays the
// greeting's bytes and then whatever the line reader had buffered, followed by the conn.
//
// It also keeps the first read or write error, because some libraries report a network
// failure only as text (imapclient's "%v"), and the reason must come from the real error.
type replayConn struct {
	net.Conn
	r io.Reader

	mu  sync.Mutex
	err error
}

func (c *replayConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.keep(err)
	return n, err
}

func (c *replayConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.keep(err)
	return n, err
}

func (c *replayConn) keep(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// connErr returns the first read or write error the conn met, or nil.
func (c *replayConn) connErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// replay returns conn with prefix and the buffered content of br put back in front of it.
// br must be a reader over conn.
func replay(conn net.Conn, prefix []byte, br *bufio.Reader) *replayConn {
	return &replayConn{Conn: conn, r: io.MultiReader(bytes.NewReader(prefix), br)}
}

// syntaxError is a reply that breaks the protocol's grammar. In a greeting it makes a
// bad_banner; anywhere else Wrap classifies it as protocol.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func syntaxErrorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}
