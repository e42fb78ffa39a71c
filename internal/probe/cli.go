package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxVersionLen bounds the version GET VERSION may report ("10.6.30"): it becomes a metric
// label value.
const maxVersionLen = 32

// cliProber speaks to Axigen's administration CLI (port 7000): it waits for the "<login> "
// prompt, asks GET VERSION (no credentials needed; the version is kept as the trace's
// "version" note), optionally logs in, and says EXIT.
// Replies are detected by their trailing prompt, never by their wording, and each is read
// into a buffer of at most maxCLIReply bytes.
type cliProber struct{ greeter }

func newCLI(spec Spec) (Prober, error) {
	g, err := newGreeter(spec)
	if err != nil {
		return nil, err
	}
	return &cliProber{g}, nil
}

// Probe implements Prober. Phases: connect, [tls,] banner, version, [auth,] quit.
func (p *cliProber) Probe(ctx context.Context, t *Trace) error {
	conn, err := p.dial(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close()
	welcome, prompt, err := readCLIReply(conn)
	if err != nil {
		if bytes.Contains(welcome, []byte("\n")) {
			// Whole lines and then silence or a close, but no prompt: another service, or
			// Axigen refusing ("-ERR: ..."). Say what it sent rather than "timeout".
			return Fail(t, ReasonBadBanner, 0, fmt.Errorf("no <login> prompt; received %q (%v)", truncate(string(welcome)), err))
		}
		return greetingFail(ctx, t, err)
	}
	if prompt != "login" {
		return Fail(t, ReasonBadBanner, 0, fmt.Errorf("first prompt is <%s>, want <login>", prompt))
	}
	if err := p.matchBanner(t, string(welcome)); err != nil {
		return err
	}

	t.Begin("version")
	text, err := cliCommand(ctx, t, conn, "GET VERSION", "login")
	if err != nil {
		return err
	}
	version := cliVersion(text)
	if version == "" {
		return Fail(t, ReasonProtocol, 0, fmt.Errorf("GET VERSION answered %q, want a version|os|arch line", truncate(string(text))))
	}
	if len(version) > maxVersionLen {
		return Fail(t, ReasonProtocol, 0, fmt.Errorf("GET VERSION answered a %d-character version, more than %d", len(version), maxVersionLen))
	}
	// Shown on the status page and exported as axprobe_axigen_version_info.
	t.SetNote("version", version)

	if p.spec.Username != "" {
		t.Begin("auth")
		if err := p.login(ctx, t, conn); err != nil {
			return err
		}
	}

	t.Begin("quit")
	if err := writeLine(conn, "EXIT"); err != nil {
		return Wrap(ctx, t, err)
	}
	text, _, err = readCLIReply(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		return Wrap(ctx, t, err)
	}
	if ok, line, found := cliStatus(text); !ok {
		return Fail(t, ReasonProtocol, 0, fmt.Errorf("EXIT answered %q (status found: %t)", truncate(line), found))
	}
	return nil
}

// login sends USER, waits for "<password> ", sends the password and wants +OK.
func (p *cliProber) login(ctx context.Context, t *Trace, conn net.Conn) error {
	if err := writeLine(conn, "USER "+p.spec.Username); err != nil {
		return Wrap(ctx, t, err)
	}
	text, prompt, err := readCLIReply(conn)
	if err != nil {
		return Wrap(ctx, t, err)
	}
	if prompt != "password" {
		return Fail(t, ReasonAuth, 0, fmt.Errorf("USER answered %q and prompt <%s>, want <password>", truncate(string(text)), prompt))
	}
	if err := writeLine(conn, p.spec.Password.Reveal()); err != nil {
		return Wrap(ctx, t, err)
	}
	text, _, err = readCLIReply(conn)
	if err != nil {
		if ok, line, found := cliStatus(text); found && !ok {
			// Too many failures: Axigen says -ERR and closes.
			return Fail(t, ReasonAuth, 0, fmt.Errorf("login answered %q", truncate(line)))
		}
		return Wrap(ctx, t, err)
	}
	if ok, line, _ := cliStatus(text); !ok {
		return Fail(t, ReasonAuth, 0, fmt.Errorf("login answered %q", truncate(line)))
	}
	return nil
}

// cliCommand sends line and reads the reply, which must hold +OK and end with the prompt
// want. It returns the reply's text.
func cliCommand(ctx context.Context, t *Trace, conn net.Conn, line, want string) ([]byte, error) {
	if err := writeLine(conn, line); err != nil {
		return nil, Wrap(ctx, t, err)
	}
	text, prompt, err := readCLIReply(conn)
	if err != nil {
		return nil, Wrap(ctx, t, err)
	}
	if ok, status, _ := cliStatus(text); !ok || prompt != want {
		return nil, Fail(t, ReasonProtocol, 0, fmt.Errorf("%s answered %q and prompt <%s>, want +OK and <%s>", line, truncate(status), prompt, want))
	}
	return text, nil
}
