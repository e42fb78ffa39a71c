package mailtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// deliveryPair starts an SMTP and an IMAP fake joined by a Delivery that routes
// probe@example.test to the IMAP user "probe".
func deliveryPair(t *testing.T) (*Server, *Delivery) {
	t.Helper()
	users := map[string]string{"probe": "pw"}
	smtpSrv := start(t, StartSMTP, Options{Users: users})
	imapSrv := start(t, StartIMAP, Options{Users: users})
	d, err := Deliver(smtpSrv, imapSrv, map[string]string{"Probe@Example.test": "probe"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return smtpSrv, d
}

// sendMail submits one message whose subject is subject to rcpt and returns the error of
// the transaction.
func sendMail(t *testing.T, addr, rcpt, subject string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := "From: sender@example.test\r\nSubject: " + subject + "\r\n\r\nhello\r\n"
	return c.SendMail("sender@example.test", []string{rcpt}, strings.NewReader(msg))
}

// bySubject counts the messages in probe's INBOX whose subject contains subject.
func bySubject(t *testing.T, d *Delivery, subject string) int {
	t.Helper()
	uids, err := d.Search("probe", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}})
	if err != nil {
		t.Fatal(err)
	}
	return len(uids)
}

func TestDeliveryFaults(t *testing.T) {
	tests := []struct {
		fault    DeliveryFault
		rcpt     string
		code     int // 0: accepted
		messages int // copies in the mailbox afterwards
	}{
		{DeliveryNormal, "probe@example.test", 0, 1},
		{DeliveryNormal, "PROBE@example.TEST", 0, 1}, // addresses match case-insensitively
		{DeliveryNormal, "nobody@example.test", 550, 0},
		{DeliveryLose, "probe@example.test", 0, 0},
		{DeliveryDuplicate, "probe@example.test", 0, 2},
		{DeliveryReject, "probe@example.test", 554, 0},
		{"bogus", "probe@example.test", 554, 0},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault)+"/"+tc.rcpt, func(t *testing.T) {
			smtpSrv, d := deliveryPair(t)
			d.SetFault(tc.fault)
			err := sendMail(t, smtpSrv.Addr(), tc.rcpt, "case")
			var se *smtp.SMTPError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("send: %v; want accepted", err)
			case tc.code != 0 && !(errors.As(err, &se) && se.Code == tc.code):
				t.Fatalf("send: %v; want SMTP error %d", err, tc.code)
			}
			// No delay: delivery is done before the 250 reply.
			if n := bySubject(t, d, "case"); n != tc.messages {
				t.Errorf("messages in the mailbox = %d, want %d", n, tc.messages)
			}
			if n := d.Delivered(); n != tc.messages {
				t.Errorf("Delivered() = %d, want %d", n, tc.messages)
			}
			if tc.code != 0 && len(smtpSrv.Messages()) != 0 {
				t.Errorf("a refused message was kept: %d", len(smtpSrv.Messages()))
			}
		})
	}
}

func TestDeliveryDelay(t *testing.T) {
	smtpSrv, d := deliveryPair(t)
	d.SetDelay(time.Hour)
	if err := sendMail(t, smtpSrv.Addr(), "probe@example.test", "late"); err != nil {
		t.Fatal(err)
	}
	if n := bySubject(t, d, "late"); n != 0 {
		t.Fatalf("a message delayed by an hour is in the mailbox at once (%d)", n)
	}
	d.Close() // drops the pending delivery; goleak checks its goroutine is gone
	if n := d.Delivered(); n != 0 {
		t.Errorf("Delivered() after Close = %d, want 0", n)
	}
	// After Close the server still accepts, and delivers nothing.
	if err := sendMail(t, smtpSrv.Addr(), "probe@example.test", "after"); err != nil {
		t.Fatal(err)
	}
	if n := bySubject(t, d, "after"); n != 0 {
		t.Errorf("delivered after Close: %d", n)
	}

	// A short delay delivers.
	smtpSrv, d = deliveryPair(t)
	d.SetDelay(time.Millisecond)
	if err := sendMail(t, smtpSrv.Addr(), "probe@example.test", "soon"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; d.Delivered() == 0; i++ {
		if time.Now().After(deadline) || i > 10000 {
			t.Fatal("a message delayed by 1ms was not delivered within 10s")
		}
		time.Sleep(time.Millisecond) // no signal to wait on: the delivery is the server's business
	}
	if n := bySubject(t, d, "soon"); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
}

func TestDeliveryAppendAndSearch(t *testing.T) {
	_, d := deliveryPair(t)
	uid, err := d.Append("probe", []byte("Subject: kept\r\n\r\nmine\r\n"), imap.FlagSeen)
	if err != nil {
		t.Fatal(err)
	}
	seen, err := d.Search("probe", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}})
	if err != nil || len(seen) != 1 || seen[0] != uid {
		t.Errorf("Search(\\Seen) = %v, %v; want [%d]", seen, err, uid)
	}
	if _, err := d.Append("nobody", []byte("x")); err == nil {
		t.Error("Append to an unknown user succeeded")
	}
	if _, err := d.Search("nobody", &imap.SearchCriteria{}); err == nil {
		t.Error("Search of an unknown user succeeded")
	}
}

func TestDeliverRejectsBadSetups(t *testing.T) {
	users := map[string]string{"probe": "pw"}
	smtpSrv := start(t, StartSMTP, Options{Users: users})
	imapSrv := start(t, StartIMAP, Options{Users: users})
	if _, err := Deliver(imapSrv, imapSrv, nil); err == nil {
		t.Error("Deliver from an IMAP server succeeded")
	}
	if _, err := Deliver(smtpSrv, smtpSrv, nil); err == nil {
		t.Error("Deliver into an SMTP server succeeded")
	}
	if _, err := Deliver(smtpSrv, imapSrv, map[string]string{"a@b": "nobody"}); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("Deliver to an unknown user: %v; want an error naming it", err)
	}
	d, err := Deliver(smtpSrv, imapSrv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Deliver(smtpSrv, imapSrv, nil); err == nil {
		t.Error("a second Deliver from the same SMTP server succeeded")
	}
}
