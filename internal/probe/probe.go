// Package probe holds one prober per protocol an Axigen node serves (SMTP, IMAP, POP3,
// HTTP, the Axigen CLI, plain TCP, Axigen's own /metrics) and the local gates that tell
// whether the service runs on this node (VIP, process, storage).
//
// Every prober has the same shape: Probe(ctx, trace) error. It honours ctx's deadline in
// every phase, records each phase in the trace, and returns nil or an *Error that says why
// (a Reason from a closed set) and where (the phase).
package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/axprobe/axprobe/internal/secret"
)

// Prober checks one thing once. Implementations are safe for concurrent use: all per-run
// state lives in the call.
type Prober interface {
	Probe(ctx context.Context, t *Trace) error
}

// Spec says what to probe and how. Which fields matter depends on Protocol; New rejects a
// Spec whose fields do not make sense for it.
type Spec struct {
	Protocol string // one of Protocols()
	Address  string // host:port for network probes

	TLS                TLSMode // "" means none
	CAFile             string  // PEM bundle to verify the server with; system roots when empty
	ServerName         string  // name to verify the certificate for; the address's host when empty
	InsecureSkipVerify bool    // record the certificate but do not fail on it
	// TLSFullEvery > 1 resumes TLS sessions: a full handshake every TLSFullEvery-th probe
	// (and after a failure, and while the certificate expires within CertWarnBefore),
	// resumed handshakes in between. 0 or 1: every handshake is full.
	TLSFullEvery   int
	CertWarnBefore time.Duration

	Username string        // login (SMTP AUTH, IMAP LOGIN, POP3 USER, CLI USER); empty: no login
	Password secret.Secret // used only when Username is set

	BannerRegex string // greeting must match (SMTP, IMAP, POP3, CLI welcome text)
	HeloName    string // SMTP EHLO name; "axprobe.localhost" when empty
	Mailbox     string // IMAP mailbox to EXAMINE after login; "INBOX" when empty

	Path            string // HTTP path; "/" when empty
	ExpectStatus    int    // HTTP status expected; 200 when 0
	ExpectBody      string // HTTP body must match this regular expression
	ExpectHeader    string // HTTP header that must be present, "Name: regex"
	FollowRedirects bool   // HTTP: follow redirects (not followed by default)

	// Mail round trip (protocol "roundtrip"): Address, TLS and HeloName are the SMTP
	// side's; CAFile, ServerName and InsecureSkipVerify apply to both sides; Username and
	// Password log in to both (SMTP AUTH unless SubmitNoAuth, IMAP LOGIN); Mailbox is the
	// IMAP mailbox the message is expected in.
	IMAPAddress  string        // host:port of the IMAP listener
	IMAPTLS      TLSMode       // "" means none
	MailFrom     string        // envelope sender and From: address; marks this probe's messages
	MailTo       string        // the probe mailbox's address
	Deadline     time.Duration // how long delivery may take; 60s when zero
	MaxMessages  int           // the mailbox may hold at most this many messages; 100 when zero
	SubmitNoAuth bool          // submit without SMTP AUTH (a port that accepts local mail anonymously)

	// Metrics check (protocol "metrics"): Address, TLS, CAFile, ServerName and
	// InsecureSkipVerify as for http; Path defaults to "/metrics"; Username and Password are
	// the WebAdmin basic-auth login. See docs/CONFIG.md.
	Metrics      []MetricRule  // series to grade; at least one
	GrowthWindow time.Duration // growth slopes span this much of the recent scrapes; 5m when zero

	// Local gates.
	VIP           string // address that must be plumbed on a local interface
	PidFile       string // process gate: file holding the pid
	ProcessName   string // process gate: executable base name the pid must belong to
	StoragePath   string // storage gate: directory that must be writable
	StorageCanary string // storage gate: canary file name inside StoragePath; a default when empty
	RequireMount  bool   // storage gate: StoragePath must be a mount point
	// Storage gate capacity: free space or free inodes under DegradedFreePercent grades the
	// gate degraded, under FailedFreePercent fails it (0 disables either).
	DegradedFreePercent float64
	FailedFreePercent   float64

	tlsClient *tlsClient // set by New: what the prober's handshakes remember (tls.go)
}

// constructors lists the protocols New accepts, each with what builds its prober.
var constructors = []struct {
	protocol string
	build    func(Spec) (Prober, error)
}{
	{"smtp", newSMTP}, {"imap", newIMAP}, {"pop3", newPOP3}, {"http", newHTTP},
	{"cli", newCLI}, {"tcp", newTCP}, {"roundtrip", newRoundTrip}, {"metrics", newMetrics},
	{"vip", newVIPGate}, {"process", newProcessGate}, {"storage", newStorageGate},
}

// Protocols lists the protocol names New accepts.
func Protocols() []string {
	names := make([]string, len(constructors))
	for i, c := range constructors {
		names[i] = c.protocol
	}
	return names
}

// New returns the prober for spec, or an error naming the bad field.
func New(spec Spec) (Prober, error) {
	if spec.TLSFullEvery < 0 {
		return nil, fmt.Errorf("tls_full_handshake_every: %d is negative", spec.TLSFullEvery)
	}
	spec.tlsClient = newTLSClient(&spec) // the prober's copy of spec carries it
	switch spec.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("tls: %q is not one of none, starttls, implicit", spec.TLS)
	}
	for _, c := range constructors {
		if c.protocol == spec.Protocol {
			return c.build(spec)
		}
	}
	return nil, fmt.Errorf("protocol: %q is not one of %v", spec.Protocol, Protocols())
}

// Run runs p once with a hard timeout and returns the finished trace and the outcome. The
// error, when not nil, is always an *Error.
func Run(ctx context.Context, p Prober, timeout time.Duration) (*Trace, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := NewTrace()
	err := p.Probe(ctx, t)
	err = Wrap(ctx, t, err)
	t.Finish()
	return t, err
}
