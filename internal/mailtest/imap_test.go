package mailtest

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

const imapGreeting = "* OK Axigen-10.6.30 (Linux/x64) IMAP4rev1 service is ready\r\n"

func TestIMAPHappyPath(t *testing.T) {
	s := start(t, StartIMAP, Options{})
	c := dial(t, s.Addr())
	c.expect(imapGreeting)
	c.send("a1 CAPABILITY\r\n")
	caps := c.until("a1 ")
	if !strings.HasPrefix(caps[0], "* CAPABILITY IMAP4rev1") || strings.Contains(caps[0], "STARTTLS") {
		t.Errorf("CAPABILITY = %q", caps)
	}
	c.send("a2 LOGIN alice@example.test wrong\r\n")
	c.expect("a2 NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
	c.send("a3 LOGIN alice@example.test \"s3cret pass\"\r\n")
	if l := c.until("a3 "); !strings.HasPrefix(l[len(l)-1], "a3 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	c.send("a4 SELECT INBOX\r\n")
	if l := c.until("a4 "); !strings.HasPrefix(l[len(l)-1], "a4 OK [READ-WRITE]") || l[0] != "* 0 EXISTS\r\n" {
		t.Fatalf("SELECT: %q", l)
	}
	c.send("a5 EXAMINE INBOX\r\n")
	if l := c.until("a5 "); !strings.HasPrefix(l[len(l)-1], "a5 OK [READ-ONLY]") {
		t.Fatalf("EXAMINE: %q", l)
	}
	c.send("a6 LOGOUT\r\n")
	if l := c.until("a6 "); !strings.HasPrefix(l[0], "* BYE") || !strings.HasPrefix(l[1], "a6 OK") {
		t.Fatalf("LOGOUT: %q", l)
	}
	c.closed()
}

func TestIMAPVersionInGreeting(t *testing.T) {
	s := start(t, StartIMAP, Options{Version: "10.5.2"})
	dial(t, s.Addr()).expect("* OK Axigen-10.5.2 (Linux/x64) IMAP4rev1 service is ready\r\n")
}

func TestIMAPStartTLS(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartIMAP, Options{TLS: TLSStartTLS, Cert: certs})
	c := dial(t, s.Addr())
	c.expect(imapGreeting)
	c.send("a1 CAPABILITY\r\n")
	if caps := c.until("a1 "); !strings.Contains(caps[0], " STARTTLS") {
		t.Fatalf("CAPABILITY lacks STARTTLS: %q", caps)
	}
	c.send("a2 STARTTLS\r\n")
	c.expect("a2 OK Begin TLS negotiation now\r\n")
	c.startTLS(certs)
	c.send("a3 LOGIN admin adminpw\r\n")
	if l := c.until("a3 "); !strings.HasPrefix(l[len(l)-1], "a3 OK") {
		t.Fatalf("LOGIN over TLS: %q", l)
	}
	c.send("a4 LOGOUT\r\n")
	c.until("a4 ")
}

func TestIMAPImplicitTLSWithClientLibrary(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartIMAP, Options{TLS: TLSImplicit, Cert: certs})
	cl, err := imapclient.DialTLS(s.Addr(), &imapclient.Options{TLSConfig: certs.ClientTLSConfig("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("admin", "adminpw").Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select: %v", err)
	}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatalf("logout: %v", err)
	}
}
