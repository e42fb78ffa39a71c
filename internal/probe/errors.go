package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Reason classifies why a probe failed. The set is closed: every value is listed in
// Reasons, so metrics can pre-create one series per reason.
type Reason string

// The closed set of failure reasons.
const (
	ReasonRefused    Reason = "refused"     // TCP connection refused or host unreachable
	ReasonTimeout    Reason = "timeout"     // the probe's deadline passed in some phase
	ReasonClosed     Reason = "closed"      // the peer closed or reset the connection mid-dialogue
	ReasonBadBanner  Reason = "bad_banner"  // greeting missing, negative (4xx/5xx, -ERR) or not matching
	ReasonTLS        Reason = "tls"         // TLS handshake failed, STARTTLS refused or not offered
	ReasonCert       Reason = "cert"        // certificate invalid, expired or for another name
	ReasonAuth       Reason = "auth"        // credentials rejected
	ReasonProtocol   Reason = "protocol"    // the server answered something the protocol does not allow
	ReasonHTTPStatus Reason = "http_status" // HTTP status or body not as expected
	ReasonLocal      Reason = "local"       // a local gate failed (VIP, process, storage)
	ReasonInternal   Reason = "internal"    // a bug or misconfiguration on our side

	// Round trip (protocol "roundtrip") only.
	ReasonSubmitRejected Reason = "submit_rejected" // the SMTP server refused the probe message (MAIL, RCPT or DATA)
	ReasonNotDelivered   Reason = "not_delivered"   // the message did not reach the probe mailbox within the deadline
	ReasonIMAPLogin      Reason = "imap_login"      // the probe mailbox's IMAP login was rejected
	ReasonCleanupFailed  Reason = "cleanup_failed"  // probe messages could not be removed, or the mailbox is over its limit

	// Metrics check (protocol "metrics") only.
	ReasonReportingOff  Reason = "reporting_off"  // /metrics answered 404 or an empty body: Axigen's Reporting service is off (or Axigen is older than 10.3.2)
	ReasonSeriesMissing Reason = "series_missing" // a configured series is not in the scrape
	ReasonThreshold     Reason = "threshold"      // a series (or its growth) is beyond its failed threshold
)

// Reasons returns every Reason, in a stable order.
func Reasons() []Reason {
	return []Reason{ReasonRefused, ReasonTimeout, ReasonClosed, ReasonBadBanner, ReasonTLS,
		ReasonCert, ReasonAuth, ReasonProtocol, ReasonHTTPStatus, ReasonLocal, ReasonInternal,
		ReasonSubmitRejected, ReasonNotDelivered, ReasonIMAPLogin, ReasonCleanupFailed,
		ReasonReportingOff, ReasonSeriesMissing, ReasonThreshold}
}

// Error is the error every prober returns: why (Reason), where (Phase) and after how long.
// Callers inspect it with errors.As, never by matching strings.
type Error struct {
	Reason  Reason
	Phase   string        // the phase the probe was in, e.g. "banner"
	Elapsed time.Duration // time since the probe started
	Code    int           // protocol reply code when there was one (SMTP 421, HTTP 503), else 0
	Err     error         // the underlying error, may be nil
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s in phase %s after %s", e.Reason, e.Phase, e.Elapsed.Round(time.Millisecond))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err: the Reason of a wrapped *Error, or a classification
// of the raw error. It returns "" for a nil error.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return classify(err)
}

// Fail builds an *Error with an explicit reason for the trace's current phase. Probers use it
// for protocol-level failures (a 421 banner, a rejected login).
func Fail(t *Trace, reason Reason, code int, err error) *Error {
	return &Error{Reason: reason, Phase: t.Current(), Elapsed: t.Elapsed(), Code: code, Err: err}
}

// Wrap turns any error from the network or a protocol library into an *Error for the trace's
// current phase, classifying it from its type. An *Error passes through unchanged, and the
// context's own error (deadline or cancellation) always classifies as timeout.
func Wrap(ctx context.Context, t *Trace, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	reason := classify(err)
	if ctx.Err() != nil {
		// The conn was closed because the context ended; whatever the library saw, the
		// truth is that we ran out of time.
		reason = ReasonTimeout
	}
	return &Error{Reason: reason, Phase: t.Current(), Elapsed: t.Elapsed(), Err: err}
}

// classify maps low-level errors onto reasons. Protocol libraries' typed errors are
// handled by each prober before it calls Wrap.
func classify(err error) Reason {
	var (
		certInvalid  x509.CertificateInvalidError
		hostname     x509.HostnameError
		unknownAuth  x509.UnknownAuthorityError
		verifyErr    *tls.CertificateVerificationError
		recordHeader tls.RecordHeaderError
		alert        tls.AlertError
		netErr       net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	case errors.As(err, &verifyErr), errors.As(err, &certInvalid), errors.As(err, &hostname), errors.As(err, &unknownAuth):
		return ReasonCert
	case errors.As(err, &recordHeader), errors.As(err, &alert):
		return ReasonTLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonRefused
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ReasonClosed
	case errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonTimeout
	}
	return ReasonProtocol
}
