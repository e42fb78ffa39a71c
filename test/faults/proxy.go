package faults

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// ProxyOptions configure StartProxy.
type ProxyOptions struct {
	Backend string // host:port every accepted connection is forwarded to
	// Reset, when not nil, is asked once per accepted connection; when it returns true the
	// connection is reset (RST, no byte sent) instead of forwarded. It is called from the
	// accept loop only, never concurrently.
	Reset func() bool
}

// Proxy is a TCP proxy on 127.0.0.1 that forwards every connection to a backend, adding a
// settable latency to every chunk in both directions or resetting connections on demand.
// It stands in for `tc netem`, which this kind of machine does not have.
type Proxy struct {
	opts  ProxyOptions
	delay atomic.Int64 // time.Duration added before each forwarded chunk
	set   *connSet     // its stop ends every pending delay
}

// StartProxy listens on an ephemeral port of 127.0.0.1 and forwards to opts.Backend.
func StartProxy(opts ProxyOptions) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(opts.Backend); err != nil {
		return nil, fmt.Errorf("proxy backend %q: %w", opts.Backend, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{opts: opts, set: newConnSet(ln)}
	p.set.accept(p.admit, p.forward)
	return p, nil
}

// Addr returns the proxy's listening address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.set.ln.Addr().String() }

// SetDelay sets the latency added before every chunk forwarded from now on, in both
// directions and on connections already open; 0 removes it.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Close stops accepting, closes every connection (both sides) and returns once every
// goroutine the proxy started has returned.
func (p *Proxy) Close() error { return p.set.close() }

// admit resets the connection c (RST, no byte sent) instead of forwarding it when
// opts.Reset says so.
func (p *Proxy) admit(c net.Conn) bool {
	if p.opts.Reset != nil && p.opts.Reset() {
		resetConn(c)
		return false
	}
	return true
}

// forward connects c to the backend and copies both ways until either side ends.
func (p *Proxy) forward(client net.Conn) {
	var d net.Dialer
	backend, err := d.Dial("tcp", p.opts.Backend)
	if err != nil {
		// The backend refuses or is gone: tell the client the same way, at once.
		resetConn(client)
		return
	}
	if !p.set.track(backend) {
		return
	}
	defer p.set.untrack(backend)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		p.copy(dst, src)
		// Closing both ends the other direction too: a proxy that half-closed would keep
		// a hung peer's goroutine alive.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	p.set.wg.Go(func() { pipe(backend, client) })
	pipe(client, backend)
	<-done
}

// copy forwards src to dst chunk by chunk, waiting the current delay before each chunk.
func (p *Proxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(time.Duration(p.delay.Load())) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait sleeps d, or returns false early when the proxy closes.
func (p *Proxy) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.set.stop:
		return false
	}
}

// resetConn closes c with SO_LINGER 0, so the peer gets a RST rather than a clean FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
