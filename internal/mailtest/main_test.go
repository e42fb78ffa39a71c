package mailtest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioTimeout bounds every read and write a test makes; no test waits longer on a server.
const ioTimeout = 10 * time.Second

// quiet is how long a test listens for bytes that must not come.
const quiet = 150 * time.Millisecond

var testUsers = map[string]string{"alice@example.test": "s3cret pass", "admin": "adminpw"}

// start runs one of the Start functions and closes the server at the end of the test,
// failing the test if Close does.
func start(t *testing.T, startFn func(Options) (*Server, error), o Options) *Server {
	t.Helper()
	if o.Users == nil {
		o.Users = testUsers
	}
	s, err := startFn(o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// startFaulter starts an Axigen of fakes with its default users, closed at the end of the
// test, and returns its Faulter.
func startFaulter(t *testing.T) Faulter {
	t.Helper()
	ax, err := StartAxigen(AxigenOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ax.Close() })
	return Faulter{Axigen: ax}
}

func testCerts(t *testing.T) *Certs {
	t.Helper()
	c, err := NewCerts(t.TempDir(), "127.0.0.1", "mail.example.test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is a raw test client: a conn with a deadline and a line reader.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(ioTimeout))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// line reads one line, CRLF included.
func (c *client) line() string {
	c.t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v (got %q)", err, s)
	}
	return s
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// exact reads len(want) bytes and compares them: for prompts without a line end.
func (c *client) exact(want string) {
	c.t.Helper()
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		c.t.Fatalf("read %q: %v (got %q)", want, err, buf)
	}
	if string(buf) != want {
		c.t.Fatalf("got %q, want %q", buf, want)
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// until reads lines until one starts with prefix and returns all of them.
func (c *client) until(prefix string) []string {
	c.t.Helper()
	var lines []string
	for range 100 {
		l := c.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, prefix) {
			return lines
		}
	}
	c.t.Fatalf("no line starting %q in %q", prefix, lines)
	return nil
}

// silent asserts that nothing arrives for a short while.
func (c *client) silent() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(quiet))
	defer c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := c.r.ReadByte()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("expected silence, got byte %q err %v", b, err)
	}
}

// closed asserts that the server closes the connection (EOF or reset) without sending
// anything more.
func (c *client) closed() {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("expected close, got %q", append([]byte{b}, rest...))
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("expected EOF, got %v", err)
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// startTLS upgrades the client with the test CA, verifying 127.0.0.1.
func (c *client) startTLS(certs *Certs) {
	c.t.Helper()
	if c.r.Buffered() > 0 {
		c.t.Fatalf("%d bytes buffered before TLS", c.r.Buffered())
	}
	tc := tls.Client(c.nc, certs.ClientTLSConfig("127.0.0.1"))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.nc = tc
	c.r = bufio.NewReader(tc)
}
