package mailtest

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Limits of the SMTP fake: what one message may weigh and how many it keeps.
const (
	MaxMessageBytes = 1 << 20
	MaxMessagesKept = 100
)

// Message is one message the SMTP fake accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// StartSMTP starts a fake Axigen SMTP receiving listener on go-smtp.
//
// Healthy: greeting "220 <host> Axigen ESMTP ready"; EHLO's first line
// "250-<host> Axigen ESMTP hello" (after STARTTLS, go-smtp's own "250-Hello <client>");
// AUTH PLAIN and LOGIN for opts.Users; STARTTLS when opts.TLS is starttls; MAIL, RCPT and
// DATA accepted from anyone, the message kept for Messages. Faults: wrong banner
// "220 mx.example.com ESMTP Postfix"; reject banner "421 4.3.2 Service not available";
// reject auth "535 5.7.8 Authentication failed".
func StartSMTP(opts Options) (*Server, error) {
	return newServer(opts, func(s *Server, addr net.Addr) (protocol, error) {
		p := &smtpProto{srv: s, ho: newHandoff(addr)}
		lib := smtp.NewServer(smtp.BackendFunc(p.newSession))
		lib.Domain = s.opts.Hostname
		lib.AllowInsecureAuth = true
		lib.MaxMessageBytes = MaxMessageBytes
		lib.MaxRecipients = 100
		lib.ReadTimeout = s.opts.IdleTimeout
		lib.WriteTimeout = time.Minute
		lib.ErrorLog = libLogger{s.log, "smtp"}
		if s.opts.TLS == TLSStartTLS {
			lib.TLSConfig = s.opts.Cert.ServerTLSConfig()
		}
		p.lib = lib
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			lib.Serve(p.ho)
		}()
		return p, nil
	})
}

// Messages returns a copy of the messages the SMTP server accepted, oldest first; only the
// last MaxMessagesKept are kept. Other servers return nil.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages))
	for _, m := range s.messages {
		out = append(out, Message{From: m.From, To: slices.Clone(m.To), Data: bytes.Clone(m.Data)})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (s *Server) addMessage(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	if over := len(s.messages) - MaxMessagesKept; over > 0 {
		s.messages = slices.Delete(s.messages, 0, over)
	}
}

// loginFor is checkLogin for the connection c, as the in-tree sessions take it.
func (s *Server) loginFor(c *conn) func(user, password string) bool {
	return func(user, password string) bool { return s.checkLogin(c.fault, user, password) }
}

// checkLogin reports whether user may log in with password on a connection accepted
// under fault.
func (s *Server) checkLogin(fault Fault, user, password string) bool {
	if fault == FaultRejectAuth {
		return false
	}
	want, ok := s.opts.Users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
}

type smtpProto struct {
	srv *Server
	ho  *handoff
	lib *smtp.Server
}

func (p *smtpProto) greeting(*conn) []byte {
	return fmt.Appendf(nil, "220 %s Axigen ESMTP ready\r\n", p.srv.opts.Hostname)
}

func (p *smtpProto) wrongGreeting() []byte {
	return []byte("220 mx.example.com ESMTP Postfix\r\n")
}

func (p *smtpProto) rejectGreeting() []byte {
	return []byte("421 4.3.2 Service not available\r\n")
}

func (p *smtpProto) serve(c *conn) {
	p.ho.serve(c, newEditConn(c, p.editor()))
}

func (p *smtpProto) close() error {
	err := p.lib.Close()
	p.ho.Close() // in case Serve had not registered the handoff yet
	if err == smtp.ErrServerClosed {
		err = nil
	}
	return err
}

// editor drops go-smtp's greeting (the layer sent Axigen's), gives HELO/EHLO replies
// Axigen's text, and notices the reply that starts TLS.
func (p *smtpProto) editor() func([]byte) ([]byte, editNext) {
	host := p.srv.opts.Hostname
	first := true
	return func(line []byte) ([]byte, editNext) {
		switch {
		case first:
			first = false
			return nil, keepEditing
		case bytes.HasPrefix(line, []byte("250-Hello ")):
			return fmt.Appendf(nil, "250-%s Axigen ESMTP hello\r\n", host), keepEditing
		case bytes.HasPrefix(line, []byte("250 2.0.0 Hello ")):
			return fmt.Appendf(nil, "250 2.0.0 %s Axigen ESMTP hello\r\n", host), keepEditing
		case bytes.HasPrefix(line, []byte("220 ")):
			return line, tlsStarts
		}
		return line, keepEditing
	}
}

func (p *smtpProto) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: p.srv, fault: connFault(c.Conn())}, nil
}

// smtpSession accepts every envelope and keeps the message.
type smtpSession struct {
	srv   *Server
	fault Fault
	from  string
	to    []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return ss.login(user, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *smtpSession) login(user, password string) error {
	if !ss.srv.checkLogin(ss.fault, user, password) {
		return smtp.ErrAuthFailed
	}
	return nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r) // go-smtp stops the reader at MaxMessageBytes
	if err != nil {
		return err
	}
	m := Message{From: ss.from, To: ss.to, Data: data}
	if err := ss.srv.dataHook(m); err != nil {
		return err
	}
	ss.srv.addMessage(m)
	return nil
}

func (ss *smtpSession) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *smtpSession) Logout() error { return nil }

// loginServer is the server side of SASL LOGIN (which go-sasl no longer ships): it asks
// for the user name unless the client sent it as initial response, then the password.
type loginServer struct {
	check func(user, password string) error
	user  string
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch {
	case l.step == 0 && response == nil:
		l.step = 1
		return []byte("Username:"), false, nil
	case l.step <= 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(response))
}

// connFault finds the fault of the connection a library hands back, under any TLS or
// edit wrapper the library or the layer put around it.
func connFault(nc net.Conn) Fault {
	for range 4 {
		switch c := nc.(type) {
		case *conn:
			return c.fault
		case *editConn:
			return c.fault
		case *tls.Conn:
			nc = c.NetConn()
		default:
			return FaultNone
		}
	}
	return FaultNone
}

// libLogger sends a library's error log to slog at debug level.
type libLogger struct {
	log *slog.Logger
	lib string
}

func (l libLogger) Printf(format string, v ...any) {
	l.log.Debug("mailtest: "+l.lib, "msg", fmt.Sprintf(format, v...))
}

func (l libLogger) Println(v ...any) {
	l.log.Debug("mailtest: "+l.lib, "msg", fmt.Sprint(v...))
}
