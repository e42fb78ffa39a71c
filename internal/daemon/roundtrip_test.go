package daemon

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/secret"
)

func TestResolveRoundTrip(t *testing.T) {
	rt := resolveTestdata(t, "valid-roundtrip.yaml").Checks[1]
	want := probe.Spec{Protocol: "roundtrip", Address: "10.0.0.5:25", TLS: probe.TLSStartTLS,
		Username: "axprobe-rt@example.com", Password: rt.Probe.Password, Mailbox: "INBOX",
		IMAPAddress: "10.0.0.5:993", IMAPTLS: probe.TLSImplicit,
		MailFrom: "axprobe@node1.example.com", MailTo: "axprobe-rt@example.com",
		Deadline: time.Minute, MaxMessages: 100}
	if !reflect.DeepEqual(rt.Probe, want) || rt.Probe.Password.Reveal() != "pw" {
		t.Errorf("probe spec\n got %+v\nwant %+v", rt.Probe, want)
	}
	if rt.Critical || rt.Interval != 5*time.Minute || rt.Timeout != 90*time.Second {
		t.Errorf("critical %v interval %s timeout %s; want false 5m 90s", rt.Critical, rt.Interval, rt.Timeout)
	}
	if rt.DegradedAfter >= 0 || rt.FastInterval != time.Minute {
		t.Errorf("degraded_after %s fast_interval %s; want never slow (< 0) and a fifth of 5m", rt.DegradedAfter, rt.FastInterval)
	}
}

// A check with a negative DegradedAfter (what config.Resolve gives a round trip, which
// waits for delivery by design) is never "slow" by the target's degraded_after, and a round
// trip's delivery latency and notes reach the snapshot.
func TestRoundTripEvidence(t *testing.T) {
	rt := probe.Spec{Protocol: "roundtrip", Address: "127.0.0.1:25", IMAPAddress: "127.0.0.1:143",
		Username: "probe", Password: secret.New("pw"), MailFrom: "a@example.test", MailTo: "b@example.test"}
	ts := handState(t, []CheckSpec{
		{Name: "smtp", Probe: probe.Spec{Protocol: "smtp", Address: "127.0.0.1:25"}, Weight: 1},
		{Name: "rt", Probe: rt, Weight: 1, DegradedAfter: -1},
	}, nil, time.Nanosecond) // every probe is slower than the target's degraded_after
	now := time.Now()
	ok := probe.NewTrace()
	ok.SetMeasure("delivery", 1500*time.Millisecond)
	ok.SetNote("queue_id", "4ABC")
	ok.Finish()
	ts.apply(result{check: "smtp", trace: ok, at: now})
	ts.apply(result{check: "rt", trace: ok, at: now})
	if got := ts.checks[0].Outcome; got != "degraded" {
		t.Errorf("smtp outcome %q, want degraded (slower than 1ns)", got)
	}
	c := ts.checks[1]
	if c.Outcome != "ok" || c.DeliverySeconds != 1.5 || len(c.Notes) != 1 || c.Notes[0].Value != "4ABC" {
		t.Errorf("round trip evidence: outcome %q, delivery %v s, notes %v; want ok, 1.5, [queue_id 4ABC]",
			c.Outcome, c.DeliverySeconds, c.Notes)
	}

	failed := trace("queued")
	ts.apply(result{check: "rt", trace: failed, at: now.Add(time.Minute),
		err: &probe.Error{Reason: probe.ReasonNotDelivered, Phase: "queued", Err: errors.New("lost")}})
	c = ts.checks[1]
	if c.Outcome != "failed" || c.Reason != "not_delivered" || c.DeliverySeconds != 1.5 || c.Notes != nil {
		t.Errorf("after a lost message: outcome %q reason %q delivery %v notes %v; want failed, not_delivered, the last 1.5, none",
			c.Outcome, c.Reason, c.DeliverySeconds, c.Notes)
	}
}

// tls_full_handshake_every reaches the check's probe spec with the target's
// cert_warn_before (a full handshake while the certificate is due); a check without it
// resumes nothing.
func TestResolveTLSResumption(t *testing.T) {
	cfg := loadTestdata(t, "valid-full.yaml")
	for _, c := range cfg.Resolve()[0].Checks {
		switch c.Name {
		case "imap":
			if c.Probe.TLSFullEvery != 10 || c.Probe.CertWarnBefore != cfg.Targets[0].CertWarnBefore || c.Probe.CertWarnBefore == 0 {
				t.Errorf("imap: full every %d, cert due within %s; want 10 and the target's %s", c.Probe.TLSFullEvery, c.Probe.CertWarnBefore, cfg.Targets[0].CertWarnBefore)
			}
		default:
			if c.Probe.TLSFullEvery != 0 {
				t.Errorf("%s resumes TLS sessions without tls_full_handshake_every", c.Name)
			}
		}
	}
}
