package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
)

// pop3Prober speaks to a POP3 listener with a small in-tree client: greeting, STLS or
// implicit TLS, optional USER/PASS and STAT, QUIT. Every line read is bounded by maxLine.
type pop3Prober struct{ greeter }

func newPOP3(spec Spec) (Prober, error) {
	g, err := newGreeter(spec)
	if err != nil {
		return nil, err
	}
	return &pop3Prober{g}, nil
}

// Probe implements Prober. Phases: connect, [tls,] banner, [capa, stls, tls,]
// [auth, stat,] quit.
func (p *pop3Prober) Probe(ctx context.Context, t *Trace) error {
	conn, err := p.dial(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := newLineReader(conn)
	ok, text, err := pop3Command(conn, br, "")
	if err != nil {
		return greetingFail(ctx, t, err)
	}
	if !ok {
		return Fail(t, ReasonBadBanner, 0, fmt.Errorf("greeting -ERR %q", truncate(text)))
	}
	if err := p.matchBanner(t, "+OK "+text); err != nil {
		return err
	}

	if p.spec.TLS == TLSStartTLS {
		if conn, br, err = p.stls(ctx, t, conn, br); err != nil {
			return err
		}
	}

	if p.spec.Username != "" {
		t.Begin("auth")
		if err := p.login(ctx, t, conn, br); err != nil {
			return err
		}
		t.Begin("stat")
		ok, text, err := pop3Command(conn, br, "STAT")
		if err != nil {
			return Wrap(ctx, t, err)
		}
		if !ok {
			return Fail(t, ReasonProtocol, 0, fmt.Errorf("STAT answered -ERR %q", truncate(text)))
		}
		if _, _, err := parsePOP3Stat(text); err != nil {
			return Fail(t, ReasonProtocol, 0, err)
		}
	}

	t.Begin("quit")
	ok, text, err = pop3Command(conn, br, "QUIT")
	if err != nil {
		return Wrap(ctx, t, err)
	}
	if !ok {
		return Fail(t, ReasonProtocol, 0, fmt.Errorf("QUIT answered -ERR %q", truncate(text)))
	}
	return nil
}

// stls checks CAPA for STLS, sends it and completes the handshake (startedTLS).
func (p *pop3Prober) stls(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader) (net.Conn, *bufio.Reader, error) {
	t.Begin("capa")
	ok, _, err := pop3Command(conn, br, "CAPA")
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if !ok {
		return nil, nil, Fail(t, ReasonTLS, 0, errors.New("server refuses CAPA, so STLS cannot be confirmed"))
	}
	capa, err := readPOP3Multi(br)
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if !pop3HasCapability(capa, "STLS") {
		return nil, nil, Fail(t, ReasonTLS, 0, errors.New("server does not offer STLS"))
	}
	t.Begin("stls")
	ok, text, err := pop3Command(conn, br, "STLS")
	if err != nil {
		return nil, nil, Wrap(ctx, t, err)
	}
	if !ok {
		return nil, nil, Fail(t, ReasonTLS, 0, fmt.Errorf("STLS answered -ERR %q", truncate(text)))
	}
	return p.startedTLS(ctx, t, conn, br)
}

// login sends USER and PASS; a -ERR to either is an auth failure.
func (p *pop3Prober) login(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader) error {
	ok, text, err := pop3Command(conn, br, "USER "+p.spec.Username)
	if err != nil {
		return Wrap(ctx, t, err)
	}
	if !ok {
		return Fail(t, ReasonAuth, 0, fmt.Errorf("USER answered -ERR %q", truncate(text)))
	}
	ok, text, err = pop3Command(conn, br, "PASS "+p.spec.Password.Reveal())
	if err != nil {
		return Wrap(ctx, t, err)
	}
	if !ok {
		return Fail(t, ReasonAuth, 0, fmt.Errorf("PASS answered -ERR %q", truncate(text)))
	}
	return nil
}
