package mailtest

import (
	"crypto/tls"
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
	return startLines(opts, "pop3", greetPOP3, "+OK Dovecot ready.\r\n", "-ERR Service not available\r\n", servePOP3)
}

func greetPOP3(s *Server, c *conn) []byte {
	host := s.opts.Hostname
	return fmt.Appendf(nil, "+OK AXIGEN POP3 server on %s ready <%d.%d@%s>\r\n", host, c.id, time.Now().Unix(), host)
}

func servePOP3(s *Server, c *conn) error {
	ps := &pop3Session{login: s.loginFor(c), stls: s.opts.TLS == TLSStartTLS}
	var cfg *tls.Config
	if ps.stls {
		cfg = s.opts.Cert.ServerTLSConfig()
	}
	return runPOP3(c, ps, cfg, c.fault == FaultStallTLS, s.opts.IdleTimeout)
}

// runPOP3 runs ps on nc until QUIT, an error or the connection's end. stall makes STLS
// answer +OK and then never complete the handshake. It returns the error that ended the
// session, nil after QUIT.
func runPOP3(nc net.Conn, ps *pop3Session, cfg *tls.Config, stall bool, idle time.Duration) error {
	return serveLines(nc, ps.exec, pop3MaxLine, idle, "-ERR Line too long\r\n", func(nc net.Conn, pipelined bool) (net.Conn, error) {
		if pipelined {
			return nil, fmt.Errorf("pop3: client sent data behind STLS")
		}
		if stall {
			drain(nc)
			return nil, fmt.Errorf("pop3: STLS stalled by fault")
		}
		tc, err := serverTLS(nc, cfg)
		if err != nil {
			return nil, fmt.Errorf("pop3: STLS handshake: %w", err)
		}
		return tc, nil
	})
}

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

func (ps *pop3Session) exec(line string) (string, lineNext) {
	const (
		notNow  = "-ERR Command not permitted in this state\r\n"
		signOff = "+OK AXIGEN POP3 server signing off\r\n"
	)
	keyword, arg := parsePOP3(line)
	switch keyword {
	case "QUIT":
		return signOff, lineQuit
	case "NOOP":
		return "+OK\r\n", lineContinue
	case "CAPA":
		caps := "+OK Capability list follows\r\nUSER\r\n"
		if ps.stls && !ps.authed {
			caps += "STLS\r\n"
		}
		return caps + "IMPLEMENTATION AXIGEN\r\n.\r\n", lineContinue
	}
	if ps.authed {
		switch keyword {
		case "STAT":
			return "+OK 0 0\r\n", lineContinue
		case "LIST":
			if arg != "" {
				return "-ERR No such message\r\n", lineContinue
			}
			return "+OK 0 messages (0 octets)\r\n.\r\n", lineContinue
		case "UIDL":
			if arg != "" {
				return "-ERR No such message\r\n", lineContinue
			}
			return "+OK\r\n.\r\n", lineContinue
		case "RETR", "DELE", "TOP":
			return "-ERR No such message\r\n", lineContinue
		case "RSET":
			return "+OK\r\n", lineContinue
		case "USER", "PASS", "STLS":
			return notNow, lineContinue
		}
		return "-ERR Unknown command\r\n", lineContinue
	}
	switch keyword {
	case "STLS":
		if !ps.stls {
			return "-ERR STLS not available\r\n", lineContinue
		}
		ps.stls = false
		ps.user, ps.haveUser = "", false
		return "+OK Begin TLS negotiation\r\n", lineStartTLS
	case "USER":
		if arg == "" {
			return "-ERR Missing user name\r\n", lineContinue
		}
		ps.user, ps.haveUser = arg, true
		return "+OK User accepted, send PASS\r\n", lineContinue
	case "PASS":
		if !ps.haveUser {
			return "-ERR USER first\r\n", lineContinue
		}
		user := ps.user
		ps.user, ps.haveUser = "", false
		if ps.login(user, arg) {
			ps.authed = true
			ps.stls = false
			return "+OK Mailbox locked and ready\r\n", lineContinue
		}
		ps.failures++
		if ps.failures >= pop3MaxAuthFail {
			return "-ERR [AUTH] Authentication failed, closing\r\n", lineQuit
		}
		return "-ERR [AUTH] Authentication failed\r\n", lineContinue
	case "STAT", "LIST", "UIDL", "RETR", "DELE", "TOP", "RSET":
		return notNow, lineContinue
	}
	return "-ERR Unknown command\r\n", lineContinue
}
