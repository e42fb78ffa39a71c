// Package mailtest runs in-process fake Axigen listeners (SMTP, IMAP, POP3, WebMail,
// WebAdmin and the Axigen CLI) whose misbehaviour can be switched at run time.
//
// The fakes serve the unit tests of every prober, the daemon's tests and `axprobe demo`, so
// they are real servers: SMTP and IMAP stand on go-smtp and go-imap, POP3 and the CLI are
// small in-tree servers with line limits and deadlines, HTTP is net/http.
//
// Every server shares one connection layer (server.go): the accept loop, the per-connection
// fault decision and the banner-level faults, written on the raw connection before the
// protocol code sees it. A protocol only supplies its greeting lines and its session.
//
// Faults take effect for connections accepted after SetFault; FaultRefuse acts at once.
// Close stops the listener, closes every open connection and returns once every goroutine
// the server started has exited.
package mailtest

import (
	"fmt"
	"log/slog"
	"maps"
	"time"
)

// Fault is a misbehaviour switchable at run time on a running server.
type Fault string

// The faults. What each protocol sends for the banner-level ones is listed on the
// protocol's Start function.
const (
	FaultNone         Fault = ""
	FaultRefuse       Fault = "refuse"        // listener closed: connect gets ECONNREFUSED; clearing the fault re-listens on the same address
	FaultHang         Fault = "hang"          // accept, never send a byte (hold the conn until the client leaves or the server closes)
	FaultSlowBanner   Fault = "slow_banner"   // send the normal banner after SlowDelay, then behave normally (HTTP: answer after SlowDelay)
	FaultWrongBanner  Fault = "wrong_banner"  // a well-formed positive greeting of another product, then behave normally
	FaultRejectBanner Fault = "reject_banner" // a negative greeting, then close (HTTP: every request gets 503)
	FaultRejectAuth   Fault = "reject_auth"   // every login fails (HTTP: same as FaultNone)
	FaultDrop         Fault = "drop"          // send the banner, then close the connection when the client's first bytes arrive
	FaultStallTLS     Fault = "stall_tls"     // TLS handshake never completes (implicit TLS or after a positive STARTTLS/STLS); without TLS same as FaultNone
	FaultHugeLine     Fault = "huge_line"     // a HugeLineSize banner line with no newline, then hang
	FaultTrickle      Fault = "trickle"       // the normal banner sent one byte per TrickleInterval (HTTP: the whole response)
)

// HugeLineSize is how many bytes FaultHugeLine sends before it hangs: 10 MiB, none of them
// a newline.
const HugeLineSize = 10 << 20

// Faults returns every non-empty fault, in a stable order.
func Faults() []Fault {
	return []Fault{
		FaultRefuse, FaultHang, FaultSlowBanner, FaultWrongBanner, FaultRejectBanner,
		FaultRejectAuth, FaultDrop, FaultStallTLS, FaultHugeLine, FaultTrickle,
	}
}

// ParseFault returns the Fault named s ("" and "none" mean FaultNone), or an error naming s.
func ParseFault(s string) (Fault, error) {
	if s == "" || s == "none" {
		return FaultNone, nil
	}
	for _, f := range Faults() {
		if string(f) == s {
			return f, nil
		}
	}
	return FaultNone, fmt.Errorf("fault %q is not one of none, %v", s, Faults())
}

// TLSMode says how a listener offers TLS.
type TLSMode string

// The TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text only
	TLSStartTLS TLSMode = "starttls" // plain listener that offers STARTTLS (SMTP, IMAP) or STLS (POP3)
	TLSImplicit TLSMode = "implicit" // TLS from the first byte
)

// Options configure one fake listener. The zero value is a plain listener on 127.0.0.1 with
// an ephemeral port and no users.
type Options struct {
	Addr     string            // listen address; "127.0.0.1:0" when empty
	Hostname string            // used in greetings; "mail.example.test" when empty
	TLS      TLSMode           // "" = none
	Cert     *Certs            // required when TLS != none (use NewCerts)
	Users    map[string]string // login → password; login succeeds only for these
	Version  string            // Axigen version shown in IMAP greeting / CLI GET VERSION; "10.6.30" when empty
	// Reporting, when set, is the node's own state: the CLI's GET VERSION answers its
	// version (not Version), and a WebAdmin serves its metrics at /metrics.
	Reporting *Reporting

	// IdleTimeout bounds how long a session waits for the client's next command (POP3, CLI,
	// SMTP, HTTP keep-alive); 5 minutes when zero. IMAP uses go-imap's own timeouts.
	IdleTimeout time.Duration
	// Logger receives connection and library errors at debug level; nil discards them.
	// Passwords are never logged.
	Logger *slog.Logger
}

// Defaults for Options and for the per-server settings.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultHostname        = "mail.example.test"
	DefaultVersion         = "10.6.30"
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultSlowDelay       = 2 * time.Second
	DefaultTrickleInterval = time.Second
)

// withDefaults returns o with every empty field set to its default, or an error naming the
// first field that makes no sense.
func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Hostname == "" {
		o.Hostname = DefaultHostname
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	o.Users = maps.Clone(o.Users) // the caller may go on changing its map
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch o.TLS {
	case "", TLSNone:
		o.TLS = TLSNone
	case TLSStartTLS, TLSImplicit:
		if o.Cert == nil {
			return o, fmt.Errorf("tls %q needs Cert (use NewCerts)", o.TLS)
		}
	default:
		return o, fmt.Errorf("tls %q is not one of none, starttls, implicit", o.TLS)
	}
	return o, nil
}
