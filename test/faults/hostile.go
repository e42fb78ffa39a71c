package faults

import (
	"bytes"
	"fmt"
	"net"
	"time"
)

// Behaviour is how a Hostile listener treats every connection.
type Behaviour string

// The behaviours internal/mailtest does not offer.
const (
	// EndlessLine sends "220 " and then 'x' forever, never a line break, until the client
	// leaves or the listener closes.
	EndlessLine Behaviour = "endless_line"
	// ResetMidReply sends the first half of an SMTP greeting and then resets the connection
	// (RST, not FIN).
	ResetMidReply Behaviour = "reset_mid_reply"
)

// hostileWriteTimeout bounds one write of an EndlessLine connection, so a client that
// stops reading without closing cannot hold a goroutine forever.
const hostileWriteTimeout = 10 * time.Second

// Hostile is a TCP listener on 127.0.0.1 that misbehaves the same way on every connection.
type Hostile struct {
	b   Behaviour
	set *connSet
}

// StartHostile listens on an ephemeral port of 127.0.0.1 with behaviour b.
func StartHostile(b Behaviour) (*Hostile, error) {
	switch b {
	case EndlessLine, ResetMidReply:
	default:
		return nil, fmt.Errorf("hostile behaviour %q is not one of %s, %s", b, EndlessLine, ResetMidReply)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hostile %s: %w", b, err)
	}
	h := &Hostile{b: b, set: newConnSet(ln)}
	h.set.accept(nil, h.serve)
	return h, nil
}

// Addr returns the listening address, "127.0.0.1:port".
func (h *Hostile) Addr() string { return h.set.ln.Addr().String() }

// Close stops accepting, closes every connection and returns once every goroutine the
// listener started has returned.
func (h *Hostile) Close() error { return h.set.close() }

func (h *Hostile) serve(c net.Conn) {
	switch h.b {
	case EndlessLine:
		xs := bytes.Repeat([]byte("x"), 32<<10)
		for first := true; ; first = false {
			_ = c.SetWriteDeadline(time.Now().Add(hostileWriteTimeout))
			chunk := xs
			if first {
				chunk = append([]byte("220 "), xs...)
			}
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	case ResetMidReply:
		_, _ = c.Write([]byte("220 mail.example.test ESM"))
		resetConn(c)
	}
}
