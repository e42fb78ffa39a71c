package faults

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
)

// TestToolsEndOnClose checks this package's own tooling, on loopback and without the
// integration suites: the proxy forwards a greeting, resets a connection when Reset says
// so, and Close of the proxy and of a Hostile listener returns (every goroutine they
// started has ended) while clients are still connected, ending their connections.
func TestToolsEndOnClose(t *testing.T) {
	smtp := startFake(t, mailtest.StartSMTP)
	var reset atomic.Bool
	p, err := StartProxy(ProxyOptions{Backend: smtp.Addr(), Reset: reset.Load})
	if err != nil {
		t.Fatal(err)
	}
	forwarded := dialTool(t, p.Addr())
	if line, err := bufio.NewReader(forwarded).ReadString('\n'); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("through the proxy: %q, %v; want the fake's 220 greeting", line, err)
	}
	reset.Store(true)
	// The reset may reach the dialer before its connect returns: that is the same answer.
	if c, err := net.DialTimeout("tcp", p.Addr(), 10*time.Second); err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a connection the proxy resets: read %d bytes, %v; want none and an error at once", n, err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("dialing through the proxy that resets: %v, want a reset", err)
	}
	h, err := StartHostile(EndlessLine)
	if err != nil {
		t.Fatal(err)
	}
	endless := dialTool(t, h.Addr())
	if _, err := endless.Read(make([]byte, 4)); err != nil {
		t.Fatalf("endless line: %v", err)
	}

	itest.Within(t, 10*time.Second, "Close of the proxy and the hostile listener", func() { err = errors.Join(p.Close(), h.Close()) })
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	for name, c := range map[string]net.Conn{"proxied": forwarded, "endless line": endless} {
		var err error
		for err == nil { // what was sent before Close may still be read; then the end
			_, err = c.Read(make([]byte, 32<<10))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection still open 10 s after Close", name)
		}
	}
}

// dialTool connects to addr on loopback; reads on the connection give up after 10 s.
func dialTool(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
