package probe

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/secret"
)

const (
	rtFrom    = "axprobe@node1.example.test"
	rtTimeout = 20 * time.Second // far beyond anything the in-process round trips need
)

// rtEnv is a fake SMTP server delivering into a fake IMAP server, both offering STARTTLS,
// and a round-trip Spec aimed at them.
type rtEnv struct {
	smtp, imap *mailtest.Server
	d          *mailtest.Delivery
	spec       Spec
}

func startRoundTrip(t *testing.T) *rtEnv {
	t.Helper()
	certs := newCerts(t, mailtest.CertOptions{})
	e := &rtEnv{
		smtp: startFake(t, fakes()[0], mailtest.TLSStartTLS, certs),
		imap: startFake(t, fakes()[1], mailtest.TLSStartTLS, certs),
	}
	d, err := mailtest.Deliver(e.smtp, e.imap, map[string]string{testUser: testUser})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	e.d = d
	e.spec = Spec{Protocol: "roundtrip", Address: e.smtp.Addr(), TLS: TLSStartTLS, CAFile: certs.CAFile,
		IMAPAddress: e.imap.Addr(), IMAPTLS: TLSStartTLS, Username: testUser, Password: secret.New(testPassword),
		MailFrom: rtFrom, MailTo: testUser, Deadline: 10 * time.Second}
	return e
}

// run runs the round trip once; edit, when not nil, adjusts the prober first.
func (e *rtEnv) run(t *testing.T, timeout time.Duration, edit func(*roundTripProber)) (*Trace, error) {
	t.Helper()
	p, err := New(e.spec)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if edit != nil {
		edit(p.(*roundTripProber))
	}
	return Run(context.Background(), p, timeout)
}

// count returns how many messages in the probe mailbox match criteria.
func (e *rtEnv) count(t *testing.T, criteria *imap.SearchCriteria) int {
	t.Helper()
	uids, err := e.d.Search(testUser, criteria)
	if err != nil {
		t.Fatal(err)
	}
	return len(uids)
}

func header(key, value string) *imap.SearchCriteria {
	return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: key, Value: value}}}
}

var deletedFlag = &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}

// appendMail puts a message into the probe mailbox directly and returns its subject.
func (e *rtEnv) appendMail(t *testing.T, from, token, subject string, flags ...imap.Flag) {
	t.Helper()
	msg := "From: " + from + "\r\nSubject: " + subject + "\r\n"
	if token != "" {
		msg += TokenHeader + ": " + token + "\r\n"
	}
	msg += "\r\nbody\r\n"
	if _, err := e.d.Append(testUser, []byte(msg), flags...); err != nil {
		t.Fatal(err)
	}
}

// personal puts a person's message into the mailbox; untouched checks it is still there
// and not flagged \Deleted.
func (e *rtEnv) personal(t *testing.T) {
	e.appendMail(t, "alice@example.test", "", "personal")
}

func (e *rtEnv) untouched(t *testing.T) {
	t.Helper()
	if n := e.count(t, header("Subject", "personal")); n != 1 {
		t.Errorf("the person's message: %d in the mailbox, want 1", n)
	}
	if n := e.count(t, deletedFlag); n != 0 {
		t.Errorf("%d messages flagged \\Deleted after the run, want 0", n)
	}
}

func note(tr *Trace, name string) string {
	for _, n := range tr.Notes() {
		if n.Name == name {
			return n.Value
		}
	}
	return ""
}

func TestRoundTripDelivers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noIdle bool
	}{{"idle", false}, {"polling", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startRoundTrip(t)
			e.personal(t)
			e.d.SetDelay(20 * time.Millisecond) // the message is not there at the first search
			tr, err := e.run(t, rtTimeout, func(p *roundTripProber) { p.noIdle = tc.noIdle })
			phases := wantOK(t, tr, err)
			want := []string{"connect", "banner", "capability", "starttls", "tls", "capability", "login", "select", "stale",
				"connect", "banner", "ehlo", "starttls", "tls", "ehlo", "auth", "submit", "queued", "delivered", "cleanup", "logout"}
			if !slices.Equal(phases, want) {
				t.Errorf("phases = %v\nwant     %v", phases, want)
			}
			if d, ok := tr.Measure("delivery"); !ok || d <= 0 {
				t.Errorf("delivery measure = %s, %v; want a positive duration", d, ok)
			}
			if id := note(tr, "queue_id"); id != "OK: queued" {
				t.Errorf("queue_id note = %q, want go-smtp's %q", id, "OK: queued")
			}
			if n := e.d.Delivered(); n != 1 {
				t.Errorf("delivered %d messages, want 1", n)
			}
			if n := e.count(t, header(TokenHeader, "")); n != 0 {
				t.Errorf("%d probe messages left in the mailbox, want 0", n)
			}
			e.untouched(t)
			msgs := e.smtp.Messages()
			if len(msgs) != 1 || msgs[0].From != rtFrom || !slices.Equal(msgs[0].To, []string{testUser}) {
				t.Fatalf("submitted %+v", msgs)
			}
			if data := string(msgs[0].Data); !strings.Contains(data, "\r\nSubject: axprobe round trip ") ||
				!strings.Contains(data, "\r\nAuto-Submitted: auto-generated\r\n") {
				t.Errorf("message lacks its subject or Auto-Submitted:\n%s", data)
			}
		})
	}
}

func TestRoundTripDuplicateBothRemoved(t *testing.T) {
	e := startRoundTrip(t)
	e.personal(t)
	e.d.SetFault(mailtest.DeliveryDuplicate)
	tr, err := e.run(t, rtTimeout, nil)
	wantOK(t, tr, err)
	if got := note(tr, "duplicates"); got != "1" {
		t.Errorf("duplicates note = %q, want 1", got)
	}
	if n := e.d.Delivered(); n != 2 {
		t.Errorf("delivered %d, want 2", n)
	}
	if n := e.count(t, header(TokenHeader, "")); n != 0 {
		t.Errorf("%d probe messages left, want 0", n)
	}
	e.untouched(t)
}

func TestRoundTripFailures(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(e *rtEnv)
		reason    Reason
		phase     string
		code      int
		submitted bool // whether a message reached the SMTP server
	}{
		{name: "lost", setup: func(e *rtEnv) {
			e.d.SetFault(mailtest.DeliveryLose)
			e.spec.Deadline = 300 * time.Millisecond
		}, reason: ReasonNotDelivered, phase: "queued", submitted: true},
		{name: "rejected", setup: func(e *rtEnv) { e.d.SetFault(mailtest.DeliveryReject) },
			reason: ReasonSubmitRejected, phase: "submit", code: 554},
		{name: "unknown recipient", setup: func(e *rtEnv) { e.spec.MailTo = "nobody@example.test" },
			reason: ReasonSubmitRejected, phase: "submit", code: 550},
		{name: "imap login", setup: func(e *rtEnv) { e.imap.SetFault(mailtest.FaultRejectAuth) },
			reason: ReasonIMAPLogin, phase: "login"},
		{name: "smtp auth", setup: func(e *rtEnv) { e.smtp.SetFault(mailtest.FaultRejectAuth) },
			reason: ReasonAuth, phase: "auth", code: 535},
		{name: "imap down", setup: func(e *rtEnv) { e.imap.SetFault(mailtest.FaultRefuse) },
			reason: ReasonRefused, phase: "connect"},
		{name: "no such mailbox", setup: func(e *rtEnv) { e.spec.Mailbox = "Probes" },
			reason: ReasonProtocol, phase: "select"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startRoundTrip(t)
			e.personal(t)
			tc.setup(e)
			_, err := e.run(t, rtTimeout, nil)
			pe := wantFail(t, err, tc.reason, tc.phase)
			if pe.Code != tc.code {
				t.Errorf("code = %d, want %d", pe.Code, tc.code)
			}
			if got := len(e.smtp.Messages()) > 0; got != tc.submitted {
				t.Errorf("a message was submitted: %v, want %v", got, tc.submitted)
			}
			e.untouched(t)
		})
	}
}

func TestRoundTripLostMessageNamesItsQueueID(t *testing.T) {
	e := startRoundTrip(t)
	e.d.SetFault(mailtest.DeliveryLose)
	e.spec.Deadline = 200 * time.Millisecond
	tr, err := e.run(t, rtTimeout, nil)
	wantFail(t, err, ReasonNotDelivered, "queued")
	if !strings.Contains(err.Error(), `queued as "OK: queued"`) || !strings.Contains(err.Error(), "INBOX") {
		t.Errorf("error %q does not name the queue id and the mailbox", err)
	}
	if _, ok := tr.Measure("delivery"); ok {
		t.Error("a lost message has a delivery measure")
	}
}

func TestRoundTripTimeoutBeforeDeadline(t *testing.T) {
	e := startRoundTrip(t)
	e.d.SetFault(mailtest.DeliveryLose)
	e.spec.Deadline = time.Hour // the probe's own timeout ends it first
	for _, noIdle := range []bool{false, true} {
		// Long enough for the login and submission before the wait to finish on a loaded
		// machine, so the timeout falls in the wait.
		_, err := e.run(t, 3*time.Second, func(p *roundTripProber) { p.noIdle = noIdle })
		wantFail(t, err, ReasonTimeout, "queued")
	}
}

func TestRoundTripRemovesOnlyItsStaleMessages(t *testing.T) {
	e := startRoundTrip(t)
	now := time.Now()
	old := now.Add(-2 * e.spec.Deadline)
	e.personal(t)
	e.appendMail(t, rtFrom, formatToken(old, "00112233445566aa"), "stale 1")
	e.appendMail(t, "Axprobe <"+strings.ToUpper(rtFrom)+">", formatToken(old, "00112233445566bb"), "stale 2")
	e.appendMail(t, rtFrom, formatToken(old, "00112233445566cc"), "stale seen", imap.FlagSeen)
	// Not to be removed: another node's probe message, a message still within its deadline
	// (another run's, in flight), a token that is not axprobe's, a From that only contains ours.
	e.appendMail(t, "axprobe@node2.example.test", formatToken(old, "00112233445566dd"), "other node")
	e.appendMail(t, rtFrom, formatToken(now, "00112233445566ee"), "in flight")
	e.appendMail(t, rtFrom, "not-a-token", "bad token")
	e.appendMail(t, "x"+rtFrom, formatToken(old, "00112233445566ff"), "lookalike")

	tr, err := e.run(t, rtTimeout, nil)
	wantOK(t, tr, err)
	if got := note(tr, "stale_removed"); got != "3" {
		t.Errorf("stale_removed note = %q, want 3", got)
	}
	for subject, want := range map[string]int{"stale": 0, "other node": 1, "in flight": 1, "bad token": 1, "lookalike": 1, "personal": 1} {
		if n := e.count(t, header("Subject", subject)); n != want {
			t.Errorf("messages with subject %q: %d, want %d", subject, n, want)
		}
	}
	if n := e.count(t, deletedFlag); n != 0 {
		t.Errorf("%d messages flagged \\Deleted, want 0", n)
	}
}

func TestRoundTripNoExpungeOverOthersDeleted(t *testing.T) {
	// The fake IMAP server has no UIDPLUS: a plain EXPUNGE would take a message someone else
	// flagged \Deleted along with ours, so the round trip must not expunge.
	e := startRoundTrip(t)
	e.appendMail(t, "alice@example.test", "", "flagged by alice", imap.FlagDeleted)
	_, err := e.run(t, rtTimeout, nil)
	pe := wantFail(t, err, ReasonCleanupFailed, "cleanup")
	if !strings.Contains(pe.Error(), "1 messages in INBOX that axprobe did not send are flagged") {
		t.Errorf("error %q does not say why", pe)
	}
	if n := e.count(t, header("Subject", "flagged by alice")); n != 1 {
		t.Errorf("alice's \\Deleted message was expunged")
	}
}

func TestRoundTripMailboxOverLimit(t *testing.T) {
	e := startRoundTrip(t)
	e.spec.MaxMessages = 3
	for i := range 4 {
		e.appendMail(t, "alice@example.test", "", fmt.Sprintf("personal %d", i))
	}
	_, err := e.run(t, rtTimeout, nil)
	pe := wantFail(t, err, ReasonCleanupFailed, "stale")
	if !strings.Contains(pe.Error(), "holds 4 messages, more than max_messages 3") {
		t.Errorf("error %q does not say how full the mailbox is", pe)
	}
	if len(e.smtp.Messages()) != 0 {
		t.Error("a message was submitted into a mailbox over its limit")
	}
	if n := e.count(t, header("Subject", "personal")); n != 4 {
		t.Errorf("%d of the 4 personal messages left", n)
	}
	if n := e.count(t, deletedFlag); n != 0 {
		t.Errorf("%d messages flagged \\Deleted, want 0", n)
	}
}

func TestNewRoundTripRejectsBadSpecs(t *testing.T) {
	good := Spec{Protocol: "roundtrip", Address: "127.0.0.1:25", IMAPAddress: "127.0.0.1:143",
		Username: "probe", Password: secret.New("pw"), MailFrom: "a@example.test", MailTo: "b@example.test"}
	if _, err := New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	tests := []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.IMAPAddress = "" }, "imap_address: required"},
		{func(s *Spec) { s.IMAPAddress = "host" }, `imap side: address: "host"`},
		{func(s *Spec) { s.IMAPTLS = "sometimes" }, `imap_tls: "sometimes"`},
		{func(s *Spec) { s.Username = "" }, "username: required"},
		{func(s *Spec) { s.MailFrom = "" }, "mail_from: required"},
		{func(s *Spec) { s.MailFrom = "Probe <a@example.test>" }, "mail_from: \"Probe <a@example.test>\" is not a bare mail address"},
		{func(s *Spec) { s.MailTo = "b@example.test\r\nRCPT TO:<x@y>" }, "mail_to:"},
		{func(s *Spec) { s.MailTo = "nodomain" }, "mail_to:"},
		{func(s *Spec) { s.Deadline = -time.Second }, "deadline: -1s must not be negative"},
		{func(s *Spec) { s.MaxMessages = -1 }, "max_messages: -1 must not be negative"},
		{func(s *Spec) { s.Mailbox = "IN\nBOX" }, "mailbox:"},
		{func(s *Spec) { s.BannerRegex = "x" }, "banner_regex:"},
		{func(s *Spec) { s.Path = "/" }, "path: means nothing to a roundtrip probe"},
	}
	for _, tc := range tests {
		s := good
		tc.edit(&s)
		_, err := New(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", s, err, tc.want)
		}
	}
	// Round-trip fields on another protocol are refused.
	if _, err := New(Spec{Protocol: "smtp", Address: "127.0.0.1:25", MailTo: "b@example.test"}); err == nil ||
		!strings.Contains(err.Error(), "mail_to: means nothing to a smtp probe") {
		t.Errorf("smtp with mail_to: %v", err)
	}
}

func TestParseURLRoundTrip(t *testing.T) {
	spec, err := ParseURL("roundtrip://probe@mail.example.test:587?imap=imap.example.test&to=rt@example.test&mailbox=Probes")
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{Protocol: "roundtrip", Address: "mail.example.test:587", TLS: TLSNone, Username: "probe",
		IMAPAddress: "imap.example.test:143", MailTo: "rt@example.test", MailFrom: "rt@example.test", Mailbox: "Probes"}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("ParseURL\n got %+v\nwant %+v", spec, want)
	}
	spec, err = ParseURL("roundtrip://probe@[::1]?imap=[::1]:993&to=rt@example.test&from=ax@node1.example.test")
	if err != nil || spec.Address != "[::1]:25" || spec.IMAPAddress != "[::1]:993" || spec.MailFrom != "ax@node1.example.test" {
		t.Errorf("ParseURL with IPv6 and from: %+v, %v", spec, err)
	}
	for _, tc := range []struct{ url, want string }{
		{"roundtrip://h?imap=h&to=a@b.test", "needs a user"},
		{"roundtrip://u@h?to=a@b.test", "needs ?imap="},
		{"roundtrip://u@h?imap=h", "needs ?to="},
		{"roundtrip://u@h?imap=h&to=a@b.test&to=c@d.test", "to given 2 times"},
		{"roundtrip://u@h?imap=h&to=a@b.test&deadline=1s", `"deadline" is not one of`},
		{"roundtrip://u@h/INBOX?imap=h&to=a@b.test", "takes no path"},
		{"roundtrip://u@h?imap=h&to=not-an-address&from=a@b.test", "mail_to:"},
		{"roundtrip://u@h?imap=h:0&to=a@b.test", "imap side: address"},
	} {
		if _, err := ParseURL(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
}

func TestTokens(t *testing.T) {
	at := time.UnixMilli(1_719_500_000_123)
	tok := formatToken(at, "0123456789abcdef")
	if tok != "1719500000123-0123456789abcdef" {
		t.Errorf("formatToken = %q", tok)
	}
	if got, ok := parseToken(tok); !ok || !got.Equal(at) {
		t.Errorf("parseToken(%q) = %v, %v", tok, got, ok)
	}
	fresh, err := newToken(at)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newToken(at)
	if fresh == other {
		t.Errorf("two tokens made at the same time are equal: %q", fresh)
	}
	if got, ok := parseToken(fresh); !ok || !got.Equal(at) {
		t.Errorf("parseToken(newToken) = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "-", "1-", "-0123456789abcdef", "1-0123456789ABCDEF", "1-0123456789abcde",
		"x1-0123456789abcdef", "1234567890123456-0123456789abcdef", "1-0123456789abcdef0", " 1-0123456789abcdef", "01-0123456789abcdef"} {
		if _, ok := parseToken(bad); ok {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}

func TestParseProbeHeader(t *testing.T) {
	tests := []struct {
		in, token, from string
	}{
		{"X-Axprobe-Token: 1-0123456789abcdef\r\nFrom: a@b.test\r\n\r\n", "1-0123456789abcdef", "a@b.test"},
		{"from: Probe <A@B.test>\r\nx-axprobe-token:  t1 \r\n", "t1", "A@B.test"}, // no blank line, any case
		{"From: a@b.test\nX-Axprobe-Token: t\n\n", "t", "a@b.test"},               // bare LF
		{"X-Axprobe-Token: t1\r\nX-Axprobe-Token: t2\r\nFrom: a@b.test\r\n\r\n", "", "a@b.test"},
		{"From: a@b.test, c@d.test\r\n\r\n", "", ""},
		{"", "", ""},
		{"garbage without colon\r\n\r\n", "", ""},
	}
	for _, tc := range tests {
		token, from := parseProbeHeader([]byte(tc.in))
		if token != tc.token || from != tc.from {
			t.Errorf("parseProbeHeader(%q) = %q, %q; want %q, %q", tc.in, token, from, tc.token, tc.from)
		}
	}
}

func TestQueueID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2.0.0 Ok: queued as 4ZxYq03Fq1z2", "4ZxYq03Fq1z2"},
		{"Ok: Queued as <ABC123>.", "ABC123"},
		{"OK id=1tXyZ-0001ab-2c", "1tXyZ-0001ab-2c"},
		{"OK: queued", "OK: queued"},
		{"2.0.0 OK: queued", "OK: queued"},
		{"2.0 OK", "2.0 OK"},
		{"  Mail queued for delivery ", "Mail queued for delivery"},
		{"queued as ", "queued as"},
		{strings.Repeat("x", 200), strings.Repeat("x", 80) + "..."},
	}
	for _, tc := range tests {
		if got := queueID(tc.in); got != tc.want {
			t.Errorf("queueID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckMailAddress(t *testing.T) {
	for _, ok := range []string{"a@b", "axprobe+node1@mail.example.com", "x.y@sub.example.test"} {
		if err := checkMailAddress("f", ok); err != nil {
			t.Errorf("checkMailAddress(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "a@b c", "<a@b>", "A <a@b>", "a@b\n", "\"a b\"@c", "a@b,c@d", strings.Repeat("a", 250) + "@b.cd"} {
		if err := checkMailAddress("f", bad); err == nil {
			t.Errorf("checkMailAddress(%q) accepted", bad)
		}
	}
}

func FuzzParseProbeHeader(f *testing.F) {
	f.Add([]byte("X-Axprobe-Token: 1-0123456789abcdef\r\nFrom: a@b.test\r\n\r\n"))
	f.Add([]byte("From: =?utf-8?q?x?= <a@b>\r\n\tfolded\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		token, from := parseProbeHeader(b)
		if strings.ContainsAny(token, "\r\n") {
			t.Errorf("token %q has a line break", token)
		}
		if from != "" && !strings.Contains(from, "@") {
			t.Errorf("from %q is not an address", from)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add("1719500000123-0123456789abcdef")
	f.Add("0-ffffffffffffffff")
	f.Add("99999999999999999999-0123456789abcdef")
	f.Fuzz(func(t *testing.T, s string) {
		at, ok := parseToken(s)
		if !ok {
			return
		}
		// A token that parses is exactly one newToken could have made.
		_, random, _ := strings.Cut(s, "-")
		if got := formatToken(at, random); got != s {
			t.Errorf("parseToken(%q) = %v, which formats as %q", s, at, got)
		}
	})
}

func FuzzQueueID(f *testing.F) {
	f.Add("2.0.0 Ok: queued as 4ZxYq03Fq1z2")
	f.Add("OK id=1tXyZ")
	f.Add("queued as \x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got := queueID(s); len(got) > 83 {
			t.Errorf("queueID(%q) = %q: longer than truncate allows", s, got)
		}
	})
}

// Round trip errors never carry the password.
func TestRoundTripErrorsHideThePassword(t *testing.T) {
	e := startRoundTrip(t)
	e.imap.SetFault(mailtest.FaultRejectAuth)
	_, err := e.run(t, rtTimeout, nil)
	if err == nil || strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %v carries the password or is nil", err)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("%T is not *Error", err)
	}
}
