package probe

import (
	"context"
	"crypto/tls"
	"fmt"
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
