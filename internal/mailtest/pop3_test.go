package mailtest

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var pop3Greeting = regexp.MustCompile(`^\+OK AXIGEN POP3 server on mail\.example\.test ready <\d+\.\d+@mail\.example\.test>\r\n$`)

func TestPOP3HappyPath(t *testing.T) {
	s := start(t, StartPOP3, Options{})
	c := dial(t, s.Addr())
	if g := c.line(); !pop3Greeting.MatchString(g) {
		t.Fatalf("greeting %q", g)
	}
	c.send("CAPA\r\n")
	if capa := strings.Join(c.until("."), ""); capa != "+OK Capability list follows\r\nUSER\r\nIMPLEMENTATION AXIGEN\r\n.\r\n" {
		t.Errorf("CAPA = %q", capa)
	}
	c.send("STAT\r\n")
	c.expect("-ERR Command not permitted in this state\r\n")
	c.send("PASS x\r\n")
	c.expect("-ERR USER first\r\n")
	c.send("USER alice@example.test\r\n")
	c.expect("+OK User accepted, send PASS\r\n")
	c.send("PASS wrong\r\n")
	c.expect("-ERR [AUTH] Authentication failed\r\n")
	c.send("user alice@example.test\r\n")
	c.line()
	c.send("pass s3cret pass\r\n")
	c.expect("+OK Mailbox locked and ready\r\n")
	c.send("STAT\r\n")
	c.expect("+OK 0 0\r\n")
	c.send("NOOP\r\n")
	c.expect("+OK\r\n")
	c.send("LIST\r\n")
	c.expect("+OK 0 messages (0 octets)\r\n")
	c.expect(".\r\n")
	c.send("QUIT\r\n")
	c.expect("+OK AXIGEN POP3 server signing off\r\n")
	c.closed()
}

func TestPOP3STLS(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartPOP3, Options{TLS: TLSStartTLS, Cert: certs})
	c := dial(t, s.Addr())
	c.line()
	c.send("CAPA\r\n")
	if capa := strings.Join(c.until("."), ""); !strings.Contains(capa, "\r\nSTLS\r\n") {
		t.Fatalf("CAPA lacks STLS: %q", capa)
	}
	c.send("STLS\r\n")
	c.expect("+OK Begin TLS negotiation\r\n")
	c.startTLS(certs)
	c.send("STLS\r\n")
	c.expect("-ERR STLS not available\r\n")
	c.send("USER admin\r\n")
	c.line()
	c.send("PASS adminpw\r\n")
	c.expect("+OK Mailbox locked and ready\r\n")
	c.send("QUIT\r\n")
	c.line()
}

func TestPOP3HostileClients(t *testing.T) {
	s := start(t, StartPOP3, Options{})

	t.Run("line too long", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.line()
		c.send(strings.Repeat("A", 4096) + "\r\n")
		c.expect("-ERR Line too long\r\n")
		c.closed()
	})
	t.Run("five failed logins", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.line()
		for range pop3MaxAuthFail - 1 {
			c.send("USER admin\r\nPASS nope\r\n")
			c.line()
			c.expect("-ERR [AUTH] Authentication failed\r\n")
		}
		c.send("USER admin\r\nPASS nope\r\n")
		c.line()
		c.expect("-ERR [AUTH] Authentication failed, closing\r\n")
		c.closed()
	})
	t.Run("idle timeout", func(t *testing.T) {
		s := start(t, StartPOP3, Options{IdleTimeout: 50 * time.Millisecond})
		c := dial(t, s.Addr())
		c.line()
		c.closed() // a client that says nothing is let go
	})
}
