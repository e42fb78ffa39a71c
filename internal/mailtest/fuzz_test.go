package mailtest

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fuzzTimeout bounds one fuzz run of a whole session; a session that outlives it hangs.
const fuzzTimeout = 5 * time.Second

// runOverPipe feeds input to serve over an in-memory connection, reads every reply, and
// fails if serve does not return once the client has sent everything and hung up.
func runOverPipe(t *testing.T, input []byte, serve func(net.Conn) error) {
	server, client := net.Pipe()
	deadline := time.Now().Add(fuzzTimeout)
	server.SetDeadline(deadline)
	client.SetDeadline(deadline)
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(server)
		server.Close()
	}()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, client)
	}()
	client.Write(input) // stops early if the server hangs up
	client.Close()
	timer := time.NewTimer(2 * fuzzTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatal("session did not end after the client hung up")
	}
	<-drained
}

func FuzzPOP3(f *testing.F) {
	for _, seed := range []string{
		"CAPA\r\nUSER admin\r\nPASS adminpw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nQUIT\r\n",
		"USER admin\r\nPASS x\r\nPASS y\r\nUSER\r\nSTLS\r\nNOOP\r\n",
		"user admin\npass adminpw\nlist 1\nrset\n",
		strings.Repeat("A", 600) + "\r\n",
		"\x00\xff\r\n\r\n \r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		login := func(user, password string) bool { return user == "admin" && password == "adminpw" }

		// The state machine alone: every reply is one or more CRLF lines starting with a
		// status, and nothing after QUIT.
		ps := &pop3Session{login: login, stls: true}
		for _, line := range strings.Split(string(input), "\n") {
			reply, next := ps.exec(strings.TrimSuffix(line, "\r"))
			if !strings.HasPrefix(reply, "+OK") && !strings.HasPrefix(reply, "-ERR") {
				t.Fatalf("reply to %q has no status: %q", line, reply)
			}
			if !strings.HasSuffix(reply, "\r\n") {
				t.Fatalf("reply to %q is not CRLF-terminated: %q", line, reply)
			}
			if next == lineQuit {
				break
			}
			if next == lineStartTLS && ps.stls {
				t.Fatal("STLS still offered after it was used")
			}
		}

		// The whole connection loop, as a hostile client drives it.
		runOverPipe(t, input, func(nc net.Conn) error {
			return runPOP3(nc, &pop3Session{login: login}, nil, false, fuzzTimeout)
		})
	})
}

func FuzzCLI(f *testing.F) {
	for _, seed := range []string{
		"GET VERSION\r\nUSER admin\r\nadminpw\r\nENTER QUEUE\r\nLIST\r\nBACK\r\nHELP\r\nEXIT\r\n",
		"USER admin\r\nx\r\nUSER admin\r\ny\r\nUSER\r\nhelp\r\nget\r\n",
		"user a b\nenter queue\n\n   \nquit\n",
		strings.Repeat("x", 2000) + "\r\n",
		"\x00\xff\r\n\t\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		login := func(user, password string) bool { return user == "admin" && password == "adminpw" }

		// The state machine alone: every reply that does not close ends with a prompt.
		cs := &cliSession{login: login, version: "10.6.30"}
		prompts := []string{"<login> ", "<password> ", "<#> ", "<queue#> "}
		for _, line := range strings.Split(string(input), "\n") {
			reply, next := cs.exec(strings.TrimSuffix(line, "\r"))
			if next == lineQuit {
				if !strings.HasSuffix(reply, "\r\n") {
					t.Fatalf("closing reply to %q is not CRLF-terminated: %q", line, reply)
				}
				break
			}
			if !strings.HasSuffix(reply, cs.prompt()) {
				t.Fatalf("reply to %q does not end with the prompt %q: %q", line, cs.prompt(), reply)
			}
			ok := false
			for _, p := range prompts {
				ok = ok || cs.prompt() == p
			}
			if !ok {
				t.Fatalf("unknown prompt %q", cs.prompt())
			}
		}

		runOverPipe(t, input, func(nc net.Conn) error {
			return runCLI(nc, &cliSession{login: login, version: "10.6.30"}, fuzzTimeout)
		})
	})
}

func TestParsers(t *testing.T) {
	for _, tc := range []struct{ line, kw, arg string }{
		{"PASS a b c", "PASS", "a b c"},
		{"user x", "USER", "x"},
		{"QUIT", "QUIT", ""},
		{"", "", ""},
	} {
		if kw, arg := parsePOP3(tc.line); kw != tc.kw || arg != tc.arg {
			t.Errorf("parsePOP3(%q) = %q, %q; want %q, %q", tc.line, kw, arg, tc.kw, tc.arg)
		}
	}
	for _, tc := range []struct{ line, cmd, arg string }{
		{"get version", "GET VERSION", ""},
		{"  ENTER   queue  ", "ENTER QUEUE", ""},
		{"USER Admin", "USER", "Admin"},
		{"GET", "GET", ""},
		{"   ", "", ""},
	} {
		if cmd, arg := parseCLI(tc.line); cmd != tc.cmd || arg != tc.arg {
			t.Errorf("parseCLI(%q) = %q, %q; want %q, %q", tc.line, cmd, arg, tc.cmd, tc.arg)
		}
	}
}
