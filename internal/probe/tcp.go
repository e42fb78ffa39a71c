package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tcpProber connects, and with TLS=implicit completes a TLS handshake; nothing more.
type tcpProber struct {
	spec Spec
}

func newTCP(spec Spec) (Prober, error) {
	if err := checkNetSpec(&spec); err != nil {
		return nil, err
	}
	return &tcpProber{spec: spec}, nil
}

// Probe implements Prober. Phases: connect, then tls with TLS=implicit.
func (p *tcpProber) Probe(ctx context.Context, t *Trace) error {
	conn, err := dialSpec(ctx, t, &p.spec)
	if err != nil {
		return err
	}
	return conn.Close()
}

// checkNetSpec validates what every network prober needs: a host:port address with a
// numeric port, a readable CA file when TLS is used, STARTTLS only for a protocol that has
// it, and credentials that cannot smuggle a line break into a line-based protocol.
func checkNetSpec(spec *Spec) error {
	host, port, err := net.SplitHostPort(spec.Address)
	if err != nil {
		return fmt.Errorf("address: %q: %w", spec.Address, err)
	}
	if host == "" {
		return fmt.Errorf("address: %q: empty host", spec.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address: %q: port must be 1-65535", spec.Address)
	}
	if err := checkUnusedFields(spec); err != nil {
		return err
	}
	if usesTLS(spec) {
		if _, err := tlsConfig(spec, NewTrace()); err != nil {
			return err
		}
	}
	if strings.ContainsAny(spec.Username, "\r\n") {
		return fmt.Errorf("username: %q contains a line break", spec.Username)
	}
	if strings.ContainsAny(spec.Password.Reveal(), "\r\n\x00") {
		return fmt.Errorf("password: contains a line break or NUL byte")
	}
	if spec.TLS == TLSStartTLS && !slices.Contains(startTLSProtocols, spec.Protocol) {
		return fmt.Errorf("tls: %q is not possible for %s (use none or implicit)", spec.TLS, spec.Protocol)
	}
	return nil
}

// startTLSProtocols are the protocols that upgrade a plain-text session (STARTTLS, STLS).
var startTLSProtocols = []string{"smtp", "imap", "pop3", "roundtrip"}

// checkUnusedFields rejects a field set for a protocol that would silently ignore it.
func checkUnusedFields(spec *Spec) error {
	p := spec.Protocol
	fields := []struct {
		name      string
		set       bool
		protocols []string
	}{
		{"username", spec.Username != "", []string{"smtp", "imap", "pop3", "cli", "roundtrip", "metrics"}},
		{"banner_regex", spec.BannerRegex != "", []string{"smtp", "imap", "pop3", "cli"}},
		{"helo_name", spec.HeloName != "", []string{"smtp", "roundtrip"}},
		{"mailbox", spec.Mailbox != "", []string{"imap", "roundtrip"}},
		{"imap_address", spec.IMAPAddress != "", []string{"roundtrip"}},
		{"imap_tls", spec.IMAPTLS != "", []string{"roundtrip"}},
		{"mail_from", spec.MailFrom != "", []string{"roundtrip"}},
		{"mail_to", spec.MailTo != "", []string{"roundtrip"}},
		{"deadline", spec.Deadline != 0, []string{"roundtrip"}},
		{"max_messages", spec.MaxMessages != 0, []string{"roundtrip"}},
		{"submit_no_auth", spec.SubmitNoAuth, []string{"roundtrip"}},
		{"path", spec.Path != "", []string{"http", "metrics"}},
		{"expect_status", spec.ExpectStatus != 0, []string{"http"}},
		{"expect_body", spec.ExpectBody != "", []string{"http"}},
		{"expect_header", spec.ExpectHeader != "", []string{"http"}},
		{"follow_redirects", spec.FollowRedirects, []string{"http"}},
		{"series", len(spec.Metrics) > 0, []string{"metrics"}},
		{"growth_window", spec.GrowthWindow != 0, []string{"metrics"}},
	}
	for _, f := range fields {
		if f.set && !slices.Contains(f.protocols, p) {
			return fmt.Errorf("%s: means nothing to a %s probe (only %s)", f.name, p, strings.Join(f.protocols, ", "))
		}
	}
	return nil
}

func usesTLS(spec *Spec) bool { return spec.TLS == TLSStartTLS || spec.TLS == TLSImplicit }

// compileRegex compiles an optional regular expression; the error names field.
func compileRegex(field, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return re, nil
}

// dialSpec connects to spec.Address and, with TLS=implicit, completes the handshake. The
// conn is bound to ctx (see dial). Phases: connect [, tls].
func dialSpec(ctx context.Context, t *Trace, spec *Spec) (net.Conn, error) {
	conn, err := dial(ctx, t, "tcp", spec.Address)
	if err != nil {
		return nil, err
	}
	if spec.TLS != TLSImplicit {
		return conn, nil
	}
	tc, err := upgradeTLS(ctx, t, spec, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}

// upgradeTLS runs the TLS handshake over conn (phase "tls"). On failure conn is left open
// for the caller to close.
func upgradeTLS(ctx context.Context, t *Trace, spec *Spec, conn net.Conn) (*tls.Conn, error) {
	cfg, err := tlsConfig(spec, t)
	if err != nil {
		return nil, Fail(t, ReasonInternal, 0, err)
	}
	if spec.tlsClient == nil { // a Spec that did not come through New
		return startTLS(ctx, t, conn, cfg)
	}
	spec.tlsClient.prepare(spec, cfg, time.Now())
	tc, err := startTLS(ctx, t, conn, cfg)
	var cs tls.ConnectionState
	if tc != nil {
		cs = tc.ConnectionState()
	}
	spec.tlsClient.done(cs, err)
	return tc, err
}

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

// closeOnError closes c when *err is set: deferred by a function that hands c on only
// when it succeeds.
func closeOnError(c io.Closer, err *error) {
	if *err != nil {
		_ = c.Close()
	}
}
