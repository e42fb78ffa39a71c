package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TokenHeader is the header that carries a round trip's token. Every message the round
// trip sends has it; the round trip never deletes a message that lacks it.
const TokenHeader = "X-Axprobe-Token"

// Defaults and bounds of the round trip.
const (
	DefaultDeadline    = 60 * time.Second // Spec.Deadline when zero
	DefaultMaxMessages = 100              // Spec.MaxMessages when zero

	// maxStaleScan bounds how many candidate stale messages one run examines; more are left
	// for the next runs.
	maxStaleScan = 500
	// maxHeaderBytes bounds what is read of one message's fetched header fields.
	maxHeaderBytes = 8 << 10
	// Polling without IDLE starts at pollMin and doubles up to pollMax; with IDLE the
	// mailbox is searched again at least every pollMax in case a notification was missed.
	pollMin = 250 * time.Millisecond
	pollMax = 5 * time.Second
)

// roundTripProber sends a message over SMTP and waits for it to arrive over IMAP.
//
// It logs in to the probe mailbox first (a mailbox it cannot read or keep clean is not worth
// a message), removes stale probe messages an earlier, interrupted run left behind, and
// refuses to go on when the mailbox holds more than MaxMessages. Then it submits a message
// whose X-Axprobe-Token header (and subject) carries a fresh token, waits for the token to
// show up in the mailbox (IDLE when offered, else SEARCH with backoff) until Deadline, and
// deletes exactly the messages that carry the token.
//
// It deletes only messages whose X-Axprobe-Token header it parsed and whose From: address is
// MailFrom: its own message (and duplicates of it), and stale ones whose token is older than
// Deadline. With UIDPLUS it expunges by UID; without, it expunges only when no other message
// in the mailbox carries \Deleted, and reports cleanup_failed otherwise.
type roundTripProber struct {
	smtp        *smtpProber
	imap        *imapProber
	login       bool // SMTP AUTH before submitting
	from, to    string
	helo        string
	mailbox     string
	deadline    time.Duration
	maxMessages int

	noIdle bool             // poll even when the server offers IDLE (tests of the polling path)
	now    func() time.Time // the clock tokens are made and judged by
}

func newRoundTrip(spec Spec) (Prober, error) {
	if err := checkNetSpec(&spec); err != nil {
		return nil, err
	}
	if spec.BannerRegex != "" {
		return nil, errors.New("banner_regex: means nothing to a roundtrip probe (use an smtp or imap check)")
	}
	switch spec.IMAPTLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("imap_tls: %q is not one of none, starttls, implicit", spec.IMAPTLS)
	}
	if spec.IMAPAddress == "" {
		return nil, errors.New("imap_address: required (host:port of the IMAP listener)")
	}
	if spec.Username == "" {
		return nil, errors.New("username: required: the round trip logs in to the probe mailbox over IMAP")
	}
	if err := checkMailAddress("mail_from", spec.MailFrom); err != nil {
		return nil, err
	}
	if err := checkMailAddress("mail_to", spec.MailTo); err != nil {
		return nil, err
	}
	if spec.Deadline < 0 {
		return nil, fmt.Errorf("deadline: %s must not be negative", spec.Deadline)
	}
	if spec.MaxMessages < 0 {
		return nil, fmt.Errorf("max_messages: %d must not be negative", spec.MaxMessages)
	}

	// Each side is an ordinary prober of its protocol, so that dialling, TLS and login are
	// the same code as the smtp and imap checks'.
	side := spec
	side.IMAPAddress, side.IMAPTLS, side.MailFrom, side.MailTo = "", "", "", ""
	side.Deadline, side.MaxMessages, side.SubmitNoAuth, side.Mailbox = 0, 0, false, ""
	smtpSpec := side
	smtpSpec.Protocol = "smtp"
	sp, err := newSMTP(smtpSpec)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(spec.Mailbox, "\r\n") {
		return nil, fmt.Errorf("mailbox: %q contains a line break", spec.Mailbox)
	}
	imapSpec := side
	imapSpec.Protocol, imapSpec.Address, imapSpec.TLS, imapSpec.HeloName = "imap", spec.IMAPAddress, spec.IMAPTLS, ""
	imapSpec.Mailbox = spec.Mailbox
	ip, err := newIMAP(imapSpec)
	if err != nil {
		return nil, fmt.Errorf("imap side: %w", err)
	}

	p := &roundTripProber{
		smtp:        sp.(*smtpProber),
		imap:        ip.(*imapProber),
		login:       !spec.SubmitNoAuth,
		from:        spec.MailFrom,
		to:          spec.MailTo,
		helo:        sp.(*smtpProber).helo,
		mailbox:     ip.(*imapProber).mailbox,
		deadline:    spec.Deadline,
		maxMessages: spec.MaxMessages,
		now:         time.Now,
	}
	if p.deadline == 0 {
		p.deadline = DefaultDeadline
	}
	if p.maxMessages == 0 {
		p.maxMessages = DefaultMaxMessages
	}
	return p, nil
}

// checkMailAddress accepts a bare address, local@domain, with nothing that could break an
// SMTP command or a header line.
func checkMailAddress(field, addr string) error {
	if addr == "" {
		return fmt.Errorf("%s: required (an address such as axprobe@example.com)", field)
	}
	if len(addr) > 254 || strings.ContainsAny(addr, " \t\r\n<>\"(),;:\\[]") {
		return fmt.Errorf("%s: %q is not a bare mail address", field, truncate(addr))
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr || !strings.Contains(addr, "@") {
		return fmt.Errorf("%s: %q is not a bare mail address", field, truncate(addr))
	}
	return nil
}

// Probe implements Prober. Phases: the IMAP side's connect, [tls,] banner, [capability,
// starttls, tls,] capability, login; select; stale (old probe messages removed); the SMTP
// side's connect, [tls,] banner, [ehlo, starttls, tls,] ehlo, [auth]; submit (MAIL, RCPT,
// DATA up to the server's "queued" reply, QUIT); queued (waiting for the message in the
// mailbox); delivered (the messages found checked); cleanup; logout.
//
// The delivery latency, from the "queued" reply to the search that found the message, is
// the measure "delivery"; the notes are "queue_id" (what the server said it queued the
// message as), "stale_removed" and "duplicates" when there were any.
func (p *roundTripProber) Probe(ctx context.Context, t *Trace) error {
	notify := make(chan struct{}, 1)
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case notify <- struct{}{}:
				default: // a wake-up is already pending
				}
			}
		},
	}}
	c, rc, err := p.imap.open(ctx, t, ReasonIMAPLogin, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	s := &rtSession{p: p, ctx: ctx, t: t, c: c, rc: rc, notify: notify}

	t.Begin("select")
	if _, err := c.Select(p.mailbox, nil).Wait(); err != nil {
		return s.fail(ReasonProtocol, err)
	}
	t.Begin("stale")
	if err := s.removeStale(); err != nil {
		return err
	}
	if n := s.numMessages(); n > p.maxMessages {
		return Fail(t, ReasonCleanupFailed, 0, fmt.Errorf("mailbox %s holds %d messages, more than max_messages %d; "+
			"axprobe removes only its own messages, so the rest must be removed by hand", p.mailbox, n, p.maxMessages))
	}

	token, err := newToken(p.now())
	if err != nil {
		return Fail(t, ReasonInternal, 0, err)
	}
	queuedAt, queueID, err := p.submit(ctx, t, token)
	if err != nil {
		return err
	}

	t.Begin("queued")
	uids, seenAt, err := s.waitFor(token, queuedAt)
	if err != nil {
		if errors.Is(err, errDeadline) {
			return Fail(t, ReasonNotDelivered, 0, fmt.Errorf("message %s (queued as %q) not in mailbox %s after %s",
				token, queueID, p.mailbox, p.deadline))
		}
		return err
	}
	t.SetMeasure("delivery", seenAt.Sub(queuedAt))

	t.Begin("delivered")
	ours, err := s.probeMessages(uids, func(m probeMessage) bool { return m.token == token })
	if err != nil {
		return err
	}
	if len(ours) == 0 { // found by SEARCH, but no header matched exactly: never delete it
		return Fail(t, ReasonProtocol, 0, fmt.Errorf("SEARCH found UIDs %v for token %s, but none carries it in %s", uids, token, TokenHeader))
	}
	if len(ours) > 1 {
		t.SetNote("duplicates", strconv.Itoa(len(ours)-1))
	}

	t.Begin("cleanup")
	if err := s.remove(ours); err != nil {
		return err
	}
	t.Begin("logout")
	return s.fail(ReasonProtocol, c.Logout().Wait())
}

// submit sends the probe message and returns when the server queued it, with what it said
// it queued it as.
func (p *roundTripProber) submit(ctx context.Context, t *Trace, token string) (time.Time, string, error) {
	c, err := p.smtp.open(ctx, t, p.login)
	if err != nil {
		return time.Time{}, "", err
	}
	defer c.Close()
	t.Begin("submit")
	if err := c.Mail(p.from, nil); err != nil {
		return time.Time{}, "", smtpFail(ctx, t, ReasonSubmitRejected, err)
	}
	if err := c.Rcpt(p.to, nil); err != nil {
		return time.Time{}, "", smtpFail(ctx, t, ReasonSubmitRejected, err)
	}
	w, err := c.Data()
	if err != nil {
		return time.Time{}, "", smtpFail(ctx, t, ReasonSubmitRejected, err)
	}
	if _, err := w.Write(p.message(token, p.now())); err != nil {
		return time.Time{}, "", smtpFail(ctx, t, ReasonProtocol, err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return time.Time{}, "", smtpFail(ctx, t, ReasonSubmitRejected, err)
	}
	queuedAt := time.Now()
	id := queueID(resp.StatusText)
	t.SetNote("queue_id", id)
	_ = c.Quit() // the message is queued: a failed goodbye changes nothing
	return queuedAt, id, nil
}

// message renders the probe message: a short text telling a human what it is, marked as
// automatic so that no auto-responder answers it.
func (p *roundTripProber) message(token string, now time.Time) []byte {
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", p.from},
		{"To", p.to},
		{"Subject", "axprobe round trip " + token},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + token + "@" + p.helo + ">"},
		{TokenHeader, token},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=us-ascii"},
	} {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\nThis message was sent by axprobe to check that mail submitted over SMTP\r\n" +
		"reaches this mailbox. axprobe deletes it as soon as it has seen it.\r\n")
	return b.Bytes()
}

// rtSession is the IMAP side of one round trip.
type rtSession struct {
	p      *roundTripProber
	ctx    context.Context
	t      *Trace
	c      *imapclient.Client
	rc     *replayConn
	notify <-chan struct{} // a message count changed (EXISTS)
}

// errDeadline says the round trip's delivery deadline passed.
var errDeadline = errors.New("delivery deadline passed")

func (s *rtSession) fail(reason Reason, err error) error {
	return imapFail(s.ctx, s.t, s.rc, reason, err)
}

func (s *rtSession) numMessages() int {
	if m := s.c.Mailbox(); m != nil {
		return int(m.NumMessages)
	}
	return 0
}

// search returns the UIDs of messages whose headers match every (field, value) pair.
func (s *rtSession) search(fields ...imap.SearchCriteriaHeaderField) ([]imap.UID, error) {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Header: fields}, nil).Wait()
	if err != nil {
		return nil, s.fail(ReasonProtocol, err)
	}
	return data.AllUIDs(), nil
}

// waitFor searches for token until it is found, returning the UIDs and when they were seen,
// or errDeadline once the delivery deadline passes. Between searches it waits in IDLE for
// the server to announce new mail (Dovecot batches such news for half a second, which is
// the resolution of the delivery measure then), or polls with NOOP and a backoff.
func (s *rtSession) waitFor(token string, queuedAt time.Time) ([]imap.UID, time.Time, error) {
	deadline := time.NewTimer(time.Until(queuedAt.Add(s.p.deadline)))
	defer deadline.Stop()
	idle := !s.p.noIdle && s.c.Caps().Has(imap.CapIdle)
	backoff := pollMin
	for {
		uids, err := s.search(imap.SearchCriteriaHeaderField{Key: TokenHeader, Value: token})
		if err != nil {
			return nil, time.Time{}, err
		}
		if len(uids) > 0 {
			return uids, time.Now(), nil
		}
		if idle {
			err = s.idle(deadline.C, pollMax)
		} else {
			err = s.sleep(deadline.C, backoff)
			backoff = min(2*backoff, pollMax)
			if err == nil {
				// NOOP is how a client asks for new mail: some servers (Dovecot with
				// Maildir) do not look for it on SEARCH alone.
				err = s.c.Noop().Wait()
				if err != nil {
					err = s.fail(ReasonProtocol, err)
				}
			}
		}
		if err != nil {
			return nil, time.Time{}, err
		}
	}
}

// idle runs IDLE until the message count changes, d passes or the deadline fires.
func (s *rtSession) idle(deadline <-chan time.Time, d time.Duration) error {
	cmd, err := s.c.Idle()
	if err != nil {
		return s.fail(ReasonProtocol, err)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var expired bool
	select {
	case <-s.notify:
	case <-timer.C:
	case <-deadline:
		expired = true
	case <-s.ctx.Done(): // the conn is closing: Close below returns at once
	}
	if err := cmd.Close(); err != nil {
		return s.fail(ReasonProtocol, err)
	}
	if err := cmd.Wait(); err != nil {
		return s.fail(ReasonProtocol, err)
	}
	if expired {
		return errDeadline
	}
	return nil
}

// sleep waits d, or returns errDeadline when the deadline fires first, or the context's
// error when it ends.
func (s *rtSession) sleep(deadline <-chan time.Time, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-deadline:
		return errDeadline
	case <-s.ctx.Done():
		return Wrap(s.ctx, s.t, s.ctx.Err())
	}
}

// probeMessage is what the round trip learned from one message's headers.
type probeMessage struct {
	uid   imap.UID
	token string    // the X-Axprobe-Token value; "" when absent or malformed
	from  string    // the From: address; "" when absent or unparsable
	at    time.Time // when the token was made; zero when token is ""
}

// probeMessages fetches the token and From headers of uids and returns the messages that
// are this probe's (a parsed token and From: MailFrom) and that keep says to keep.
func (s *rtSession) probeMessages(uids []imap.UID, keep func(probeMessage) bool) ([]probeMessage, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
		HeaderFields: []string{TokenHeader, "From"}, Peek: true}
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	var out []probeMessage
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var m probeMessage
		var header []byte
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				m.uid = item.UID
			case imapclient.FetchItemDataBodySection:
				if item.Literal != nil {
					header, _ = io.ReadAll(io.LimitReader(item.Literal, maxHeaderBytes))
				}
			}
		}
		m.token, m.from = parseProbeHeader(header)
		if at, ok := parseToken(m.token); ok {
			m.at = at
		} else {
			m.token = ""
		}
		if m.uid != 0 && m.token != "" && strings.EqualFold(m.from, s.p.from) && keep(m) {
			out = append(out, m)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, s.fail(ReasonProtocol, err)
	}
	return out, nil
}

// removeStale deletes this probe's messages whose token is older than the deadline: what a
// run that was interrupted, or whose message arrived after its deadline, left behind.
func (s *rtSession) removeStale() error {
	uids, err := s.search(imap.SearchCriteriaHeaderField{Key: TokenHeader, Value: ""},
		imap.SearchCriteriaHeaderField{Key: "From", Value: s.p.from})
	if err != nil {
		return err
	}
	if len(uids) > maxStaleScan {
		uids = uids[:maxStaleScan]
	}
	cutoff := s.p.now().Add(-s.p.deadline)
	stale, err := s.probeMessages(uids, func(m probeMessage) bool { return m.at.Before(cutoff) })
	if err != nil {
		return err
	}
	if len(stale) == 0 {
		return nil
	}
	if err := s.remove(stale); err != nil {
		return err
	}
	s.t.SetNote("stale_removed", strconv.Itoa(len(stale)))
	return nil
}

// remove flags msgs \Deleted and expunges them: by UID with UIDPLUS; otherwise only when
// no other message carries \Deleted, since a plain EXPUNGE would remove those too.
func (s *rtSession) remove(msgs []probeMessage) error {
	uids := make([]imap.UID, len(msgs))
	for i, m := range msgs {
		uids[i] = m.uid
	}
	set := imap.UIDSetNum(uids...)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := s.c.Store(set, store, nil).Close(); err != nil {
		return s.fail(ReasonCleanupFailed, err)
	}
	caps := s.c.Caps()
	if caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2) {
		if err := s.c.UIDExpunge(set).Close(); err != nil {
			return s.fail(ReasonCleanupFailed, err)
		}
		return nil
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return s.fail(ReasonCleanupFailed, err)
	}
	foreign := 0
	for _, uid := range data.AllUIDs() {
		if !set.Contains(uid) {
			foreign++
		}
	}
	if foreign > 0 {
		return Fail(s.t, ReasonCleanupFailed, 0, fmt.Errorf("%d messages in %s that axprobe did not send are flagged \\Deleted "+
			"and the server lacks UIDPLUS: an EXPUNGE would remove them too, so axprobe's own %d stay flagged until they are gone",
			foreign, s.p.mailbox, len(uids)))
	}
	if err := s.c.Expunge().Close(); err != nil {
		return s.fail(ReasonCleanupFailed, err)
	}
	return nil
}

// newToken returns a fresh token: the time in milliseconds since the Unix epoch, a dash and
// 16 random hex digits.
func newToken(now time.Time) (string, error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return formatToken(now, hex.EncodeToString(r[:])), nil
}

func formatToken(at time.Time, random string) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + "-" + random
}

// parseToken parses a token made by newToken and returns when it was made. It accepts
// nothing else: a message whose token does not parse is never deleted.
func parseToken(s string) (time.Time, bool) {
	ms, random, ok := strings.Cut(s, "-")
	if !ok || len(ms) == 0 || len(ms) > 15 || (len(ms) > 1 && ms[0] == '0') || len(random) != 16 {
		return time.Time{}, false
	}
	for _, c := range []byte(ms) {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
	}
	for _, c := range []byte(random) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return time.Time{}, false
		}
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// parseProbeHeader reads the X-Axprobe-Token value and the From: address out of a fetched
// header section. Either is "" when absent, repeated or unparsable; a token is also "" when
// it has characters newToken never uses.
func parseProbeHeader(b []byte) (token, from string) {
	if !bytes.HasSuffix(b, []byte("\n\n")) && !bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		b = append(bytes.Clone(b), "\r\n\r\n"...) // a section cut short, or one without its blank line
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return "", ""
	}
	if v := msg.Header[textproto.CanonicalMIMEHeaderKey(TokenHeader)]; len(v) == 1 {
		token = strings.TrimSpace(v[0])
		if len(token) > 64 || strings.Trim(token, "0123456789abcdefghijklmnopqrstuvwxyz-") != "" {
			token = "" // not something newToken makes
		}
	}
	if v := msg.Header["From"]; len(v) == 1 {
		if a, err := mail.ParseAddress(v[0]); err == nil {
			from = a.Address
		}
	}
	return token, from
}

// isEnhancedCode reports whether s is an RFC 3463 status code such as "2.0.0".
func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// queueID extracts the queue id from the text of the 250 reply to DATA: the word after
// "queued as" (Postfix, Sendmail, Exim's "id="), or else the whole text without its
// enhanced status code, shortened.
func queueID(status string) string {
	status = strings.TrimSpace(status)
	if code, rest, ok := strings.Cut(status, " "); ok && isEnhancedCode(code) {
		status = strings.TrimSpace(rest)
	}
	lower := strings.ToLower(status)
	for _, marker := range []string{"queued as ", "id="} {
		if i := strings.Index(lower, marker); i >= 0 {
			if f := strings.Fields(status[i+len(marker):]); len(f) > 0 {
				return truncate(strings.Trim(f[0], "<>()[].,;"))
			}
		}
	}
	return truncate(status)
}
