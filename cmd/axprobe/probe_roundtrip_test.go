package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// roundTripURL starts a fake SMTP server delivering into a fake IMAP server and returns
// the roundtrip:// URL aimed at them, and the delivery to switch faults on.
func roundTripURL(t *testing.T) (string, *mailtest.Delivery) {
	t.Helper()
	users := map[string]string{probeTestUser: probeTestPassword}
	smtpSrv, err := mailtest.StartSMTP(mailtest.Options{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smtpSrv.Close() })
	imapSrv := startIMAPFake(t, mailtest.Options{})
	d, err := mailtest.Deliver(smtpSrv, imapSrv, map[string]string{probeTestUser: probeTestUser})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	q := url.Values{"imap": {imapSrv.Addr()}, "to": {probeTestUser}, "from": {"axprobe@node1.example.test"}}
	return "roundtrip://" + url.QueryEscape(probeTestUser) + "@" + smtpSrv.Addr() + "?" + q.Encode(), d
}

func TestProbeCommandRoundTrip(t *testing.T) {
	u, _ := roundTripURL(t)
	code, stdout, stderr := runProbeCommand(t, u, "--password-file", passwordFile(t, probeTestPassword))
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"roundtrip 127.0.0.1:", "→ imap 127.0.0.1:", "\nsubmit ", "\nqueued ", "\ndelivered ",
		"\ncleanup ", "\nDELIVERY ", "\nqueue_id  OK: queued\n", "\nOK "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, probeTestPassword) {
		t.Error("the password is in the output")
	}
}

func TestProbeCommandRoundTripLost(t *testing.T) {
	u, d := roundTripURL(t)
	d.SetFault(mailtest.DeliveryLose)
	code, stdout, stderr := runProbeCommand(t, u, "--password-file", passwordFile(t, probeTestPassword),
		"--deadline", "200ms", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var res probeResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Reason != "not_delivered" || res.Phase != "queued" || res.IMAP == "" || len(res.Notes) == 0 {
		t.Errorf("result %+v: want not_delivered in queued, with the IMAP address and the queue id", res)
	}
}

func TestProbeCommandRoundTripUsage(t *testing.T) {
	u, _ := roundTripURL(t)
	pw := passwordFile(t, probeTestPassword)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{u, "--password-file", pw, "--imap-tls", "maybe"}, `imap_tls: "maybe"`},
		{[]string{u, "--password-file", pw, "--deadline", "-1s"}, "deadline: -1s must not be negative"},
		{[]string{"imap://probe@127.0.0.1", "--password-file", pw, "--deadline", "1s"}, "deadline: means nothing to a imap probe"},
		{[]string{"roundtrip://probe@127.0.0.1?to=a@b.test", "--password-file", pw}, "needs ?imap="},
	} {
		code, _, stderr := runProbeCommand(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
