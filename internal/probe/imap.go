package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapProber speaks to an IMAP listener: greeting, CAPABILITY, STARTTLS or implicit TLS,
// optional LOGIN and EXAMINE, LOGOUT.
//
// The greeting is read in-tree (to time and match it; imapclient does not expose its
// text), and so are the plain-text CAPABILITY and STARTTLS: imapclient can only send
// STARTTLS blindly, while Axigen's greeting carries no capabilities, so they must be asked
// first. imapclient then gets a conn that replays the greeting and does the rest.
//
// Capabilities are asked once per state, as RFC 3501 (7.1) lets a client: a greeting with
// a CAPABILITY code (Dovecot's) answers the question it would ask, before TLS and, with
// implicit TLS or none, after it; otherwise the CAPABILITY imapclient sends by itself
// does. imapclient never sees the plain-text greeting's code past STARTTLS: capabilities
// change with TLS (LOGINDISABLED goes away).
type imapProber struct {
	greeter
	mailbox string
}

func newIMAP(spec Spec) (Prober, error) {
	g, err := newGreeter(spec)
	if err != nil {
		return nil, err
	}
	mailbox := spec.Mailbox
	if mailbox == "" {
		mailbox = "INBOX"
	}
	return &imapProber{greeter: g, mailbox: mailbox}, nil
}

// Probe implements Prober. Phases: connect, [tls,] banner, [capability, starttls, tls,]
// capability, [login, examine,] logout.
func (p *imapProber) Probe(ctx context.Context, t *Trace) error {
	c, rc, err := p.open(ctx, t, ReasonAuth, nil)
	if err != nil {
		return err
	}
	defer c.Close() // closes the conn and waits for imapclient's reader goroutine
	if p.spec.Username != "" {
		t.Begin("examine")
		if _, err := c.Select(p.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return imapFail(ctx, t, rc, ReasonProtocol, err)
		}
	}
	t.Begin("logout")
	return imapFail(ctx, t, rc, ReasonProtocol, c.Logout().Wait())
}

// open connects, reads and matches the greeting, reaches TLS as the spec says, asks
// CAPABILITY and, when the spec has a Username, logs in; a rejected login fails with
// loginReason. opts (may be nil) go to imapclient. The returned client owns the conn:
// Close closes it and waits for imapclient's reader goroutine; the replayConn is for
// imapFail. On error nothing is left open or running. Phases: connect, [tls,] banner,
// [capability, starttls, tls,] capability, [login].
func (p *imapProber) open(ctx context.Context, t *Trace, loginReason Reason, opts *imapclient.Options) (_ *imapclient.Client, _ *replayConn, err error) {
	conn, err := p.dial(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	defer closeOnError(conn, &err)
	br := newLineReader(conn)
	line, err := readLine(br)
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	greeting, err := parseIMAPGreeting(string(line))
	if err != nil {
		return nil, nil, greetingFail(ctx, t, err)
	}
	if greeting.Status == "BYE" {
		return nil, nil, Fail(t, ReasonBadBanner, 0, fmt.Errorf("greeting %q", truncate(string(line))))
	}
	if err := p.matchBanner(t, string(line)); err != nil {
		return nil, nil, err
	}

	replayed := append(line, '\r', '\n')
	if p.spec.TLS == TLSStartTLS {
		if greeting.Status == "PREAUTH" {
			return nil, nil, Fail(t, ReasonTLS, 0, errors.New("server sent PREAUTH on a plain-text connection; STARTTLS impossible"))
		}
		if conn, br, err = p.startTLS(ctx, t, conn, br, imapGreetingCapabilities(greeting)); err != nil {
			return nil, nil, err
		}
		replayed = []byte("* OK greeting read before STARTTLS\r\n") // without the plain-text capabilities
	}

	rc := replay(conn, replayed, br)
	c := imapclient.New(rc, opts)
	fail := func(err error) (*imapclient.Client, *replayConn, error) {
		_ = c.Close()
		return nil, nil, err
	}
	// imapclient sends CAPABILITY by itself as soon as it has a greeting without the
	// capability code (Axigen's), so the capability exchange starts here. A server that
	// drops the connection at that command can also end the wait for the greeting:
	// imapclient then picks at random between "greeting seen" and "connection failed". The
	// greeting was read and matched above; what fails now is the exchange, classified from
	// the conn's own error.
	t.Begin("capability")
	if err := c.WaitGreeting(); err != nil {
		return fail(imapFail(ctx, t, rc, ReasonProtocol, err))
	}
	caps := c.Caps() // the greeting's, or the answer to imapclient's own CAPABILITY
	if caps == nil {
		// That CAPABILITY failed, and Caps does not say how: asking again gets the
		// server's NO or BAD, or the conn's error, to classify.
		var err error
		if caps, err = c.Capability().Wait(); err != nil {
			return fail(imapFail(ctx, t, rc, ReasonProtocol, err))
		}
	}
	if p.spec.Username != "" {
		if caps.Has(imap.CapLoginDisabled) {
			return fail(Fail(t, loginReason, 0, errors.New("server refuses LOGIN (LOGINDISABLED)")))
		}
		t.Begin("login")
		if err := c.Login(p.spec.Username, p.spec.Password.Reveal()).Wait(); err != nil {
			return fail(imapFail(ctx, t, rc, loginReason, err))
		}
	}
	return c, rc, nil
}

// startTLS sends STARTTLS on the plain-text conn, then completes the handshake
// (startedTLS). That the server offers it is told by greetingCaps, the greeting's
// capability code; when that does not list STARTTLS (or is absent), by a CAPABILITY
// asked first, so that a greeting's list is never the only ground for a failure.
func (p *imapProber) startTLS(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader, greetingCaps []imapResponse) (net.Conn, *bufio.Reader, error) {
	caps := greetingCaps
	if !imapHasCapability(caps, "STARTTLS") {
		var err error
		if caps, err = askIMAPCapabilities(ctx, t, conn, br); err != nil {
			return nil, nil, err
		}
	}
	if !imapHasCapability(caps, "STARTTLS") {
		return nil, nil, Fail(t, ReasonTLS, 0, errors.New("server does not offer STARTTLS"))
	}
	t.Begin("starttls")
	done, _, err := imapCommand(conn, br, "a2", "STARTTLS")
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if done.Status != "OK" {
		return nil, nil, Fail(t, ReasonTLS, 0, fmt.Errorf("STARTTLS answered %s %q", done.Status, truncate(done.Text)))
	}
	return p.startedTLS(ctx, t, conn, br)
}

// askIMAPCapabilities sends CAPABILITY on the plain-text conn and returns the untagged
// responses to it. Phase: capability.
func askIMAPCapabilities(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader) ([]imapResponse, error) {
	t.Begin("capability")
	done, untagged, err := imapCommand(conn, br, "a1", "CAPABILITY")
	if err != nil {
		return nil, Wrap(ctx, t, err)
	}
	if done.Status != "OK" {
		return nil, Fail(t, ReasonProtocol, 0, fmt.Errorf("CAPABILITY answered %s %q", done.Status, truncate(done.Text)))
	}
	return untagged, nil
}

// imapFail turns an imapclient error into an *Error: a NO/BAD/BYE status (*imap.Error)
// gets reason; otherwise the conn's own error, when it met one, is classified (imapclient
// flattens network errors into text); else err is. nil stays nil.
func imapFail(ctx context.Context, t *Trace, rc *replayConn, reason Reason, err error) error {
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie) && ctx.Err() == nil:
		return Fail(t, reason, 0, err)
	case rc.connErr() != nil:
		return Wrap(ctx, t, fmt.Errorf("%w (imapclient: %v)", rc.connErr(), err))
	}
	return Wrap(ctx, t, err)
}
