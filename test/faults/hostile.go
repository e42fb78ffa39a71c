package faults

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
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
	b  Behaviour
	ln net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
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
	h := &Hostile{b: b, ln: ln, conns: map[net.Conn]struct{}{}}
	h.wg.Go(h.acceptLoop)
	return h, nil
}

// Addr returns the listening address, "127.0.0.1:port".
func (h *Hostile) Addr() string { return h.ln.Addr().String() }

// Close stops accepting, closes every connection and returns once every goroutine the
// listener started has returned.
func (h *Hostile) Close() error {
	h.mu.Lock()
	var err error
	if !h.closed {
		h.closed = true
		err = h.ln.Close()
		for c := range h.conns {
			c.Close()
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
	return err
}

func (h *Hostile) acceptLoop() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.conns[c] = struct{}{}
		h.mu.Unlock()
		h.wg.Go(func() {
			defer func() {
				h.mu.Lock()
				delete(h.conns, c)
				h.mu.Unlock()
				c.Close()
			}()
			h.serve(c)
		})
	}
}

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
