package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort returns the well-known port of protocol over tls, or 0 when there is none:
// tcp, and combinations that do not exist (cli over TLS, http with STARTTLS). It is the one
// table of default ports: the config's port defaults and the probe URLs' both use it.
func DefaultPort(protocol string, tls TLSMode) int {
	if tls == "" {
		tls = TLSNone
	}
	switch protocol + "/" + string(tls) {
	case "smtp/none", "smtp/starttls", "roundtrip/none", "roundtrip/starttls":
		return 25
	case "smtp/implicit", "roundtrip/implicit":
		return 465
	case "imap/none", "imap/starttls":
		return 143
	case "imap/implicit":
		return 993
	case "pop3/none", "pop3/starttls":
		return 110
	case "pop3/implicit":
		return 995
	case "http/none":
		return 80
	case "http/implicit":
		return 443
	case "cli/none":
		return 7000
	case "metrics/none":
		return 9000 // WebAdmin
	case "metrics/implicit":
		return 9443
	}
	return 0
}

// urlScheme is what a URL scheme means: the protocol and how TLS is reached (the default
// port is DefaultPort's; 0: a port is required).
type urlScheme struct {
	protocol string
	tls      TLSMode
}

// urlSchemes lists the schemes ParseURL accepts.
func urlSchemes() map[string]urlScheme {
	return map[string]urlScheme{
		"smtp":       {"smtp", TLSNone},
		"smtps":      {"smtp", TLSImplicit},
		"imap":       {"imap", TLSNone},
		"imaps":      {"imap", TLSImplicit},
		"pop3":       {"pop3", TLSNone},
		"pop3s":      {"pop3", TLSImplicit},
		"http":       {"http", TLSNone},
		"https":      {"http", TLSImplicit},
		"axigen-cli": {"cli", TLSNone},
		"tcp":        {"tcp", TLSNone},
		"roundtrip":  {"roundtrip", TLSNone},
	}
}

// ParseURL turns a probe URL such as "imaps://probe@10.0.0.5/INBOX" into a Spec:
// Protocol, Address (default port from the scheme), TLS (implicit for smtps, imaps, pop3s,
// https; none otherwise), Username from the user part, Path for http(s) (with its query)
// and Mailbox for imap(s). A password in the URL is rejected, and no error ever repeats it.
// Other Spec fields are left for the caller.
//
// A mail round trip is "roundtrip://user@smtp-host[:port]?imap=host[:port]&to=addr
// [&from=addr][&mailbox=name]": the SMTP side in the URL's authority (port 25 by default),
// the IMAP side's address in imap (port 143 by default), the probe mailbox's address in to,
// the sender in from (to when absent) and the IMAP mailbox in mailbox (INBOX when absent).
func ParseURL(raw string) (Spec, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Spec{}, fmt.Errorf("url: %w", err)
	}
	if _, has := u.User.Password(); has {
		return Spec{}, errors.New("url: a password in the URL is not accepted; use --password-file or --password-env")
	}
	if u.Opaque != "" {
		// "u:pw@host:port" parses as scheme "u" and opaque "pw@host:port": repeating it
		// would print the password.
		return Spec{}, fmt.Errorf("url: %q is not followed by // (want scheme://[user@]host[:port]); the rest is not repeated, it may hold a password", u.Scheme+":")
	}
	scheme, ok := urlSchemes()[strings.ToLower(u.Scheme)]
	if !ok {
		return Spec{}, fmt.Errorf("url %q: scheme %q is not one of smtp, smtps, imap, imaps, pop3, pop3s, http, https, axigen-cli, tcp, roundtrip", u.Redacted(), u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return Spec{}, fmt.Errorf("url %q: no host (want %s://host[:port])", u.Redacted(), u.Scheme)
	}
	if u.Fragment != "" {
		return Spec{}, fmt.Errorf("url %q: a fragment means nothing to a probe", u.Redacted())
	}
	port := DefaultPort(scheme.protocol, scheme.tls)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Spec{}, fmt.Errorf("url %q: port %q must be 1-65535", u.Redacted(), p)
		}
		port = n
	}
	if port == 0 {
		return Spec{}, fmt.Errorf("url %q: %s needs a port", u.Redacted(), u.Scheme)
	}
	spec := Spec{
		Protocol: scheme.protocol,
		Address:  net.JoinHostPort(u.Hostname(), strconv.Itoa(port)),
		TLS:      scheme.tls,
		Username: u.User.Username(),
	}
	if _, _, err := net.SplitHostPort(spec.Address); err != nil {
		return Spec{}, fmt.Errorf("url %q: host %q: %w", u.Redacted(), u.Hostname(), err)
	}
	if strings.ContainsAny(spec.Username, "\r\n") {
		return Spec{}, fmt.Errorf("url %q: user name contains a line break", u.Redacted())
	}

	switch spec.Protocol {
	case "http":
		spec.Path = u.EscapedPath()
		if spec.Path == "" {
			spec.Path = "/"
		}
		if u.RawQuery != "" {
			spec.Path += "?" + u.RawQuery
		}
		if err := checkHTTPPath(spec.Path); err != nil {
			return Spec{}, fmt.Errorf("url %q: path: %w", u.Redacted(), err)
		}
		if spec.Username != "" {
			return Spec{}, fmt.Errorf("url %q: http probes do not log in; drop the user", u.Redacted())
		}
	case "imap":
		spec.Mailbox = strings.TrimPrefix(u.Path, "/")
		if strings.ContainsAny(spec.Mailbox, "\r\n") {
			return Spec{}, fmt.Errorf("url %q: mailbox contains a line break", u.Redacted())
		}
	case "roundtrip":
		if err := parseRoundTripQuery(u, &spec); err != nil {
			return Spec{}, fmt.Errorf("url %q: %w", u.Redacted(), err)
		}
	default:
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return Spec{}, fmt.Errorf("url %q: %s takes no path or query", u.Redacted(), u.Scheme)
		}
	}
	if u.RawQuery != "" && spec.Protocol != "http" && spec.Protocol != "roundtrip" {
		return Spec{}, fmt.Errorf("url %q: %s takes no query", u.Redacted(), u.Scheme)
	}
	if spec.Protocol == "tcp" && spec.Username != "" {
		return Spec{}, fmt.Errorf("url %q: tcp probes do not log in; drop the user", u.Redacted())
	}
	return spec, nil
}

// parseRoundTripQuery fills the round-trip fields of spec from u's query (see ParseURL).
func parseRoundTripQuery(u *url.URL, spec *Spec) error {
	if u.Path != "" && u.Path != "/" {
		return errors.New("roundtrip takes no path: put the mailbox in ?mailbox=")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	for key, values := range q {
		switch key {
		case "imap", "to", "from", "mailbox":
		default:
			return fmt.Errorf("query: %q is not one of imap, to, from, mailbox", key)
		}
		if len(values) != 1 {
			return fmt.Errorf("query: %s given %d times", key, len(values))
		}
	}
	imapHost := q.Get("imap")
	if imapHost == "" {
		return errors.New("roundtrip needs ?imap=host[:port], the IMAP side")
	}
	if _, _, err := net.SplitHostPort(imapHost); err != nil {
		imapHost = net.JoinHostPort(strings.Trim(imapHost, "[]"), strconv.Itoa(DefaultPort("imap", TLSNone)))
	}
	spec.IMAPAddress = imapHost
	spec.MailTo = q.Get("to")
	if spec.MailTo == "" {
		return errors.New("roundtrip needs ?to=address, the probe mailbox's address")
	}
	spec.MailFrom = q.Get("from")
	if spec.MailFrom == "" {
		spec.MailFrom = spec.MailTo
	}
	spec.Mailbox = q.Get("mailbox")
	if spec.Username == "" {
		return errors.New("roundtrip needs a user (roundtrip://user@host): it logs in to the probe mailbox")
	}
	_, err = newRoundTrip(*spec) // the same checks as New, so that the URL is a whole probe
	return err
}
