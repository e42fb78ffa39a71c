package itest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FreeAddr returns a loopback address with a port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Port returns the port of a "host:port" address ("" when it has none).
func Port(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// Control sends request (one line, with its newline) to the control socket of an
// axigen-standin (cmd/axigen-standin, --control) and returns its reply line, without the
// newline. Both are bounded to 10 s.
func Control(socket, request string) (string, error) {
	c, err := net.DialTimeout("unix", socket, 10*time.Second)
	if err != nil {
		return "", fmt.Errorf("control socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		return "", fmt.Errorf("control socket: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reply to %q: %w", request, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}
