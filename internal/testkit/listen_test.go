package testkit

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestAcceptHoldsUntilTheEnd: a connection the handler keeps open stays open while the
// test runs and is closed when it ends.
func TestAcceptHoldsUntilTheEnd(t *testing.T) {
	var conn net.Conn
	t.Run("silent server", func(t *testing.T) {
		addr := Listen(t, "tcp", "127.0.0.1:0", func(net.Conn) {})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = c
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read from the silent server: %v, want a timeout (held open)", err)
		}
	})
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(Bound))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the test ended: %v, want EOF (closed)", err)
	}
}
