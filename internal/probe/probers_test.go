package probe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/secret"
	"github.com/axprobe/axprobe/internal/testkit"
)

// Probe timeouts for the fault tests. hangTimeout is for the faults whose only possible
// ending is a timeout (the fakes' delays, slowDelay and trickle, are far longer): short, to
// keep the suite fast (those subtests run in parallel), yet long enough that the phases
// before the fault (connect, or banner and STARTTLS before a stalled handshake) finish in
// time on a loaded machine, so the timeout falls in the phase the test names. probeTimeout is for every other ending (refused, closed, auth, bad
// banner, ...): generous, so a probe starved on a loaded machine still meets the fault
// rather than the clock.
const (
	hangTimeout  = 1500 * time.Millisecond
	probeTimeout = 10 * time.Second
	slowDelay    = 30 * time.Second
)

const (
	testUser     = "probe@example.test"
	testPassword = "s3cret-Pa55"
)

// fake describes how to start one protocol's fake and probe it.
type fake struct {
	protocol string
	start    func(mailtest.Options) (*mailtest.Server, error)
	// phase in which a dropped connection (banner, then close on the first command) shows.
	dropPhase string
	// authPhase is where a rejected login shows.
	authPhase string
	// tls modes the fake offers.
	startTLS, implicit bool
	// bannerRegex matches the healthy Axigen greeting and not the wrong_banner one.
	bannerRegex string
}

func fakes() []fake {
	return []fake{
		{protocol: "smtp", start: mailtest.StartSMTP, dropPhase: "ehlo", authPhase: "auth", startTLS: true, implicit: true, bannerRegex: "Axigen ESMTP"},
		{protocol: "imap", start: mailtest.StartIMAP, dropPhase: "capability", authPhase: "login", startTLS: true, implicit: true, bannerRegex: "Axigen"},
		{protocol: "pop3", start: mailtest.StartPOP3, dropPhase: "auth", authPhase: "auth", startTLS: true, implicit: true, bannerRegex: "AXIGEN"},
		{protocol: "cli", start: mailtest.StartCLI, dropPhase: "version", authPhase: "auth", bannerRegex: "AXIGEN"},
		{protocol: "http", start: func(o mailtest.Options) (*mailtest.Server, error) { return mailtest.StartHTTP(o, mailtest.KindWebMail) },
			dropPhase: "banner", implicit: true},
	}
}

// tlsModes lists the TLS modes f offers.
func (f fake) tlsModes() []TLSMode {
	var modes []TLSMode
	if f.implicit {
		modes = append(modes, TLSImplicit)
	}
	if f.startTLS {
		modes = append(modes, TLSStartTLS)
	}
	return modes
}

// startFake starts f with mode and the test user, and closes it when the test ends.
func startFake(t *testing.T, f fake, mode mailtest.TLSMode, certs *mailtest.Certs) *mailtest.Server {
	t.Helper()
	srv, err := f.start(mailtest.Options{TLS: mode, Cert: certs, Users: map[string]string{testUser: testPassword}})
	if err != nil {
		t.Fatalf("start %s fake: %v", f.protocol, err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newCerts(t *testing.T, o mailtest.CertOptions) *mailtest.Certs {
	t.Helper()
	c, err := mailtest.NewCertsWith(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runProbe builds the prober for spec and runs it once.
func runProbe(t *testing.T, spec Spec, timeout time.Duration) (*Trace, error) {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return Run(context.Background(), p, timeout)
}

// wantOK fails the test unless err is nil, and returns the phase names.
func wantOK(t *testing.T, tr *Trace, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatalf("probe failed: %v (phases %v)", err, phaseNames(tr))
	}
	return phaseNames(tr)
}

// wantFail fails the test unless err is an *Error with reason in phase.
func wantFail(t *testing.T, err error, reason Reason, phase string) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *Error %s in %s", err, err, reason, phase)
	}
	if pe.Reason != reason || pe.Phase != phase {
		t.Fatalf("got %s in phase %s (%v), want %s in phase %s", pe.Reason, pe.Phase, pe, reason, phase)
	}
	return pe
}

func phaseNames(tr *Trace) []string {
	var names []string
	for _, p := range tr.Phases() {
		names = append(names, p.Name)
	}
	return names
}

func TestProbersSucceed(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	want := map[string]string{
		"smtp/none":       "connect banner ehlo quit",
		"smtp/none/login": "connect banner ehlo auth quit",
		"smtp/starttls":   "connect banner ehlo starttls tls ehlo auth quit",
		"smtp/implicit":   "connect tls banner ehlo auth quit",
		"imap/none":       "connect banner capability logout",
		"imap/none/login": "connect banner capability login examine logout",
		"imap/starttls":   "connect banner capability starttls tls capability login examine logout",
		"imap/implicit":   "connect tls banner capability login examine logout",
		"pop3/none":       "connect banner quit",
		"pop3/none/login": "connect banner auth stat quit",
		"pop3/starttls":   "connect banner capa stls tls auth stat quit",
		"pop3/implicit":   "connect tls banner auth stat quit",
		"cli/none":        "connect banner version quit",
		"cli/none/login":  "connect banner version auth quit",
		"http/none":       "connect banner body",
		"http/implicit":   "connect tls banner body",
		"tcp/none":        "connect",
		"tcp/implicit":    "connect tls",
	}
	for _, f := range fakes() {
		for _, mode := range append([]TLSMode{TLSNone}, f.tlsModes()...) {
			for _, login := range []bool{false, true} {
				if f.protocol == "http" && login || mode != TLSNone && !login && f.protocol != "http" {
					continue
				}
				name := f.protocol + "/" + string(mode)
				if login && mode == TLSNone {
					name += "/login"
				}
				t.Run(name, func(t *testing.T) {
					srv := startFake(t, f, mailtest.TLSMode(mode), certs)
					spec := Spec{Protocol: f.protocol, Address: srv.Addr(), TLS: mode, CAFile: certs.CAFile, BannerRegex: f.bannerRegex}
					if login {
						spec.Username, spec.Password = testUser, secret.New(testPassword)
					}
					if f.protocol == "http" {
						spec.ExpectHeader = "Server: ^Axigen-Webmail$"
						spec.ExpectBody = "Axigen WebMail"
					}
					tr, err := runProbe(t, spec, 5*time.Second)
					got := strings.Join(wantOK(t, tr, err), " ")
					if got != want[name] {
						t.Errorf("phases %q, want %q", got, want[name])
					}
					if mode != TLSNone {
						info := tr.TLS()
						if info == nil || !info.Verified || info.CertNotAfter.IsZero() {
							t.Errorf("TLS info %+v, want verified with expiry", info)
						}
					}
				})
			}
		}
	}
	t.Run("tcp", func(t *testing.T) {
		for _, mode := range []TLSMode{TLSNone, TLSImplicit} {
			srv := startFake(t, fakes()[4], mailtest.TLSMode(mode), certs)
			tr, err := runProbe(t, Spec{Protocol: "tcp", Address: srv.Addr(), TLS: mode, CAFile: certs.CAFile}, 5*time.Second)
			if got := strings.Join(wantOK(t, tr, err), " "); got != want["tcp/"+string(mode)] {
				t.Errorf("%s: phases %q", mode, got)
			}
		}
	})
}

func TestProberFaults(t *testing.T) {
	type faultCase struct {
		fault  mailtest.Fault
		login  bool
		reason Reason
		phase  string // "" means the fake's dropPhase / authPhase, see below
	}
	for _, f := range fakes() {
		cases := []faultCase{
			{fault: mailtest.FaultRefuse, reason: ReasonRefused, phase: "connect"},
			{fault: mailtest.FaultHang, reason: ReasonTimeout, phase: "banner"},
			{fault: mailtest.FaultSlowBanner, reason: ReasonTimeout, phase: "banner"},
			{fault: mailtest.FaultTrickle, reason: ReasonTimeout, phase: "banner"},
			{fault: mailtest.FaultDrop, login: true, reason: ReasonClosed, phase: f.dropPhase},
		}
		if f.protocol == "http" {
			cases = append(cases,
				faultCase{fault: mailtest.FaultWrongBanner, reason: ReasonHTTPStatus, phase: "body"},
				faultCase{fault: mailtest.FaultRejectBanner, reason: ReasonHTTPStatus, phase: "body"},
				faultCase{fault: mailtest.FaultHugeLine, reason: ReasonProtocol, phase: "banner"})
		} else {
			cases = append(cases,
				faultCase{fault: mailtest.FaultWrongBanner, reason: ReasonBadBanner, phase: "banner"},
				faultCase{fault: mailtest.FaultRejectBanner, reason: ReasonBadBanner, phase: "banner"},
				faultCase{fault: mailtest.FaultRejectAuth, login: true, reason: ReasonAuth, phase: f.authPhase},
				faultCase{fault: mailtest.FaultHugeLine, reason: ReasonProtocol, phase: "banner"})
		}
		for _, c := range cases {
			t.Run(f.protocol+"/"+string(c.fault), func(t *testing.T) {
				t.Parallel()
				srv := startFake(t, f, mailtest.TLSNone, nil)
				srv.SetSlowDelay(slowDelay)
				srv.SetTrickleInterval(slowDelay)
				srv.SetFault(c.fault)
				spec := Spec{Protocol: f.protocol, Address: srv.Addr(), BannerRegex: f.bannerRegex}
				if f.protocol == "http" {
					spec.ExpectHeader = "Server: Axigen"
				}
				if c.login && f.protocol != "http" {
					spec.Username, spec.Password = testUser, secret.New(testPassword)
				}
				timeout := probeTimeout
				if c.reason == ReasonTimeout {
					timeout = hangTimeout
				}
				_, err := runProbe(t, spec, timeout)
				if f.protocol == "cli" && c.fault == mailtest.FaultHugeLine {
					// The fake writes its greeting, prompt included, then the endless
					// line: whether the prompt arrives alone in the first read is up to
					// the network, so the line is met in banner or in version.
					c.phase = Spec{}.Protocol
					var pe *Error
					if errors.As(err, &pe) && (pe.Phase == "banner" || pe.Phase == "version") {
						c.phase = pe.Phase
					}
				}
				pe := wantFail(t, err, c.reason, c.phase)
				if strings.Contains(pe.Error(), testPassword) {
					t.Errorf("error text holds the password: %v", pe)
				}
			})
		}
	}
}

// TestProberRejectCodes: a negative answer fails with its reason and phase and keeps the
// server's code.
func TestProberRejectCodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		fault  mailtest.Fault // none when empty
		spec   Spec           // Address is the fake's of spec.Protocol
		reason Reason
		phase  string
		code   int
	}{
		{"smtp 421 banner", mailtest.FaultRejectBanner, Spec{Protocol: "smtp"}, ReasonBadBanner, "banner", 421},
		{"smtp 535 auth", "", Spec{Protocol: "smtp", Username: testUser, Password: secret.New("wrong")}, ReasonAuth, "auth", 535},
		{"http 503", mailtest.FaultRejectBanner, Spec{Protocol: "http"}, ReasonHTTPStatus, "body", 503},
		{"http 404 for another path", "", Spec{Protocol: "http", Path: "/nope"}, ReasonHTTPStatus, "body", 404},
		{"http body mismatch", "", Spec{Protocol: "http", ExpectBody: "WebAdmin"}, ReasonHTTPStatus, "body", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startFake(t, fakeFor(t, c.spec.Protocol), mailtest.TLSNone, nil)
			if c.fault != "" {
				srv.SetFault(c.fault)
			}
			spec := c.spec
			spec.Address = srv.Addr()
			_, err := runProbe(t, spec, probeTimeout)
			if pe := wantFail(t, err, c.reason, c.phase); pe.Code != c.code {
				t.Errorf("code %d, want %d", pe.Code, c.code)
			}
			if c.code == 404 { // the status the path answers is what expect_status asks for
				spec.ExpectStatus = 404
				tr, err := runProbe(t, spec, probeTimeout)
				wantOK(t, tr, err)
			}
		})
	}
}

func TestProbersWrongPassword(t *testing.T) {
	for _, f := range fakes() {
		if f.protocol == "http" {
			continue
		}
		t.Run(f.protocol, func(t *testing.T) {
			srv := startFake(t, f, mailtest.TLSNone, nil)
			_, err := runProbe(t, Spec{Protocol: f.protocol, Address: srv.Addr(), Username: testUser, Password: secret.New("not-" + testPassword)}, probeTimeout)
			pe := wantFail(t, err, ReasonAuth, f.authPhase)
			if strings.Contains(pe.Error(), testPassword) {
				t.Errorf("error text holds the password: %v", pe)
			}
		})
	}
}

func TestProbersBadCertificates(t *testing.T) {
	now := time.Now()
	certs := map[string]*mailtest.Certs{
		"wrong name": newCerts(t, mailtest.CertOptions{Hosts: []string{"other.example.test"}}),
		"expired":    newCerts(t, mailtest.CertOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}),
	}
	for name, c := range certs {
		for _, f := range fakes() {
			for _, mode := range f.tlsModes() {
				t.Run(name+"/"+f.protocol+"/"+string(mode), func(t *testing.T) {
					srv := startFake(t, f, mailtest.TLSMode(mode), c)
					spec := Spec{Protocol: f.protocol, Address: srv.Addr(), TLS: mode, CAFile: c.CAFile}
					tr, err := runProbe(t, spec, probeTimeout)
					wantFail(t, err, ReasonCert, "tls")
					info := tr.TLS()
					if info == nil || info.Verified || !info.CertNotAfter.Equal(c.NotAfter.Truncate(time.Second)) {
						t.Errorf("TLS info %+v, want unverified with expiry %v", info, c.NotAfter)
					}
					// With verification off the same server passes, expiry still recorded.
					spec.InsecureSkipVerify = true
					tr, err = runProbe(t, spec, 5*time.Second)
					wantOK(t, tr, err)
					if info := tr.TLS(); info == nil || info.Verified || info.CertNotAfter.IsZero() {
						t.Errorf("insecure: TLS info %+v", info)
					}
				})
			}
		}
	}
}

func TestProbersStallTLS(t *testing.T) {
	certs := newCerts(t, mailtest.CertOptions{})
	for _, f := range fakes() {
		for _, mode := range f.tlsModes() {
			t.Run(f.protocol+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				srv := startFake(t, f, mailtest.TLSMode(mode), certs)
				srv.SetFault(mailtest.FaultStallTLS)
				_, err := runProbe(t, Spec{Protocol: f.protocol, Address: srv.Addr(), TLS: mode, CAFile: certs.CAFile}, hangTimeout)
				wantFail(t, err, ReasonTimeout, "tls")
			})
		}
	}
}

func TestProbersStartTLSNotOffered(t *testing.T) {
	for _, f := range fakes() {
		if !f.startTLS {
			continue
		}
		t.Run(f.protocol, func(t *testing.T) {
			srv := startFake(t, f, mailtest.TLSNone, nil)
			_, err := runProbe(t, Spec{Protocol: f.protocol, Address: srv.Addr(), TLS: TLSStartTLS}, probeTimeout)
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason != ReasonTLS {
				t.Fatalf("err = %v, want reason tls", err)
			}
		})
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	tests := []struct {
		spec      Spec
		wantInErr string
	}{
		{Spec{Protocol: "smtp", Address: "h:25", BannerRegex: "("}, "banner_regex: error parsing regexp"},
		{Spec{Protocol: "http", Address: "h:80", ExpectBody: "["}, "expect_body: error parsing regexp"},
		{Spec{Protocol: "http", Address: "h:80", ExpectHeader: "Server"}, "expect_header"},
		{Spec{Protocol: "http", Address: "h:80", ExpectHeader: "Server: ("}, "expect_header: error parsing regexp"},
		{Spec{Protocol: "http", Address: "h:80", ExpectStatus: 1000}, "expect_status: 1000"},
		{Spec{Protocol: "http", Address: "h:80", Path: "x"}, "path"},
		{Spec{Protocol: "http", Address: "h:80", TLS: TLSStartTLS}, "tls"},
		{Spec{Protocol: "imap", Address: "h"}, `address: "h"`},
		{Spec{Protocol: "imap", Address: "h:0"}, "port must be 1-65535"},
		{Spec{Protocol: "imap", Address: ":143"}, "empty host"},
		{Spec{Protocol: "pop3", Address: "h:110", Username: "a\r\nQUIT"}, "username"},
		{Spec{Protocol: "pop3", Address: "h:110", Username: "a", Password: secret.New("x\r\nDELE 1")}, "password"},
		{Spec{Protocol: "smtp", Address: "h:25", HeloName: "a b"}, "helo_name"},
		{Spec{Protocol: "smtp", Address: "h:25", TLS: TLSImplicit, CAFile: "/nonexistent/ca.pem"}, "ca_file"},
		{Spec{Protocol: "cli", Address: "h:7000", TLS: TLSStartTLS}, "tls"},
		{Spec{Protocol: "tcp", Address: "h:1", TLS: TLSStartTLS}, "tls"},
		{Spec{Protocol: "smtp", Address: "h:25", Mailbox: "INBOX"}, "mailbox: means nothing to a smtp probe"},
		{Spec{Protocol: "imap", Address: "h:143", ExpectStatus: 200}, "expect_status"},
		{Spec{Protocol: "http", Address: "h:80", Username: "u"}, "username"},
	}
	for _, tt := range tests {
		_, err := New(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
			t.Errorf("New(%+v) = %v, want an error mentioning %q", tt.spec, err, tt.wantInErr)
		}
		if err != nil && strings.Contains(err.Error(), "DELE") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestProbeRespectsCancel(t *testing.T) {
	srv := startFake(t, fakes()[1], mailtest.TLSNone, nil)
	srv.SetFault(mailtest.FaultHang)
	p, err := New(Spec{Protocol: "imap", Address: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, p, time.Hour)
	var pe *Error
	if !errors.As(err, &pe) || pe.Reason != ReasonTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
}

func TestHTTPRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/index.hsp", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/index.hsp", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Axigen WebMail") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	_, err := runProbe(t, Spec{Protocol: "http", Address: addr}, 5*time.Second)
	if pe := wantFail(t, err, ReasonHTTPStatus, "body"); pe.Code != http.StatusMovedPermanently {
		t.Errorf("code %d, want 301 (redirect not followed)", pe.Code)
	}
	tr, err := runProbe(t, Spec{Protocol: "http", Address: addr, ExpectStatus: 301}, 5*time.Second)
	wantOK(t, tr, err)
	tr, err = runProbe(t, Spec{Protocol: "http", Address: addr, FollowRedirects: true, ExpectBody: "WebMail"}, 5*time.Second)
	if got := strings.Join(wantOK(t, tr, err), " "); got != "connect banner connect banner body" {
		t.Errorf("phases %q, want two connections", got)
	}

	// A redirect to another scheme is refused, not fetched as HTTP from that host and port.
	var dialled atomic.Int32
	other := testkit.Listen(t, "tcp", "127.0.0.1:0", func(c net.Conn) { dialled.Add(1); _ = c.Close() })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://"+other+"/", http.StatusFound)
	})
	_, err = runProbe(t, Spec{Protocol: "http", Address: addr, Path: "/elsewhere", FollowRedirects: true}, probeTimeout)
	if pe := wantFail(t, err, ReasonProtocol, "banner"); !strings.Contains(pe.Error(), `unsupported URL scheme "ftp"`) {
		t.Errorf("error %q, want the scheme named", pe.Error())
	}
	if n := dialled.Load(); n != 0 {
		t.Errorf("the ftp:// redirect target was dialled %d times", n)
	}
}

// TestHTTPAnswersOutsideTheFriendlyCase: informational answers before the real one are
// skipped, and an answer that is endless, not HTTP, or only 1xx fails at once as a
// protocol error naming no byte of it, rather than growing memory until the timeout.
func TestHTTPAnswersOutsideTheFriendlyCase(t *testing.T) {
	for _, c := range []struct {
		name, answer string
		endless      string // written forever after answer
		wantErr      string // "" for success
	}{
		{name: "103 then 200", answer: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "endless header", answer: "HTTP/1.1 200 OK\r\n", endless: "X-Filler: secret-looking-bytes\r\n", wantErr: "answer header over 65536 bytes"},
		{name: "not HTTP", answer: "* secret-looking-bytes IMAP4rev1\r\n\r\n", wantErr: "answer is not an HTTP/1.x response"},
		{name: "only 1xx", answer: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6), wantErr: "more than 5 informational (1xx) answers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := testkit.Listen(t, "tcp", "127.0.0.1:0", func(conn net.Conn) {
				defer conn.Close()
				_, _ = http.ReadRequest(bufio.NewReader(conn))
				if _, err := io.WriteString(conn, c.answer); err != nil || c.endless == "" {
					return
				}
				line := []byte(c.endless)
				for range 1 << 20 { // bounded: the probe closes long before
					if _, err := conn.Write(line); err != nil {
						return
					}
				}
			})
			tr, err := runProbe(t, Spec{Protocol: "http", Address: addr}, probeTimeout)
			if c.wantErr == "" {
				wantOK(t, tr, err)
				return
			}
			pe := wantFail(t, err, ReasonProtocol, "banner")
			if msg := pe.Error(); !strings.Contains(msg, c.wantErr) || strings.Contains(msg, "secret-looking") {
				t.Errorf("error %q: want %q and no byte of the answer", msg, c.wantErr)
			}
		})
	}
}
