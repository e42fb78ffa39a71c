package mailtest

import (
	"bufio"
	"bytes"
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
