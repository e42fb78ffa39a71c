package probe

// Integration tests: every prober against real servers (Dovecot, Postfix, nginx) started
// by internal/realserver. They skip unless AXPROBE_INTEGRATION=1:
//
//	sudo scripts/install-test-deps.sh
//	AXPROBE_INTEGRATION=1 go test -race -run 'TestRealServer' ./internal/probe
//	AXPROBE_INTEGRATION=1 go test -run TestRealServerTimings -v ./internal/probe

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/realserver"
	"github.com/axprobe/axprobe/internal/secret"
)

// realTimeout is a probe's hard deadline against the real servers: generous, because a
// failed login costs Dovecot's auth_failure_delay (2 s) and -race slows everything down.
const realTimeout = 10 * time.Second

// realCase is one probe against the real servers and its expected outcome.
type realCase struct {
	name    string
	spec    Spec
	timeout time.Duration // realTimeout when zero
	reason  Reason        // "" means the probe must succeed
	phase   string        // the phase a failure must be reported in
	code    int           // the failure's protocol code, when it has one
	phases  []string      // on success: phases that must appear, in this order
	tlsOK   *bool         // when set: a TLS session must be recorded, verified or not
}

func realPtr[T any](v T) *T { return &v }

// realCases lists the probes TestRealServers runs against s.
func realCases(s *realserver.Servers, realClosedPort string) []realCase {
	good := func(proto, addr string, mode TLSMode) Spec {
		return Spec{Protocol: proto, Address: addr, TLS: mode, CAFile: s.CAFile,
			Username: s.User, Password: s.Password}
	}
	anon := func(proto, addr string, mode TLSMode) Spec {
		return Spec{Protocol: proto, Address: addr, TLS: mode, CAFile: s.CAFile}
	}
	with := func(spec Spec, edit func(*Spec)) Spec { edit(&spec); return spec }
	wrongPassword := func(sp *Spec) { sp.Password = secret.New("wrong-" + s.Password.Reveal()) }
	noCA := func(sp *Spec) { sp.CAFile = "" }
	web := func(mode TLSMode, addr string) Spec {
		return Spec{Protocol: "http", Address: addr, TLS: mode, CAFile: s.CAFile,
			ExpectHeader: realserver.HeaderName + ": ^" + realserver.HeaderValue + "$",
			ExpectBody:   "<title>" + realserver.PageTitle + "</title>"}
	}

	return []realCase{
		// IMAP (Dovecot).
		{name: "imap/plain", spec: good("imap", s.IMAP, TLSNone),
			phases: []string{"connect", "banner", "capability", "login", "examine", "logout"}},
		{name: "imap/starttls", spec: good("imap", s.IMAP, TLSStartTLS), tlsOK: realPtr(true),
			phases: []string{"connect", "banner", "starttls", "tls", "capability", "login", "examine", "logout"}}, // Dovecot's greeting lists its capabilities: no CAPABILITY before STARTTLS
		{name: "imap/implicit", spec: good("imap", s.IMAPS, TLSImplicit), tlsOK: realPtr(true),
			phases: []string{"connect", "tls", "banner", "capability", "login", "examine", "logout"}},
		{name: "imap/anonymous", spec: anon("imap", s.IMAP, TLSStartTLS),
			phases: []string{"connect", "banner", "starttls", "tls", "capability", "logout"}},
		{name: "imap/banner regex", spec: with(anon("imap", s.IMAP, TLSNone), func(sp *Spec) { sp.BannerRegex = "Dovecot" }),
			phases: []string{"banner"}},
		{name: "imap/banner mismatch", spec: with(anon("imap", s.IMAP, TLSNone), func(sp *Spec) { sp.BannerRegex = "Axigen" }),
			reason: ReasonBadBanner, phase: "banner"},
		{name: "imap/wrong password", spec: with(good("imap", s.IMAP, TLSStartTLS), wrongPassword),
			reason: ReasonAuth, phase: "login"},
		{name: "imap/wrong mailbox", spec: with(good("imap", s.IMAPS, TLSImplicit), func(sp *Spec) { sp.Mailbox = "NoSuchFolder" }),
			reason: ReasonProtocol, phase: "examine"},
		{name: "imap/implicit no CA", spec: with(good("imap", s.IMAPS, TLSImplicit), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "imap/starttls no CA", spec: with(good("imap", s.IMAP, TLSStartTLS), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "imap/implicit other name", spec: with(good("imap", s.IMAPS, TLSImplicit), func(sp *Spec) { sp.ServerName = "mail.other.test" }),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "imap/implicit name localhost", spec: with(good("imap", s.IMAPS, TLSImplicit), func(sp *Spec) { sp.ServerName = "localhost" }),
			phases: []string{"tls", "login"}, tlsOK: realPtr(true)},
		{name: "imap/implicit skip verify", spec: with(good("imap", s.IMAPS, TLSImplicit), func(sp *Spec) { sp.CAFile, sp.InsecureSkipVerify = "", true }),
			phases: []string{"tls", "login"}, tlsOK: realPtr(false)},
		{name: "imap/implicit on plain port", spec: good("imap", s.IMAP, TLSImplicit),
			reason: ReasonTLS, phase: "tls"},

		// POP3 (Dovecot).
		{name: "pop3/plain", spec: good("pop3", s.POP3, TLSNone),
			phases: []string{"connect", "banner", "auth", "stat", "quit"}},
		{name: "pop3/starttls", spec: good("pop3", s.POP3, TLSStartTLS), tlsOK: realPtr(true),
			phases: []string{"connect", "banner", "capa", "stls", "tls", "auth", "stat", "quit"}},
		{name: "pop3/implicit", spec: good("pop3", s.POP3S, TLSImplicit), tlsOK: realPtr(true),
			phases: []string{"connect", "tls", "banner", "auth", "stat", "quit"}},
		{name: "pop3/anonymous", spec: anon("pop3", s.POP3S, TLSImplicit),
			phases: []string{"connect", "tls", "banner", "quit"}},
		{name: "pop3/wrong password", spec: with(good("pop3", s.POP3S, TLSImplicit), wrongPassword),
			reason: ReasonAuth, phase: "auth"},
		{name: "pop3/implicit no CA", spec: with(good("pop3", s.POP3S, TLSImplicit), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "pop3/banner mismatch", spec: with(anon("pop3", s.POP3, TLSNone), func(sp *Spec) { sp.BannerRegex = "Axigen" }),
			reason: ReasonBadBanner, phase: "banner"},

		// SMTP (Postfix, AUTH through Dovecot, offered only inside TLS).
		{name: "smtp/plain", spec: anon("smtp", s.SMTP, TLSNone),
			phases: []string{"connect", "banner", "ehlo", "quit"}},
		{name: "smtp/starttls", spec: good("smtp", s.SMTP, TLSStartTLS), tlsOK: realPtr(true),
			phases: []string{"connect", "banner", "ehlo", "starttls", "tls", "ehlo", "auth", "quit"}},
		{name: "smtp/implicit", spec: good("smtp", s.SMTPS, TLSImplicit), tlsOK: realPtr(true),
			phases: []string{"connect", "tls", "banner", "ehlo", "auth", "quit"}},
		{name: "smtp/banner regex", spec: with(anon("smtp", s.SMTP, TLSNone), func(sp *Spec) { sp.BannerRegex = "^mail\\.example\\.test ESMTP" }),
			phases: []string{"banner", "ehlo"}},
		{name: "smtp/banner mismatch", spec: with(anon("smtp", s.SMTP, TLSNone), func(sp *Spec) { sp.BannerRegex = "Axigen" }),
			reason: ReasonBadBanner, phase: "banner"},
		{name: "smtp/wrong password", spec: with(good("smtp", s.SMTP, TLSStartTLS), wrongPassword),
			reason: ReasonAuth, phase: "auth", code: 535},
		{name: "smtp/auth without tls", spec: good("smtp", s.SMTP, TLSNone),
			reason: ReasonAuth, phase: "auth"},
		{name: "smtp/implicit no CA", spec: with(good("smtp", s.SMTPS, TLSImplicit), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "smtp/starttls no CA", spec: with(good("smtp", s.SMTP, TLSStartTLS), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},

		// HTTP (nginx as the WebMail stand-in).
		{name: "http/plain", spec: web(TLSNone, s.HTTP),
			phases: []string{"connect", "banner", "body"}},
		{name: "http/implicit", spec: web(TLSImplicit, s.HTTPS), tlsOK: realPtr(true),
			phases: []string{"connect", "tls", "banner", "body"}},
		{name: "http/503", spec: with(web(TLSNone, s.HTTP), func(sp *Spec) { sp.Path, sp.ExpectBody = realserver.PathDown, "" }),
			reason: ReasonHTTPStatus, phase: "body", code: 503},
		{name: "http/503 expected", spec: with(web(TLSImplicit, s.HTTPS), func(sp *Spec) { sp.Path, sp.ExpectStatus, sp.ExpectBody = realserver.PathDown, 503, "" }),
			phases: []string{"body"}},
		{name: "http/redirect not followed", spec: with(web(TLSNone, s.HTTP), func(sp *Spec) { sp.Path, sp.ExpectBody = realserver.PathRedirect, "" }),
			reason: ReasonHTTPStatus, phase: "body", code: 302},
		{name: "http/redirect followed", spec: with(web(TLSImplicit, s.HTTPS), func(sp *Spec) { sp.Path, sp.FollowRedirects = realserver.PathRedirect, true }),
			phases: []string{"connect", "tls", "banner", "connect", "tls", "banner", "body"}},
		{name: "http/header mismatch", spec: with(web(TLSNone, s.HTTP), func(sp *Spec) { sp.ExpectHeader = realserver.HeaderName + ": ^Apache$" }),
			reason: ReasonHTTPStatus, phase: "body", code: 200},
		{name: "http/body mismatch", spec: with(web(TLSNone, s.HTTP), func(sp *Spec) { sp.ExpectBody = "Roundcube" }),
			reason: ReasonHTTPStatus, phase: "body", code: 200},
		{name: "http/implicit no CA", spec: with(web(TLSImplicit, s.HTTPS), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},

		// TCP and the Axigen CLI prober, which has no real counterpart here.
		{name: "tcp/plain", spec: anon("tcp", s.IMAP, TLSNone), phases: []string{"connect"}},
		{name: "tcp/implicit", spec: anon("tcp", s.SMTPS, TLSImplicit), tlsOK: realPtr(true),
			phases: []string{"connect", "tls"}},
		{name: "tcp/implicit no CA", spec: with(anon("tcp", s.HTTPS, TLSImplicit), noCA),
			reason: ReasonCert, phase: "tls", tlsOK: realPtr(false)},
		{name: "tcp/refused", spec: anon("tcp", realClosedPort, TLSNone),
			reason: ReasonRefused, phase: "connect"},
		{name: "cli/against imap", spec: anon("cli", s.IMAP, TLSNone), timeout: 3 * time.Second,
			reason: ReasonBadBanner, phase: "banner"},
	}
}

// TestRealServers runs every prober against real servers, in every TLS mode, with good
// and bad credentials and certificates, and checks the outcome, the failing phase and the
// phases recorded.
func TestRealServers(t *testing.T) {
	s := realserver.Start(t, realserver.Options{})
	for _, tc := range realCases(s, itest.FreeAddr(t)) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // failed logins each wait out Dovecot's 2 s auth_failure_delay
			p, err := New(tc.spec)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = realTimeout
			}
			trace, err := Run(t.Context(), p, timeout)
			checkRealOutcome(t, tc, trace, err, s.Password)
		})
	}
}

func checkRealOutcome(t *testing.T, tc realCase, trace *Trace, err error, password secret.Secret) {
	t.Helper()
	names := realPhaseNames(trace)
	if err != nil && strings.Contains(err.Error(), password.Reveal()) {
		t.Errorf("the error reveals the password: %v", err)
	}
	if tc.reason == "" {
		if err != nil {
			t.Fatalf("probe failed: %v (phases %v)", err, names)
		}
		if !realSubsequence(tc.phases, names) {
			t.Errorf("phases %v; want %v among them, in this order", names, tc.phases)
		}
	} else {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("probe returned %v (phases %v); want an *Error with reason %s", err, names, tc.reason)
		}
		if pe.Reason != tc.reason || pe.Phase != tc.phase {
			t.Errorf("failed with %s in phase %s (%v); want %s in phase %s", pe.Reason, pe.Phase, err, tc.reason, tc.phase)
		}
		if tc.code != 0 && pe.Code != tc.code {
			t.Errorf("error code %d (%v); want %d", pe.Code, err, tc.code)
		}
	}
	if tc.tlsOK != nil {
		info := trace.TLS()
		if info == nil {
			t.Fatalf("no TLS session recorded; want one with verified=%t", *tc.tlsOK)
		}
		if info.Verified != *tc.tlsOK {
			t.Errorf("TLS verified = %t; want %t", info.Verified, *tc.tlsOK)
		}
		if info.CertSubject != "localhost" || info.CertNotAfter.IsZero() {
			t.Errorf("TLS info %+v; want the test certificate (CN localhost) and its expiry", info)
		}
	}
}

// TestRealServerFaults makes Dovecot hang (SIGSTOP of its whole process group) and then
// crash, and checks that the probers say so: a timeout in the banner phase, then a refused
// connection. It has its own Dovecot, since it breaks it.
func TestRealServerFaults(t *testing.T) {
	s := realserver.Start(t, realserver.Options{Services: realserver.Dovecot})
	type fault struct {
		spec      Spec
		hangPhase string // where a hung server stops the probe
	}
	faults := []fault{
		{Spec{Protocol: "imap", Address: s.IMAP, Username: s.User, Password: s.Password}, "banner"},
		{Spec{Protocol: "pop3", Address: s.POP3, TLS: TLSStartTLS, CAFile: s.CAFile, Username: s.User, Password: s.Password}, "banner"},
		{Spec{Protocol: "imap", Address: s.IMAPS, TLS: TLSImplicit, CAFile: s.CAFile}, "tls"}, // TLS comes first
		{Spec{Protocol: "pop3", Address: s.POP3S, TLS: TLSImplicit, CAFile: s.CAFile}, "tls"},
	}
	// probeAll probes every listener; want "" means success, phase "hang" the hangPhase.
	probeAll := func(t *testing.T, timeout time.Duration, want Reason, phase string) {
		t.Helper()
		for _, f := range faults {
			spec, phase := f.spec, phase
			if phase == "hang" {
				phase = f.hangPhase
			}
			p, err := New(spec)
			if err != nil {
				t.Fatal(err)
			}
			trace, err := Run(t.Context(), p, timeout)
			if ReasonOf(err) != want {
				t.Errorf("%s %s %s: %v (phases %v); want reason %q", spec.Protocol, spec.TLS, spec.Address, err, realPhaseNames(trace), want)
				continue
			}
			var pe *Error
			if errors.As(err, &pe) && pe.Phase != phase {
				t.Errorf("%s %s %s: failed in phase %s (%v); want %s", spec.Protocol, spec.TLS, spec.Address, pe.Phase, err, phase)
			}
		}
	}

	probeAll(t, realTimeout, "", "")

	t.Run("hang", func(t *testing.T) {
		if err := s.Dovecot.Pause(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Dovecot.Resume(); err != nil {
				t.Error(err)
			}
		}()
		// The kernel still completes the TCP handshake; nothing answers after it.
		probeAll(t, 500*time.Millisecond, ReasonTimeout, "hang")
	})
	t.Run("recovered", func(t *testing.T) { probeAll(t, realTimeout, "", "") })
	t.Run("crash", func(t *testing.T) {
		if err := s.Dovecot.Kill(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		probeAll(t, realTimeout, ReasonRefused, "connect")
	})
}

// TestRealServerTimings measures each prober's phases against the real servers and logs a
// table (realMedian of several runs after a warm-up) for docs/TESTING.md. It asserts only
// that the probes succeed: timings are measurements, not expectations.
//
//	AXPROBE_INTEGRATION=1 go test -run TestRealServerTimings -v ./internal/probe
func TestRealServerTimings(t *testing.T) {
	const runs = 9
	s := realserver.Start(t, realserver.Options{})
	var rows []string
	for _, tc := range realCases(s, "") {
		if tc.reason != "" || strings.Contains(tc.name, "regex") || strings.HasPrefix(tc.name, "tcp/") && tc.spec.TLS == TLSNone {
			continue
		}
		p, err := New(tc.spec)
		if err != nil {
			t.Fatalf("%s: New: %v", tc.name, err)
		}
		if _, err := Run(t.Context(), p, realTimeout); err != nil { // warm-up: login processes, TLS caches
			t.Fatalf("%s: %v", tc.name, err)
		}
		perPhase := map[string][]time.Duration{}
		var order []string // phase keys in the order of the first run
		var totals []time.Duration
		for run := range runs {
			trace, err := Run(t.Context(), p, realTimeout)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			seen := map[string]int{}
			var total time.Duration
			for _, ph := range trace.Phases() {
				seen[ph.Name]++
				key := ph.Name
				if n := seen[ph.Name]; n > 1 {
					key = fmt.Sprintf("%s#%d", ph.Name, n) // a phase that comes twice (ehlo, capability)
				}
				if run == 0 {
					order = append(order, key)
				}
				perPhase[key] = append(perPhase[key], ph.Duration)
				total += ph.Duration
			}
			totals = append(totals, total)
		}
		cells := make([]string, 0, len(order))
		for _, name := range order {
			cells = append(cells, fmt.Sprintf("%s %s", name, realMs(realMedian(perPhase[name]))))
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", tc.name, realMs(realMedian(totals)), strings.Join(cells, ", ")))
	}
	t.Logf("median of %d runs after one warm-up, per phase:\n| probe | total | phases |\n|---|---|---|\n%s",
		runs, strings.Join(rows, "\n"))
}

func realPhaseNames(trace *Trace) []string {
	if trace == nil {
		return nil
	}
	var names []string
	for _, ph := range trace.Phases() {
		names = append(names, ph.Name)
	}
	return names
}

// realSubsequence reports whether want appears in got in order, not necessarily adjacent.
func realSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func realMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func realMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
