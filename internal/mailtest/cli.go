package mailtest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// CLI limits: line length and the failed logins after which Axigen closes the connection.
const (
	cliMaxLine     = 1024
	cliMaxAuthFail = 5
)

// StartCLI starts a fake Axigen CLI listener (the plain-text admin protocol of port 7000).
//
// Healthy: welcome text, then the prompt "<login> " (angle brackets and one space, no line
// end). Before login: HELP, GET VERSION ("<version>|Linux|x86_64", "+OK: command
// successful"), USER name (→ "<password> "), then the bare password (→ "+OK:
// Authentication successful" and "<#> ", or "-ERR: Authentication failed" and
// "<login> "; the 5th failure closes). Logged in: HELP, GET VERSION, ENTER QUEUE
// (→ "<queue#> ", where LIST shows an empty queue and BACK returns). EXIT or QUIT answers
// "+OK: have a nice day" and closes; anything else gets "-ERR: ..." and the prompt. Lines
// are at most 1024 bytes, each awaited at most opts.IdleTimeout. The CLI never offers TLS.
// Faults: wrong banner "220 mx.example.com ESMTP Postfix" (no prompt); reject banner
// "-ERR: Service not available"; reject auth: every password fails.
func StartCLI(opts Options) (*Server, error) {
	if opts.TLS != "" && opts.TLS != TLSNone {
		return nil, fmt.Errorf("tls %q: the Axigen CLI has no TLS", opts.TLS)
	}
	return newServer(opts, func(s *Server, _ net.Addr) (protocol, error) {
		return &cliProto{srv: s}, nil
	})
}

// CLIWelcome is the text the CLI fake sends before its first prompt.
const CLIWelcome = "Welcome to AXIGEN's Command Line Interface\r\nYou must login first.\r\n"

type cliProto struct{ srv *Server }

func (p *cliProto) greeting(*conn) []byte  { return []byte(CLIWelcome + "<login> ") }
func (p *cliProto) wrongGreeting() []byte  { return []byte("220 mx.example.com ESMTP Postfix\r\n") }
func (p *cliProto) rejectGreeting() []byte { return []byte("-ERR: Service not available\r\n") }
func (p *cliProto) close() error           { return nil }

func (p *cliProto) serve(c *conn) {
	s := p.srv
	cs := &cliSession{
		login:   func(user, password string) bool { return s.checkLogin(c.fault, user, password) },
		version: s.opts.Version,
	}
	if s.opts.Reporting != nil {
		cs.version = s.opts.Reporting.Version()
	}
	if err := runCLI(c, cs, s.opts.IdleTimeout); err != nil {
		s.log.Debug("mailtest: cli session", "addr", s.addr, "err", err)
	}
}

// runCLI runs cs on nc until EXIT, an error or the connection's end; nil after EXIT.
func runCLI(nc net.Conn, cs *cliSession, idle time.Duration) error {
	lc := newLineConn(nc, cliMaxLine, idle)
	for {
		line, err := lc.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				lc.write("-ERR: Line too long\r\n")
			}
			return err
		}
		reply, quit := cs.exec(line)
		if err := lc.write(reply); err != nil {
			return err
		}
		if quit {
			return nil
		}
	}
}

// cliState is where a CLI session stands; each state has its prompt.
type cliState int

const (
	cliLogin    cliState = iota // "<login> "
	cliPassword                 // "<password> ": the next line is the bare password
	cliRoot                     // "<#> "
	cliQueue                    // "<queue#> "
)

// cliSession is the CLI state machine, free of I/O: exec takes a line and returns the
// whole reply, prompt included, and whether to close after it.
type cliSession struct {
	login   func(user, password string) bool
	version string

	state    cliState
	user     string
	failures int
}

func (cs *cliSession) prompt() string {
	switch cs.state {
	case cliPassword:
		return "<password> "
	case cliRoot:
		return "<#> "
	case cliQueue:
		return "<queue#> "
	}
	return "<login> "
}

// parseCLI splits a line into its command words, upper-cased (at most two: "GET VERSION",
// "ENTER QUEUE", "USER"), and the argument that follows them, as typed.
func parseCLI(line string) (cmd, arg string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", ""
	}
	cmd = strings.ToUpper(fields[0])
	switch cmd {
	case "GET", "ENTER", "SET":
		if len(fields) > 1 {
			cmd += " " + strings.ToUpper(fields[1])
			fields = fields[1:]
		}
	}
	return cmd, strings.Join(fields[1:], " ")
}

func (cs *cliSession) exec(line string) (string, bool) {
	const ok = "+OK: command successful\r\n"
	if cs.state == cliPassword {
		user := cs.user
		cs.user = ""
		if cs.login(user, line) {
			cs.state = cliRoot
			return "+OK: Authentication successful\r\n" + cs.prompt(), false
		}
		cs.state = cliLogin
		cs.failures++
		if cs.failures >= cliMaxAuthFail {
			return "-ERR: Authentication failed\r\n", true
		}
		return "-ERR: Authentication failed\r\n" + cs.prompt(), false
	}

	cmd, arg := parseCLI(line)
	switch {
	case cmd == "":
		return cs.prompt(), false
	case cmd == "EXIT" || cmd == "QUIT":
		return "+OK: have a nice day\r\n", true
	case cmd == "HELP":
		return cs.help() + ok + cs.prompt(), false
	case cmd == "GET VERSION" && arg == "":
		return cs.version + "|Linux|x86_64\r\n" + ok + cs.prompt(), false
	case cmd == "USER" && cs.state == cliLogin:
		if arg == "" || strings.Contains(arg, " ") {
			return "-ERR: Invalid parameters\r\n" + cs.prompt(), false
		}
		cs.user, cs.state = arg, cliPassword
		return cs.prompt(), false
	case cmd == "ENTER QUEUE" && arg == "" && cs.state == cliRoot:
		cs.state = cliQueue
		return ok + cs.prompt(), false
	case cmd == "LIST" && arg == "" && cs.state == cliQueue:
		return "The queue is empty\r\n" + ok + cs.prompt(), false
	case cmd == "BACK" && arg == "" && cs.state == cliQueue:
		cs.state = cliRoot
		return ok + cs.prompt(), false
	}
	return "-ERR: Invalid command\r\n" + cs.prompt(), false
}

func (cs *cliSession) help() string {
	switch cs.state {
	case cliRoot:
		return "HELP\r\nGET VERSION\r\nENTER QUEUE\r\nEXIT\r\n"
	case cliQueue:
		return "HELP\r\nLIST\r\nBACK\r\nEXIT\r\n"
	}
	return "HELP\r\nGET VERSION\r\nUSER <name>\r\nEXIT\r\n"
}
