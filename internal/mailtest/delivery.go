package mailtest

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// DeliveryFault is a misbehaviour of the mail path between a fake SMTP server and a fake
// IMAP server, switchable at run time.
type DeliveryFault string

// The delivery faults.
const (
	DeliveryNormal    DeliveryFault = ""          // deliver every message once, after the delay
	DeliveryLose      DeliveryFault = "lose"      // answer 250 to DATA and never deliver
	DeliveryDuplicate DeliveryFault = "duplicate" // deliver every message twice
	DeliveryReject    DeliveryFault = "reject"    // refuse at the end of DATA: 554 5.7.1
)

// Delivery hands every message a fake SMTP server accepts to a fake IMAP server's
// mailboxes, as a mail server's queue would, so that a mail round trip can be tested in
// process. Its methods are safe for concurrent use.
type Delivery struct {
	smtp   *Server
	routes map[string]*imapmemserver.User // lower-cased recipient address → mailbox owner
	users  map[string]*imapmemserver.User // IMAP login → user
	quit   chan struct{}                  // closed by Close: pending deliveries are dropped
	wg     sync.WaitGroup                 // pending delayed deliveries

	mu        sync.Mutex
	delay     time.Duration
	fault     DeliveryFault
	delivered int
	closed    bool
}

// Deliver makes smtpSrv (from StartSMTP) deliver into imapSrv (from StartIMAP): a message
// for a recipient listed in routes (address → IMAP login, one of imapSrv's Users) is
// appended to that user's INBOX, after the delay SetDelay sets (none by default; with no
// delay the message is in the mailbox before the 250 reply to DATA). A message with a
// recipient not in routes is refused at the end of DATA with 550 5.1.1. Close undoes it.
func Deliver(smtpSrv, imapSrv *Server, routes map[string]string) (*Delivery, error) {
	if _, ok := smtpSrv.proto.(*smtpProto); !ok {
		return nil, fmt.Errorf("deliver: %s is not an SMTP server", smtpSrv.Addr())
	}
	ip, ok := imapSrv.proto.(*imapProto)
	if !ok {
		return nil, fmt.Errorf("deliver: %s is not an IMAP server", imapSrv.Addr())
	}
	d := &Delivery{smtp: smtpSrv, routes: make(map[string]*imapmemserver.User),
		users: maps.Clone(ip.users), quit: make(chan struct{})}
	for addr, login := range routes {
		u, ok := ip.users[login]
		if !ok {
			return nil, fmt.Errorf("deliver: route %s → %q: no such IMAP user", addr, login)
		}
		d.routes[strings.ToLower(addr)] = u
	}
	smtpSrv.mu.Lock()
	defer smtpSrv.mu.Unlock()
	if smtpSrv.onData != nil {
		return nil, fmt.Errorf("deliver: %s already delivers somewhere", smtpSrv.Addr())
	}
	smtpSrv.onData = d.accept
	return d, nil
}

// SetDelay sets how long each message accepted from now on waits before it is delivered.
func (d *Delivery) SetDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// SetFault switches the fault for messages accepted from now on.
func (d *Delivery) SetFault(f DeliveryFault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = f
}

// Delivered returns how many messages have been appended to mailboxes (a duplicate counts
// twice; Append does not count).
func (d *Delivery) Delivered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.delivered
}

// Append puts msg into login's INBOX directly, with flags, as if it had come another way:
// a person's mail, or a message an earlier run left behind. It returns the message's UID.
func (d *Delivery) Append(login string, msg []byte, flags ...imap.Flag) (imap.UID, error) {
	u, ok := d.users[login]
	if !ok {
		return 0, fmt.Errorf("append: no IMAP user %q", login)
	}
	data, err := u.Append("INBOX", bytes.NewReader(msg), &imap.AppendOptions{Flags: flags})
	if err != nil {
		return 0, fmt.Errorf("append to %s's INBOX: %w", login, err)
	}
	return data.UID, nil
}

// Search returns the UIDs of the messages in login's INBOX that match criteria, as UID
// SEARCH would answer an IMAP client.
func (d *Delivery) Search(login string, criteria *imap.SearchCriteria) ([]imap.UID, error) {
	u, ok := d.users[login]
	if !ok {
		return nil, fmt.Errorf("search: no IMAP user %q", login)
	}
	sess := imapmemserver.NewUserSession(u)
	defer sess.Close()
	if _, err := sess.Select("INBOX", nil); err != nil {
		return nil, fmt.Errorf("search %s's INBOX: %w", login, err)
	}
	data, err := sess.Search(imapserver.NumKindUID, criteria, &imap.SearchOptions{})
	if err != nil {
		return nil, fmt.Errorf("search %s's INBOX: %w", login, err)
	}
	return data.AllUIDs(), nil
}

// Close stops delivering: the SMTP server keeps accepting messages but delivers none, and
// deliveries still waiting for their delay are dropped. It returns once no delivery
// goroutine is left. Calling it again does nothing.
func (d *Delivery) Close() error {
	d.smtp.mu.Lock()
	d.smtp.onData = nil
	d.smtp.mu.Unlock()
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.quit)
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// accept is the SMTP server's end-of-DATA hook.
func (d *Delivery) accept(m Message) error {
	var owners []*imapmemserver.User
	for _, rcpt := range m.To {
		u, ok := d.routes[strings.ToLower(rcpt)]
		if !ok {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox: " + rcpt}
		}
		owners = append(owners, u)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	copies := 1
	switch d.fault {
	case DeliveryNormal:
	case DeliveryDuplicate:
		copies = 2
	case DeliveryLose:
		return nil
	case DeliveryReject:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected by policy"}
	default:
		return fmt.Errorf("delivery fault %q is not one of lose, duplicate, reject", d.fault)
	}
	if d.closed {
		return nil
	}
	for range copies {
		for _, u := range owners {
			if d.delay <= 0 {
				d.appendLocked(u, m.Data)
				continue
			}
			d.wg.Add(1)
			go d.later(u, m.Data, d.delay)
		}
	}
	return nil
}

// later delivers data to u after delay, unless Close comes first.
func (d *Delivery) later(u *imapmemserver.User, data []byte, delay time.Duration) {
	defer d.wg.Done()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.quit:
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.appendLocked(u, data)
	}
}

// appendLocked appends data to u's INBOX and counts it. Only a missing INBOX (a client
// deleted it) fails; such a message is lost, as a real server would bounce it.
func (d *Delivery) appendLocked(u *imapmemserver.User, data []byte) {
	if _, err := u.Append("INBOX", bytes.NewReader(data), &imap.AppendOptions{}); err == nil {
		d.delivered++
	}
}

// dataHook runs the end-of-DATA hook Deliver installed, if any.
func (s *Server) dataHook(m Message) error {
	s.mu.Lock()
	h := s.onData
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(m)
}
