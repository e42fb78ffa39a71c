package mailtest

import (
	"bytes"
	"fmt"
	"net"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// StartIMAP starts a fake Axigen IMAP listener on go-imap's imapserver and imapmemserver.
//
// Healthy: greeting exactly "* OK Axigen-<version> (Linux/x64) IMAP4rev1 service is ready"
// (no capability code, as Axigen); CAPABILITY, STARTTLS when opts.TLS is starttls, LOGIN
// for opts.Users (each has an empty INBOX), SELECT/EXAMINE, LOGOUT and the rest of
// IMAP4rev1 as imapmemserver serves it. Faults: wrong banner "* OK Dovecot ready."; reject
// banner "* BYE Axigen IMAP service not available"; reject auth
// "NO [AUTHENTICATIONFAILED] Authentication failed".
func StartIMAP(opts Options) (*Server, error) {
	return newServer(opts, func(s *Server, addr net.Addr) (protocol, error) {
		mem := imapmemserver.New()
		p := &imapProto{srv: s, ho: newHandoff(addr), users: make(map[string]*imapmemserver.User)}
		for login, password := range s.opts.Users {
			u := imapmemserver.NewUser(login, password)
			if err := u.Create("INBOX", nil); err != nil {
				return nil, fmt.Errorf("imap user %q: create INBOX: %w", login, err)
			}
			mem.AddUser(u)
			p.users[login] = u
		}
		o := &imapserver.Options{
			NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
				return &imapSession{Session: mem.NewSession(), fault: connFault(c.NetConn())}, nil, nil
			},
			InsecureAuth: true,
			Logger:       libLogger{s.log, "imap"},
		}
		if s.opts.TLS == TLSStartTLS {
			o.TLSConfig = s.opts.Cert.ServerTLSConfig()
		}
		p.lib = imapserver.New(o)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.lib.Serve(p.ho)
		}()
		return p, nil
	})
}

type imapProto struct {
	srv   *Server
	ho    *handoff
	lib   *imapserver.Server
	users map[string]*imapmemserver.User // by login; read-only after start (Deliver appends to them)
}

func (p *imapProto) greeting(*conn) []byte {
	return fmt.Appendf(nil, "* OK Axigen-%s (Linux/x64) IMAP4rev1 service is ready\r\n", p.srv.opts.Version)
}

func (p *imapProto) wrongGreeting() []byte { return []byte("* OK Dovecot ready.\r\n") }

func (p *imapProto) rejectGreeting() []byte {
	return []byte("* BYE Axigen IMAP service not available\r\n")
}

func (p *imapProto) serve(c *conn) {
	stall := c.fault == FaultStallTLS
	first := true
	p.ho.serve(c, newEditConn(c, func(line []byte) ([]byte, editNext) {
		switch {
		case first: // go-imap's greeting, with its capability code: the layer sent Axigen's
			first = false
			if !stall {
				return nil, passThrough
			}
			return nil, keepEditing
		case bytes.HasSuffix(line, []byte(" OK Begin TLS negotiation now\r\n")):
			return line, tlsStarts
		}
		return line, keepEditing
	}))
}

// close stops go-imap's Serve by closing the handoff; the connections are the layer's to
// close. imapserver.Server.Close is not used: its WaitGroup Wait races with Serve's Add
// when Close comes right after Serve starts (go-imap v2.0.0-beta.8).
func (p *imapProto) close() error {
	return p.ho.Close()
}

// imapSession is imapmemserver's session with logins refused under FaultRejectAuth.
type imapSession struct {
	imapserver.Session
	fault Fault
}

func (s *imapSession) Login(user, password string) error {
	if s.fault == FaultRejectAuth {
		return imapserver.ErrAuthFailed
	}
	return s.Session.Login(user, password)
}
