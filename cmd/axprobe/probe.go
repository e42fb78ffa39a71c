package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/secret"
)

const probeUsage = `Usage: axprobe probe URL [flags]

Probes one listener now, the way the daemon does, and prints every phase with its
duration, the TLS session and certificate expiry, and the verdict. Flags may come before
or after the URL.

URL schemes and default ports:
  smtp 25, smtps 465, imap 143, imaps 993, pop3 110, pop3s 995, http 80, https 443,
  axigen-cli 7000, tcp (port required), roundtrip 25. The "s" schemes use implicit TLS.
  A user may be given in the URL (imap://probe@host); a password never: use
  --password-file or --password-env. For imap the path is the mailbox to EXAMINE
  (imap://probe@host/INBOX); for http(s) it is the page to GET.

Mail round trip: roundtrip://user@smtp-host[:port]?imap=host[:port]&to=address
  [&from=address][&mailbox=name] submits a message over SMTP (--tls for that side, AUTH
  as user unless --submit-no-auth), waits for it in the mailbox over IMAP (--imap-tls;
  port 143 when omitted), then deletes it. from defaults to to, mailbox to INBOX. The
  timeout defaults to --deadline + 30s. docs/ROUNDTRIP.md has the details.

Exit status: 0 the probe passed, 1 it failed, 2 usage error.

Examples:
  axprobe probe smtp://10.0.0.5 --tls starttls
  axprobe probe imap://probe@10.0.0.5 --tls starttls --password-file /etc/axprobe/pw
  axprobe probe pop3s://10.0.0.5 --ca-file /etc/axprobe/ca.pem --server-name mail.example.com
  axprobe probe http://10.0.0.5 --expect-header 'Server: Axigen-Webmail'
  axprobe probe https://10.0.0.5:9443/ --insecure-skip-verify --expect-body 'Axigen WebAdmin'
  axprobe probe axigen-cli://admin@127.0.0.1 --password-env AXIGEN_ADMIN_PW --json
  axprobe probe 'roundtrip://rt@10.0.0.5:587?imap=10.0.0.5:993&to=rt@example.com&from=axprobe@node1.example.com' \
      --tls starttls --imap-tls implicit --password-file /etc/axprobe/rt.pw --deadline 30s

Flags:
`

// probeFlags holds the command line of `axprobe probe`.
type probeFlags struct {
	tls, caFile, serverName  string
	insecure                 bool
	user, passFile, passEnv  string
	timeout                  time.Duration
	bannerRegex              string
	expectStatus             int
	expectBody, expectHeader string
	followRedirects          bool
	mailbox                  string
	asJSON                   bool

	// Mail round trip.
	imapTLS      string
	deadline     time.Duration
	maxMessages  int
	submitNoAuth bool
}

func (f *probeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tls, "tls", "", "none, starttls or implicit (default: from the URL scheme)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM `file` of CAs to verify the server with (default: system roots)")
	fs.StringVar(&f.serverName, "server-name", "", "`name` the certificate must be for (default: the URL's host)")
	fs.BoolVar(&f.insecure, "insecure-skip-verify", false, "report the certificate but do not fail on it")
	fs.StringVar(&f.user, "user", "", "log in as `name` (overrides the URL's user)")
	fs.StringVar(&f.passFile, "password-file", "", "read the password from `file` (a regular file of at most 4096 bytes; one trailing newline is dropped)")
	fs.StringVar(&f.passEnv, "password-env", "", "read the password from environment variable `VAR`")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "hard deadline for the whole probe")
	fs.StringVar(&f.bannerRegex, "banner-regex", "", "the greeting must match this `regexp`")
	fs.IntVar(&f.expectStatus, "expect-status", 0, "HTTP `status` expected (default 200)")
	fs.StringVar(&f.expectBody, "expect-body", "", "HTTP body must match this `regexp`")
	fs.StringVar(&f.expectHeader, "expect-header", "", "HTTP header that must match, `\"Name: regexp\"`")
	fs.BoolVar(&f.followRedirects, "follow-redirects", false, "HTTP: follow redirects")
	fs.StringVar(&f.mailbox, "mailbox", "", "IMAP mailbox to EXAMINE after login (default INBOX)")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object instead of a table")
	fs.StringVar(&f.imapTLS, "imap-tls", "", "roundtrip: none, starttls or implicit for the IMAP side (default none)")
	fs.DurationVar(&f.deadline, "deadline", 0, "roundtrip: how long delivery may take (default 1m)")
	fs.IntVar(&f.maxMessages, "max-messages", 0, "roundtrip: fail when the mailbox holds more messages than this (default 100)")
	fs.BoolVar(&f.submitNoAuth, "submit-no-auth", false, "roundtrip: submit without SMTP AUTH; the login is for IMAP only")
}

// probeCommand runs `axprobe probe`. Exit codes: 0 pass, 1 fail, 2 usage.
func probeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe probe", probeUsage, stderr)
	var f probeFlags
	f.register(fs.FlagSet)
	positional, err := parseInterspersed(fs.FlagSet, args)
	if err != nil {
		return 2 // flag has printed the problem and the usage
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "axprobe probe: want exactly one URL, got %d arguments\n\n", len(positional))
		fs.Usage()
		return 2
	}
	spec, err := f.spec(positional[0])
	if err != nil {
		fmt.Fprintf(stderr, "axprobe probe: %v\n", err)
		return 2
	}
	timeout := f.timeout
	if spec.Protocol == "roundtrip" && !flagSet(fs.FlagSet, "timeout") {
		timeout = cmp.Or(spec.Deadline, probe.DefaultDeadline) + roundTripMargin
	}
	p, err := probe.New(spec)
	if err != nil {
		fmt.Fprintf(stderr, "axprobe probe: %v\n", err)
		return 2
	}

	start := time.Now()
	trace, err := probe.Run(ctx, p, timeout)
	res := newProbeResult(spec, trace, err, time.Since(start))
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "axprobe probe: %v\n", err)
			return 1
		}
	} else {
		res.writeTable(stdout)
	}
	if !res.OK {
		return 1
	}
	return 0
}

// roundTripMargin is how much longer than its delivery deadline a round trip may take when
// --timeout is not given: time to log in, submit and clean up around the wait.
const roundTripMargin = 30 * time.Second

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseInterspersed parses flags that may come before and after positional arguments
// (the flag package stops at the first positional one) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for range len(args) + 1 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return positional, nil
}

// spec builds the probe Spec from the URL and the flags; flags win over the URL.
func (f *probeFlags) spec(rawURL string) (probe.Spec, error) {
	spec, err := probe.ParseURL(rawURL)
	if err != nil {
		return spec, err
	}
	if f.tls != "" {
		spec.TLS = probe.TLSMode(f.tls)
	}
	spec.CAFile, spec.ServerName, spec.InsecureSkipVerify = f.caFile, f.serverName, f.insecure
	if f.user != "" {
		spec.Username = f.user
	}
	spec.BannerRegex = f.bannerRegex
	spec.ExpectStatus, spec.ExpectBody, spec.ExpectHeader = f.expectStatus, f.expectBody, f.expectHeader
	spec.FollowRedirects = f.followRedirects
	if f.mailbox != "" {
		spec.Mailbox = f.mailbox
	}
	spec.IMAPTLS = probe.TLSMode(f.imapTLS)
	spec.Deadline, spec.MaxMessages, spec.SubmitNoAuth = f.deadline, f.maxMessages, f.submitNoAuth
	if f.timeout <= 0 {
		return spec, fmt.Errorf("--timeout: %s must be positive", f.timeout)
	}
	pw, err := f.password()
	if err != nil {
		return spec, err
	}
	if !pw.IsZero() && spec.Username == "" {
		return spec, errors.New("a password was given but no user: use --user or user@host in the URL")
	}
	if pw.IsZero() && spec.Username != "" {
		return spec, fmt.Errorf("user %q needs a password: use --password-file or --password-env", spec.Username)
	}
	spec.Password = pw
	return spec, nil
}

// password reads the password from --password-file or --password-env (not both). Errors
// name the source, never the value.
func (f *probeFlags) password() (secret.Secret, error) {
	switch {
	case f.passFile != "" && f.passEnv != "":
		return secret.Secret{}, errors.New("--password-file and --password-env: give only one")
	case f.passFile != "":
		// The same reader as the config's password_file: regular files only, bounded,
		// never blocking on a FIFO or a device (docs/SECURITY.md).
		pw, err := secret.ReadFile(f.passFile)
		if err != nil {
			return secret.Secret{}, fmt.Errorf("--password-file: %w", err)
		}
		return pw, nil
	case f.passEnv != "":
		v, ok := os.LookupEnv(f.passEnv)
		if !ok || v == "" {
			return secret.Secret{}, fmt.Errorf("--password-env: variable %s is not set or empty", f.passEnv)
		}
		return secret.New(v), nil
	}
	return secret.Secret{}, nil
}

// probeResult is what `axprobe probe` reports, as a table or as JSON.
type probeResult struct {
	Protocol  string          `json:"protocol"`
	Address   string          `json:"address"`
	TLSMode   string          `json:"tls_mode"`
	OK        bool            `json:"ok"`
	Reason    string          `json:"reason,omitempty"`
	Phase     string          `json:"phase,omitempty"`
	Code      int             `json:"code,omitempty"`
	Error     string          `json:"error,omitempty"`
	IMAP      string          `json:"imap_address,omitempty"`  // roundtrip: the IMAP side
	IMAPTLS   string          `json:"imap_tls_mode,omitempty"` // roundtrip: the IMAP side's TLS
	Phases    []probe.Phase   `json:"phases"`
	Measures  []probe.Measure `json:"measures,omitempty"` // roundtrip: "delivery"
	Notes     []probe.Note    `json:"notes,omitempty"`    // roundtrip: "queue_id" and others
	TLS       *probe.TLSInfo  `json:"tls,omitempty"`
	Elapsed   string          `json:"elapsed"`
	ElapsedNS time.Duration   `json:"elapsed_ns"`
}

func newProbeResult(spec probe.Spec, trace *probe.Trace, err error, elapsed time.Duration) probeResult {
	mode := string(spec.TLS)
	if mode == "" {
		mode = string(probe.TLSNone)
	}
	r := probeResult{
		Protocol:  spec.Protocol,
		Address:   spec.Address,
		TLSMode:   mode,
		OK:        err == nil,
		IMAP:      spec.IMAPAddress,
		Phases:    trace.Phases(),
		Measures:  trace.Measures(),
		Notes:     trace.Notes(),
		TLS:       trace.TLS(),
		Elapsed:   elapsed.Round(time.Microsecond).String(),
		ElapsedNS: elapsed,
	}
	if r.Phases == nil {
		r.Phases = []probe.Phase{}
	}
	if spec.IMAPAddress != "" {
		r.IMAPTLS = string(cmp.Or(spec.IMAPTLS, probe.TLSNone))
	}
	if err != nil {
		r.Error = err.Error()
		var pe *probe.Error
		if errors.As(err, &pe) {
			r.Reason, r.Phase, r.Code = string(pe.Reason), pe.Phase, pe.Code
		}
	}
	return r
}

func (r probeResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "%s %s (tls %s)", safe(r.Protocol), safe(r.Address), safe(r.TLSMode))
	if r.IMAP != "" {
		fmt.Fprintf(w, " → imap %s (tls %s)", safe(r.IMAP), safe(r.IMAPTLS))
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tDURATION")
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%s\n", safe(p.Name), p.Duration.Round(time.Microsecond))
	}
	tw.Flush()
	if len(r.Measures) > 0 || len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, m := range r.Measures {
			fmt.Fprintf(tw, "%s\t%s\n", safe(strings.ToUpper(m.Name)), m.Duration.Round(time.Microsecond))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(tw, "%s\t%s\n", safe(n.Name), safe(n.Value))
		}
		tw.Flush()
	}
	if r.TLS != nil {
		verified := "yes"
		if !r.TLS.Verified {
			verified = "no"
		}
		fmt.Fprintf(w, "\nTLS   %s", safe(r.TLS.Version))
		if !r.TLS.CertNotAfter.IsZero() {
			fmt.Fprintf(w, ", certificate \"%s\" expires %s (in %s)", safe(r.TLS.CertSubject),
				r.TLS.CertNotAfter.UTC().Format(time.RFC3339), time.Until(r.TLS.CertNotAfter).Round(time.Hour))
		}
		fmt.Fprintf(w, ", verified: %s\n", verified)
	}
	fmt.Fprintln(w)
	if r.OK {
		fmt.Fprintf(w, "OK    in %s\n", r.Elapsed)
		return
	}
	verdict := r.Error
	if r.Code != 0 {
		verdict = fmt.Sprintf("%s (code %d)", verdict, r.Code)
	}
	fmt.Fprintf(w, "FAIL  %s\n", safe(verdict))
}
