package mailtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// POP3 limits: RFC 2449 allows 255 octets per command; a little slack for sloppy clients.
// A client that fails to log in this many times is disconnected.
const (
	pop3MaxLine     = 512
	pop3MaxAuthFail = 5
)

// StartPOP3 starts a fake Axigen POP3 listener (in-tree, RFC 1939 subset).
//
// Healthy: greeting "+OK AXIGEN POP3 server on <host> ready <N.UNIXTIME@host>"; CAPA
// (USER, and STLS when opts.TLS is starttls), STLS, USER/PASS for opts.Users, NOOP, QUIT
// and, once logged in, an empty maildrop (STAT "+OK 0 0", LIST, UIDL, RSET). Lines are at
// most 512 bytes; every command is awaited at most opts.IdleTimeout; 5 failed logins close
// the connection. Faults: wrong banner "+OK Dovecot ready."; reject banner
// "-ERR Service not available"; reject auth "-ERR [AUTH] Authentication failed".
func StartPOP3(opts Options) (*Server, error) {
	return newServer(opts, func(s *Server, _ net.Addr) (protocol, error) {
		return &pop3Proto{srv: s}, nil
	})
}

type pop3Proto struct{ srv *Server }

func (p *pop3Proto) greeting(c *conn) []byte {
	host := p.srv.opts.Hostname
	return fmt.Appendf(nil, "+OK AXIGEN POP3 server on %s ready <%d.%d@%s>\r\n", host, c.id, time.Now().Unix(), host)
}

func (p *pop3Proto) wrongGreeting() []byte  { return []byte("+OK Dovecot ready.\r\n") }
func (p *pop3Proto) rejectGreeting() []byte { return []byte("-ERR Service not available\r\n") }
func (p *pop3Proto) close() error           { return nil }

func (p *pop3Proto) serve(c *conn) {
	s := p.srv
	ps := &pop3Session{
		login: func(user, password string) bool { return s.checkLogin(c.fault, user, password) },
		stls:  s.opts.TLS == TLSStartTLS,
	}
	var cfg *tls.Config
	if ps.stls {
		cfg = s.opts.Cert.ServerTLSConfig()
	}
	err := runPOP3(c, ps, cfg, c.fault == FaultStallTLS, s.opts.IdleTimeout)
	if err != nil {
		s.log.Debug("mailtest: pop3 session", "addr", s.addr, "err", err)
	}
}

// runPOP3 runs ps on nc until QUIT, an error or the connection's end. stall makes STLS
// answer +OK and then never complete the handshake. It returns the error that ended the
// session, nil after QUIT.
func runPOP3(nc net.Conn, ps *pop3Session, cfg *tls.Config, stall bool, idle time.Duration) error {
	lc := newLineConn(nc, pop3MaxLine, idle)
	for {
		line, err := lc.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				lc.write("-ERR Line too long\r\n")
			}
			return err
		}
		reply, next := ps.exec(line)
		if err := lc.write(reply); err != nil {
			return err
		}
		switch next {
		case pop3Quit:
			return nil
		case pop3StartTLS:
			if lc.buffered() {
				return fmt.Errorf("pop3: client sent data behind STLS")
			}
			if stall {
				drain(nc)
				return fmt.Errorf("pop3: STLS stalled by fault")
			}
			tc := tls.Server(nc, cfg)
			nc.SetDeadline(time.Now().Add(handshakeTimeout))
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("pop3: STLS handshake: %w", err)
			}
			nc.SetDeadline(time.Time{})
			nc = tc
			lc = newLineConn(nc, pop3MaxLine, idle)
		}
	}
}

// pop3Next says what the connection does after a reply.
type pop3Next int

const (
	pop3Continue pop3Next = iota
	pop3Quit              // close the connection
	pop3StartTLS          // run the TLS handshake, then read commands again
)

// pop3Session is the POP3 state machine, free of I/O: exec takes a command line and
// returns the full reply (CRLF included) and what to do next.
type pop3Session struct {
	login func(user, password string) bool
	stls  bool // STLS is still offered

	user     string
	haveUser bool
	authed   bool
	failures int
}

// parsePOP3 splits a command line into its keyword, upper-cased, and its argument (the
// rest of the line after the first space, which a password may contain).
func parsePOP3(line string) (keyword, arg string) {
	keyword, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(keyword), arg
}

func (ps *pop3Session) exec(line string) (string, pop3Next) {
	const (
		notNow  = "-ERR Command not permitted in this state\r\n"
		signOff = "+OK AXIGEN POP3 server signing off\r\n"
	)
	keyword, arg := parsePOP3(line)
	switch keyword {
	case "QUIT":
		return signOff, pop3Quit
	case "NOOP":
		return "+OK\r\n", pop3Continue
	case "CAPA":
		caps := "+OK Capability list follows\r\nUSER\r\n"
		if ps.stls && !ps.authed {
			caps += "STLS\r\n"
		}
		return caps + "IMPLEMENTATION AXIGEN\r\n.\r\n", pop3Continue
	}
	if ps.authed {
		switch keyword {
		case "STAT":
			return "+OK 0 0\r\n", pop3Continue
		case "LIST":
			if arg != "" {
				return "-ERR No such message\r\n", pop3Continue
			}
			return "+OK 0 messages (0 octets)\r\n.\r\n", pop3Continue
		case "UIDL":
			if arg != "" {
				return "-ERR No such message\r\n", pop3Continue
			}
			return "+OK\r\n.\r\n", pop3Continue
		case "RETR", "DELE", "TOP":
			return "-ERR No such message\r\n", pop3Continue
		case "RSET":
			return "+OK\r\n", pop3Continue
		case "USER", "PASS", "STLS":
			return notNow, pop3Continue
		}
		return "-ERR Unknown command\r\n", pop3Continue
	}
	switch keyword {
	case "STLS":
		if !ps.stls {
			return "-ERR STLS not available\r\n", pop3Continue
		}
		ps.stls = false
		ps.user, ps.haveUser = "", false
		return "+OK Begin TLS negotiation\r\n", pop3StartTLS
	case "USER":
		if arg == "" {
			return "-ERR Missing user name\r\n", pop3Continue
		}
		ps.user, ps.haveUser = arg, true
		return "+OK User accepted, send PASS\r\n", pop3Continue
	case "PASS":
		if !ps.haveUser {
			return "-ERR USER first\r\n", pop3Continue
		}
		user := ps.user
		ps.user, ps.haveUser = "", false
		if ps.login(user, arg) {
			ps.authed = true
			ps.stls = false
			return "+OK Mailbox locked and ready\r\n", pop3Continue
		}
		ps.failures++
		if ps.failures >= pop3MaxAuthFail {
			return "-ERR [AUTH] Authentication failed, closing\r\n", pop3Quit
		}
		return "-ERR [AUTH] Authentication failed\r\n", pop3Continue
	case "STAT", "LIST", "UIDL", "RETR", "DELE", "TOP", "RSET":
		return notNow, pop3Continue
	}
	return "-ERR Unknown command\r\n", pop3Continue
}
