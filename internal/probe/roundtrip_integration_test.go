package probe

// Integration tests of the mail round trip: real Postfix delivering into real Dovecot's
// Maildir (internal/realserver). They skip unless AXPROBE_INTEGRATION=1:
//
//	sudo scripts/install-test-deps.sh
//	AXPROBE_INTEGRATION=1 go test -race -run TestRealRoundTrip -v ./internal/probe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/realserver"
)

// realRoundTripSpec aims a round trip at s: submission on Postfix's STARTTLS port with
// AUTH, the mailbox over Dovecot's STARTTLS IMAP port.
func realRoundTripSpec(s *realserver.Servers) Spec {
	return Spec{Protocol: "roundtrip", Address: s.SMTP, TLS: TLSStartTLS, CAFile: s.CAFile,
		IMAPAddress: s.IMAP, IMAPTLS: TLSStartTLS, Username: s.User, Password: s.Password,
		MailFrom: rtFrom, MailTo: s.Mailbox, Deadline: 20 * time.Second}
}

// realRun runs spec's round trip once, with noIdle as given.
func realRun(t *testing.T, spec Spec, noIdle bool) (*Trace, error) {
	t.Helper()
	p, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	p.(*roundTripProber).noIdle = noIdle
	return Run(context.Background(), p, spec.Deadline+10*time.Second)
}

// dropMail writes a message straight into the Maildir's new/, as a delivery agent would,
// owned by the mailbox's uid.
func dropMail(t *testing.T, s *realserver.Servers, name, from, token, subject string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: " + s.Mailbox + "\r\nSubject: " + subject + "\r\n"
	if token != "" {
		msg += TokenHeader + ": " + token + "\r\n"
	}
	msg += "\r\nbody\r\n"
	path := filepath.Join(s.Maildir, "new", name)
	if err := os.WriteFile(path, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, realserver.VmailUID, realserver.VmailUID); err != nil {
		t.Fatal(err)
	}
}

// maildirSubjects returns the subjects of every message in the Maildir (new/ and cur/).
func maildirSubjects(t *testing.T, s *realserver.Servers) []string {
	t.Helper()
	var subjects []string
	for _, dir := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.Maildir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(s.Maildir, dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for line := range strings.SplitSeq(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Subject: "); ok {
					subjects = append(subjects, strings.TrimSpace(v))
					break
				}
			}
		}
	}
	slices.Sort(subjects)
	return subjects
}

func TestRealRoundTrip(t *testing.T) {
	s := realserver.Start(t, realserver.Options{Services: realserver.Postfix})
	spec := realRoundTripSpec(s)
	dropMail(t, s, "1000.personal.test", "alice@example.test", "", "personal")

	// Stale probe messages a crashed run left behind, and mail that is not to be touched.
	old := time.Now().Add(-2 * spec.Deadline)
	dropMail(t, s, "1001.stale1.test", rtFrom, formatToken(old, "00112233445566aa"), "stale 1")
	dropMail(t, s, "1002.stale2.test", rtFrom, formatToken(old, "00112233445566bb"), "stale 2")
	dropMail(t, s, "1003.othernode.test", "axprobe@node2.example.test", formatToken(old, "00112233445566cc"), "other node")
	dropMail(t, s, "1004.inflight.test", rtFrom, formatToken(time.Now(), "00112233445566dd"), "in flight")

	var latencies []time.Duration
	for i, noIdle := range []bool{false, false, false, true, true} {
		tr, err := realRun(t, spec, noIdle)
		phases := wantOK(t, tr, err)
		if !slices.Contains(phases, "delivered") || phases[len(phases)-1] != "logout" {
			t.Errorf("run %d: phases %v", i, phases)
		}
		d, ok := tr.Measure("delivery")
		if !ok || d <= 0 {
			t.Fatalf("run %d: delivery measure %s, %v", i, d, ok)
		}
		latencies = append(latencies, d)
		id := note(tr, "queue_id")
		if id == "" || strings.Contains(id, " ") {
			t.Errorf("run %d: queue_id %q is not Postfix's queue id", i, id)
		}
		if i == 0 {
			if got := note(tr, "stale_removed"); got != "2" {
				t.Errorf("stale_removed = %q, want 2", got)
			}
		}
		mode := "idle"
		if noIdle {
			mode = "polling"
		}
		t.Logf("run %d (%s): delivery %s, whole round trip %s, queued as %s", i, mode,
			d.Round(time.Millisecond), tr.Elapsed().Round(time.Millisecond), id)
	}
	slices.Sort(latencies)
	t.Logf("Postfix → Dovecot delivery latency over %d round trips: min %s, median %s, max %s",
		len(latencies), latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond),
		latencies[len(latencies)-1].Round(time.Millisecond))

	want := []string{"in flight", "other node", "personal"}
	if got := maildirSubjects(t, s); !slices.Equal(got, want) {
		t.Errorf("messages left in the Maildir: %q, want %q", got, want)
	}
}

func TestRealRoundTripPostfixDown(t *testing.T) {
	s := realserver.Start(t, realserver.Options{Services: realserver.Postfix})
	spec := realRoundTripSpec(s)
	spec.Deadline = 3 * time.Second
	dropMail(t, s, "1000.personal.test", "alice@example.test", "", "personal")
	if err := s.Postfix.Kill(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// With every Postfix process gone nothing listens on the SMTP port: the round trip
	// fails at the submission's connect, before any message exists, and well within the
	// deadline.
	start := time.Now()
	tr, err := realRun(t, spec, false)
	wantFail(t, err, ReasonRefused, "connect")
	phases := phaseNames(tr)
	if !slices.Contains(phases, "login") || slices.Contains(phases, "submit") {
		t.Errorf("phases %v: want the IMAP side done and no submit", phases)
	}
	if elapsed := time.Since(start); elapsed > spec.Deadline {
		t.Errorf("failed after %s, beyond the %s deadline", elapsed, spec.Deadline)
	}
	if got := maildirSubjects(t, s); !slices.Equal(got, []string{"personal"}) {
		t.Errorf("Maildir holds %q, want only the personal message", got)
	}
}
