package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/testfile"
)

func TestRoundTripDefaults(t *testing.T) {
	c, err := Load("testdata/valid-roundtrip.yaml", testEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Targets[0].Checks[1]
	want := Check{Name: "roundtrip", Protocol: "roundtrip", Host: "10.0.0.5", Port: 25, TLS: "starttls",
		Weight: 1, Critical: false, Auth: got.Auth, Mailbox: "INBOX",
		Interval: 5 * time.Minute, Timeout: 90 * time.Second,
		IMAPHost: "10.0.0.5", IMAPPort: 993, IMAPTLS: "implicit",
		MailFrom: "axprobe@node1.example.com", MailTo: "axprobe-rt@example.com",
		Deadline: time.Minute, MaxMessages: 100}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip check\n got %+v\nwant %+v", got, want)
	}
	if smtp := c.Targets[0].Checks[0]; smtp.Interval != 10*time.Second || smtp.IMAPPort != 0 || smtp.Deadline != 0 {
		t.Errorf("the smtp check took round-trip defaults: %+v", smtp)
	}
}

func TestRoundTripTimeoutFollowsDeadline(t *testing.T) {
	for _, tc := range []struct {
		extra   string
		timeout time.Duration
		imap    string
		port    int
	}{
		{"deadline: 2m", 150 * time.Second, "10.0.0.5", 143},
		{"deadline: 2m, timeout: 3m", 3 * time.Minute, "10.0.0.5", 143},
		{"host: mx.example.com, imap_tls: starttls", 90 * time.Second, "mx.example.com", 143},
		{"imap_host: 10.0.0.6, imap_port: 1143", 90 * time.Second, "10.0.0.6", 1143},
	} {
		yml := "targets: [{name: t, vip: 10.0.0.5, checks: [{name: rt, protocol: roundtrip, " +
			"mail_from: a@example.com, mail_to: b@example.com, " +
			"auth: {username: b, password_env: AXPROBE_TEST_PASSWORD}, " + tc.extra + "}]}]\n"
		c, err := Load(testfile.Write(t, "c.yaml", yml), testEnv(), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.extra, err)
			continue
		}
		ck := c.Targets[0].Checks[0]
		if ck.Timeout != tc.timeout || ck.IMAPHost != tc.imap || ck.IMAPPort != tc.port {
			t.Errorf("%s: timeout %s, imap %s:%d; want %s, %s:%d", tc.extra, ck.Timeout, ck.IMAPHost, ck.IMAPPort,
				tc.timeout, tc.imap, tc.port)
		}
		assertRoundTrip(t, c, testEnv())
	}
}
