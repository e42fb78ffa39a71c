package probe

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// deadlineConn clamps every deadline a protocol library sets to the probe's hard deadline,
// closes itself when the probe's context ends, and tells the trace when the first byte of
// the banner arrives. go-imap and go-smtp take no context and set their own deadlines; this
// wrapper is what keeps them inside the probe's budget.
type deadlineConn struct {
	net.Conn
	hard   time.Time // zero: no hard deadline
	trace  *Trace
	mu     sync.Mutex
	stop   func() bool // unregisters the context hook; guarded by mu
	closed bool
}

// dial connects to addr within ctx and returns a conn bound to ctx: closed as soon as ctx
// ends, with every deadline clamped to ctx's deadline. The "connect" phase is recorded.
func dial(ctx context.Context, t *Trace, network, addr string) (net.Conn, error) {
	t.Begin("connect")
	// No TCP keep-alive: a probe's connection lives for one probe, and enabling it costs
	// four setsockopt calls per probe.
	d := net.Dialer{KeepAlive: -1}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, Wrap(ctx, t, err)
	}
	return bindConn(ctx, t, raw), nil
}

// bindConn wraps raw as described on deadlineConn.
func bindConn(ctx context.Context, t *Trace, raw net.Conn) net.Conn {
	c := &deadlineConn{Conn: raw, trace: t}
	if dl, ok := ctx.Deadline(); ok {
		c.hard = dl
		_ = raw.SetDeadline(dl)
	}
	// Hold the lock while registering: if ctx is already done the hook runs at once, in
	// another goroutine, and must not see c.stop half-written.
	c.mu.Lock()
	c.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
	c.mu.Unlock()
	return c
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if c.hard.IsZero() {
		return t
	}
	if t.IsZero() || t.After(c.hard) {
		return c.hard
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.trace != nil {
		c.trace.markFirstByte()
	}
	return n, err
}

// Close closes the conn once and releases the context hook. It is safe to call twice.
func (c *deadlineConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	return c.Conn.Close()
}

// startTLS runs a client TLS handshake over conn within ctx, recording the "tls" phase
// (the caller names STARTTLS negotiation separately) and the peer certificate.
func startTLS(ctx context.Context, t *Trace, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	t.Begin("tls")
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Wrap(ctx, t, err)
	}
	return tc, nil
}
