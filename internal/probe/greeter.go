package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
)

// greeter is what the probers of the protocols where the server speaks first share (SMTP,
// IMAP, POP3, the CLI): the checked spec and the banner_regex the greeting must match.
type greeter struct {
	spec   Spec
	banner *regexp.Regexp
}

// newGreeter checks spec as every network prober's (checkNetSpec) and compiles its
// banner_regex.
func newGreeter(spec Spec) (greeter, error) {
	if err := checkNetSpec(&spec); err != nil {
		return greeter{}, err
	}
	banner, err := compileRegex("banner_regex", spec.BannerRegex)
	if err != nil {
		return greeter{}, err
	}
	return greeter{spec: spec, banner: banner}, nil
}

// dial connects as the spec says and begins the banner phase: the greeting is what the
// caller reads next. Phases: connect, [tls,] banner.
func (g *greeter) dial(ctx context.Context, t *Trace) (net.Conn, error) {
	conn, err := dialSpec(ctx, t, &g.spec)
	if err != nil {
		return nil, err
	}
	t.BeginBanner()
	return conn, nil
}

// matchBanner checks the optional banner_regex against the greeting text.
func (g *greeter) matchBanner(t *Trace, text string) error {
	if g.banner == nil || g.banner.MatchString(text) {
		return nil
	}
	return Fail(t, ReasonBadBanner, 0, fmt.Errorf("greeting %q does not match banner_regex %q", truncate(text), g.banner.String()))
}

// startedTLS completes a STARTTLS (STLS) the server accepted on conn, br being the line
// reader over conn: plain-text bytes already behind the acceptance fail it (errInjected);
// else the handshake runs (phase tls). It returns the TLS conn and a line reader over it.
// On failure conn is left open for the caller to close.
func (g *greeter) startedTLS(ctx context.Context, t *Trace, conn net.Conn, br *bufio.Reader) (net.Conn, *bufio.Reader, error) {
	if br.Buffered() > 0 {
		return nil, nil, Fail(t, ReasonProtocol, 0, errInjected)
	}
	tc, err := upgradeTLS(ctx, t, &g.spec, conn)
	if err != nil {
		return nil, nil, err
	}
	return tc, newLineReader(tc), nil
}

// closeOnError closes conn when *err is set: deferred by a function that hands conn on
// only when it succeeds.
func closeOnError(conn net.Conn, err *error) {
	if *err != nil {
		_ = conn.Close()
	}
}

// errInjected reports plain-text bytes that arrived behind a STARTTLS/STLS acceptance: they
// would be taken as coming from inside the TLS session (the STARTTLS injection attack).
var errInjected = errors.New("server sent data after accepting STARTTLS")

// greetingFail turns an error met while reading a greeting into an *Error: a syntax error
// is a bad banner, anything else (over-long line, network) is classified by Wrap.
func greetingFail(ctx context.Context, t *Trace, err error) error {
	var se *syntaxError
	if errors.As(err, &se) && ctx.Err() == nil {
		return Fail(t, ReasonBadBanner, 0, err)
	}
	return Wrap(ctx, t, err)
}
