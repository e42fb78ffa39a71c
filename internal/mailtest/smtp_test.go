package mailtest

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func plainAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

func TestSMTPHappyPath(t *testing.T) {
	s := start(t, StartSMTP, Options{})
	c := dial(t, s.Addr())
	c.expect("220 mail.example.test Axigen ESMTP ready\r\n")
	c.send("EHLO probe.example\r\n")
	ehlo := c.until("250 ")
	if ehlo[0] != "250-mail.example.test Axigen ESMTP hello\r\n" {
		t.Errorf("EHLO first line %q", ehlo[0])
	}
	if !slices.Contains(ehlo, "250-AUTH PLAIN LOGIN\r\n") {
		t.Errorf("EHLO lacks AUTH PLAIN LOGIN: %q", ehlo)
	}
	if slices.ContainsFunc(ehlo, func(l string) bool { return strings.Contains(l, "STARTTLS") }) {
		t.Errorf("plain listener offers STARTTLS: %q", ehlo)
	}
	c.send("AUTH PLAIN " + plainAuth("alice@example.test", "wrong") + "\r\n")
	c.expect("535 5.7.8 Authentication failed\r\n")
	c.send("AUTH PLAIN " + plainAuth("alice@example.test", "s3cret pass") + "\r\n")
	c.expect("235 2.0.0 Authentication succeeded\r\n")
	c.send("MAIL FROM:<probe@example.test>\r\n")
	c.expect("250 2.0.0 Roger, accepting mail from <probe@example.test>\r\n")
	c.send("RCPT TO:<alice@example.test>\r\n")
	c.until("250 ")
	c.send("DATA\r\n")
	c.until("354 ")
	c.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
	c.until("250 ")
	c.send("QUIT\r\n")
	c.until("221 ")

	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Messages() = %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "probe@example.test" || !slices.Equal(m.To, []string{"alice@example.test"}) ||
		string(m.Data) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Errorf("message = %+v, data %q", m, m.Data)
	}
}

func TestSMTPStartTLSAndLogin(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartSMTP, Options{TLS: TLSStartTLS, Cert: certs})
	c := dial(t, s.Addr())
	c.expect("220 mail.example.test Axigen ESMTP ready\r\n")
	c.send("EHLO probe.example\r\n")
	if ehlo := c.until("250 "); !slices.Contains(ehlo, "250-STARTTLS\r\n") {
		t.Fatalf("EHLO lacks STARTTLS: %q", ehlo)
	}
	c.send("STARTTLS\r\n")
	c.expect("220 2.0.0 Ready to start TLS\r\n")
	c.startTLS(certs)

	c.send("EHLO probe.example\r\n")
	ehlo := c.until("250 ")
	if slices.Contains(ehlo, "250-STARTTLS\r\n") {
		t.Errorf("STARTTLS offered again inside TLS: %q", ehlo)
	}
	c.send("AUTH PLAIN " + plainAuth("admin", "adminpw") + "\r\n")
	c.expect("235 2.0.0 Authentication succeeded\r\n")
	c.send("QUIT\r\n")
	c.until("221 ")
}

// TestSMTPClientLibrary checks that go-smtp's own client (what the prober uses) gets
// through STARTTLS and AUTH LOGIN.
func TestSMTPClientLibrary(t *testing.T) {
	certs := testCerts(t)
	s := start(t, StartSMTP, Options{TLS: TLSStartTLS, Cert: certs})
	cl, err := smtp.DialStartTLS(s.Addr(), certs.ClientTLSConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.CommandTimeout = ioTimeout
	if err := cl.Auth(sasl.NewLoginClient("admin", "adminpw")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPLoginMechanism(t *testing.T) {
	s := start(t, StartSMTP, Options{})
	for _, tc := range []struct {
		password string
		want     string
	}{
		{"adminpw", "235 2.0.0 Authentication succeeded\r\n"},
		{"bad", "535 5.7.8 Authentication failed\r\n"},
	} {
		c := dial(t, s.Addr())
		c.line()
		c.send("EHLO x\r\n")
		c.until("250 ")
		c.send("AUTH LOGIN\r\n")
		c.expect("334 VXNlcm5hbWU6\r\n") // "Username:"
		c.send(base64.StdEncoding.EncodeToString([]byte("admin")) + "\r\n")
		c.expect("334 UGFzc3dvcmQ6\r\n") // "Password:"
		c.send(base64.StdEncoding.EncodeToString([]byte(tc.password)) + "\r\n")
		c.expect(tc.want)
	}
}

func TestSMTPMessagesKeepsTheLast(t *testing.T) {
	s := start(t, StartSMTP, Options{})
	for i := range MaxMessagesKept + 3 {
		s.addMessage(Message{From: strings.Repeat("x", i)})
	}
	msgs := s.Messages()
	if len(msgs) != MaxMessagesKept || len(msgs[0].From) != 3 {
		t.Fatalf("kept %d messages, first From length %d; want %d and 3", len(msgs), len(msgs[0].From), MaxMessagesKept)
	}
}
