package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpProber speaks to an SMTP listener: greeting, EHLO, STARTTLS or implicit TLS,
// optional AUTH, QUIT.
//
// The greeting (and, with STARTTLS, the plain-text EHLO and STARTTLS) is read in-tree: that
// is where the banner is timed and matched, and go-smtp exposes neither. go-smtp then gets a
// conn that replays the greeting and does the rest.
type smtpProber struct {
	greeter
	helo string
}

func newSMTP(spec Spec) (Prober, error) {
	g, err := newGreeter(spec)
	if err != nil {
		return nil, err
	}
	helo := spec.HeloName
	if helo == "" {
		helo = "axprobe.localhost"
	}
	if strings.ContainsAny(helo, " \t\r\n") || len(helo) > 255 {
		return nil, fmt.Errorf("helo_name: %q is not a host name", helo)
	}
	return &smtpProber{greeter: g, helo: helo}, nil
}

// Probe implements Prober. Phases: connect, [tls,] banner, [ehlo, starttls, tls,] ehlo,
// [auth,] quit.
func (p *smtpProber) Probe(ctx context.Context, t *Trace) error {
	c, err := p.open(ctx, t, p.spec.Username != "")
	if err != nil {
		return err
	}
	defer c.Close()
	t.Begin("quit")
	return smtpFail(ctx, t, ReasonProtocol, c.Quit())
}

// open connects, reads and matches the greeting, reaches TLS as the spec says, sends EHLO
// and, when login is true, authenticates. The returned client owns the conn: closing it
// closes the conn. On error nothing is left open. Phases: connect, [tls,] banner, [ehlo,
// starttls, tls,] ehlo, [auth].
func (p *smtpProber) open(ctx context.Context, t *Trace, login bool) (_ *smtp.Client, err error) {
	conn, err := p.dial(ctx, t)
	if err != nil {
		return nil, err
	}
	defer closeOnError(conn, &err)
	br := newLineReader(conn)
	greeting, err := readSMTPReply(br)
	if err != nil {
		return nil, greetingFail(ctx, t, err)
	}
	if greeting.Code != 220 {
		return nil, Fail(t, ReasonBadBanner, greeting.Code, fmt.Errorf("greeting %d %q", greeting.Code, truncate(greeting.Text())))
	}
	if err := p.matchBanner(t, greeting.Text()); err != nil {
		return nil, err
	}

	if p.spec.TLS == TLSStartTLS {
		if conn, br, err = p.startTLS(ctx, t, conn, br); err != nil {
			return nil, err
		}
	}

	c := smtp.NewClient(replay(conn, greeting.wire(), br))
	t.Begin("ehlo")
	if err := c.Hello(p.helo); err != nil {
		_ = c.Close()
		return nil, smtpFail(ctx, t, ReasonProtocol, err)
	}
	if login {
		t.Begin("auth")
		if err := p.auth(t, c); err != nil {
			_ = c.Close()
			return nil, smtpFail(ctx, t, ReasonAuth, err)
		}
	}
	return c, nil
}

// startTLS sends EHLO and STARTTLS on the plain-text conn and completes the handshake
// (startedTLS).
func (p *smtpProber) startTLS(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader) (net.Conn, *bufio.Reader, error) {
	t.Begin("ehlo")
	ehlo, err := smtpCommand(conn, br, "EHLO "+p.helo)
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if ehlo.Code != 250 {
		return nil, nil, Fail(t, ReasonProtocol, ehlo.Code, fmt.Errorf("EHLO answered %d %q", ehlo.Code, truncate(ehlo.Text())))
	}
	if !smtpHasExtension(ehlo, "STARTTLS") {
		return nil, nil, Fail(t, ReasonTLS, 0, errors.New("server does not offer STARTTLS"))
	}
	t.Begin("starttls")
	reply, err := smtpCommand(conn, br, "STARTTLS")
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if reply.Code != 220 {
		return nil, nil, Fail(t, ReasonTLS, reply.Code, fmt.Errorf("STARTTLS answered %d %q", reply.Code, truncate(reply.Text())))
	}
	return p.startedTLS(ctx, t, conn, br)
}

// auth logs in with PLAIN when the server offers it, else LOGIN.
func (p *smtpProber) auth(t *Trace, c *smtp.Client) error {
	user, pass := p.spec.Username, p.spec.Password.Reveal()
	switch {
	case c.SupportsAuth("PLAIN"):
		return c.Auth(sasl.NewPlainClient("", user, pass))
	case c.SupportsAuth("LOGIN"):
		return c.Auth(sasl.NewLoginClient(user, pass))
	}
	_, mechs := c.Extension("AUTH")
	return Fail(t, ReasonAuth, 0, fmt.Errorf("server offers neither AUTH PLAIN nor LOGIN (AUTH %q)", truncate(mechs)))
}

// smtpCommand sends one command line and reads the reply.
func smtpCommand(conn net.Conn, br *bufio.Reader, line string) (smtpReply, error) {
	if err := writeLine(conn, line); err != nil {
		return smtpReply{}, err
	}
	return readSMTPReply(br)
}

// smtpFail turns a go-smtp error into an *Error: a negative reply (*smtp.SMTPError) gets
// reason and its code, anything else is classified by Wrap. nil stays nil.
func smtpFail(ctx context.Context, t *Trace, reason Reason, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && ctx.Err() == nil {
		return Fail(t, reason, se.Code, err)
	}
	return Wrap(ctx, t, err)
}
