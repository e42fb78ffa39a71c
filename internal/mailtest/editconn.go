package mailtest

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// editNext tells editConn what to do after a line.
type editNext int

const (
	keepEditing editNext = iota // look at the next line too
	passThrough                 // stop looking: write everything else unchanged
	tlsStarts                   // the line accepted STARTTLS: pass through, and stall under FaultStallTLS
)

// maxPendingLine bounds what editConn holds while waiting for a line end; a longer run
// without one goes out unedited.
const maxPendingLine = 64 << 10

// editConn lets a protocol rewrite the lines a library server writes: go-smtp and go-imap
// send their own greeting (which the connection layer has already replaced) and their own
// EHLO text. It also acts out FaultStallTLS after a positive STARTTLS reply: from then on
// reads swallow the client's bytes (its ClientHello) and never return them, so the
// library's handshake waits until the client leaves or the server closes the conn.
//
// The libraries write whole CRLF-terminated lines, and once TLS starts no line is edited,
// so holding a partial line until its end never delays a reply.
type editConn struct {
	*conn
	stall atomic.Bool

	mu      sync.Mutex
	edit    func(line []byte) ([]byte, editNext) // nil: pass through; a nil result drops the line
	pending []byte
}

func newEditConn(c *conn, edit func(line []byte) ([]byte, editNext)) *editConn {
	return &editConn{conn: c, edit: edit}
}

// Read reads from the client, or under a triggered stall swallows everything until the
// connection fails and returns that failure.
func (e *editConn) Read(p []byte) (int, error) {
	if e.stall.Load() {
		drain(e.conn)
		return 0, io.EOF
	}
	return e.conn.Read(p)
}

// Write edits complete lines of p and writes the result. It reports len(p) written unless
// the connection fails.
func (e *editConn) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.edit == nil {
		return e.conn.Write(p)
	}
	e.pending = append(e.pending, p...)
	var out []byte
	for e.edit != nil {
		i := bytes.IndexByte(e.pending, '\n')
		if i < 0 {
			break
		}
		line := e.pending[:i+1]
		edited, next := e.edit(line)
		out = append(out, edited...)
		e.pending = e.pending[i+1:]
		if next != keepEditing {
			e.edit = nil
		}
		if next == tlsStarts && e.fault == FaultStallTLS {
			e.stall.Store(true)
		}
	}
	if e.edit == nil || len(e.pending) > maxPendingLine {
		out = append(out, e.pending...)
		e.pending = nil
	}
	if len(out) > 0 {
		if _, err := e.conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
