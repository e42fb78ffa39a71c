package mailtest

import (
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
	return startLines(opts, "cli", func(*Server, *conn) []byte { return []byte(CLIWelcome + "<login> ") },
		"220 mx.example.com ESMTP Postfix\r\n", "-ERR: Service not available\r\n", serveCLI)
}

// CLIWelcome is the text the CLI fake sends before its first prompt.
const CLIWelcome = "Welcome to AXIGEN's Command Line Interface\r\nYou must login first.\r\n"

func serveCLI(s *Server, c *conn) error {
	cs := &cliSession{login: s.loginFor(c), version: s.opts.Version}
	if s.opts.Reporting != nil {
		cs.version = s.opts.Reporting.Version()
	}
	return runCLI(c, cs, s.opts.IdleTimeout)
}

// runCLI runs cs on nc until EXIT, an error or the connection's end; nil after EXIT.
func runCLI(nc net.Conn, cs *cliSession, idle time.Duration) error {
	return serveLines(nc, cs.exec, cliMaxLine, idle, "-ERR: Line too long\r\n", nil)
}

// cliState is where a CLI session stands; each state has its prompt and its HELP.
type cliState int

const (
	cliLogin    cliState = iota
	cliPassword          // the next line is the bare password
	cliRoot
	cliQueue
)

// cliStates holds each state's prompt and the commands HELP lists in it (HELP is never
// reached in cliPassword, where every line is a password).
var cliStates = [...]struct{ prompt, help string }{
	cliLogin:    {"<login> ", "HELP\r\nGET VERSION\r\nUSER <name>\r\nEXIT\r\n"},
	cliPassword: {"<password> ", ""},
	cliRoot:     {"<#> ", "HELP\r\nGET VERSION\r\nENTER QUEUE\r\nEXIT\r\n"},
	cliQueue:    {"<queue#> ", "HELP\r\nLIST\r\nBACK\r\nEXIT\r\n"},
}

// cliSession is the CLI state machine, free of I/O: exec takes a line and returns the
// whole reply, prompt included, and whether to close after it (lineQuit).
type cliSession struct {
	login   func(user, password string) bool
	version string

	state    cliState
	user     string
	failures int
}

func (cs *cliSession) prompt() string { return cliStates[cs.state].prompt }

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

func (cs *cliSession) exec(line string) (string, lineNext) {
	const ok = "+OK: command successful\r\n"
	if cs.state == cliPassword {
		user := cs.user
		cs.user = ""
		if cs.login(user, line) {
			cs.state = cliRoot
			return "+OK: Authentication successful\r\n" + cs.prompt(), lineContinue
		}
		cs.state = cliLogin
		cs.failures++
		if cs.failures >= cliMaxAuthFail {
			return "-ERR: Authentication failed\r\n", lineQuit
		}
		return "-ERR: Authentication failed\r\n" + cs.prompt(), lineContinue
	}

	cmd, arg := parseCLI(line)
	switch {
	case cmd == "":
		return cs.prompt(), lineContinue
	case cmd == "EXIT" || cmd == "QUIT":
		return "+OK: have a nice day\r\n", lineQuit
	case cmd == "HELP":
		return cliStates[cs.state].help + ok + cs.prompt(), lineContinue
	case cmd == "GET VERSION" && arg == "":
		return cs.version + "|Linux|x86_64\r\n" + ok + cs.prompt(), lineContinue
	case cmd == "USER" && cs.state == cliLogin:
		if arg == "" || strings.Contains(arg, " ") {
			return "-ERR: Invalid parameters\r\n" + cs.prompt(), lineContinue
		}
		cs.user, cs.state = arg, cliPassword
		return cs.prompt(), lineContinue
	case cmd == "ENTER QUEUE" && arg == "" && cs.state == cliRoot:
		cs.state = cliQueue
		return ok + cs.prompt(), lineContinue
	case cmd == "LIST" && arg == "" && cs.state == cliQueue:
		return "The queue is empty\r\n" + ok + cs.prompt(), lineContinue
	case cmd == "BACK" && arg == "" && cs.state == cliQueue:
		cs.state = cliRoot
		return ok + cs.prompt(), lineContinue
	}
	return "-ERR: Invalid command\r\n" + cs.prompt(), lineContinue
}
