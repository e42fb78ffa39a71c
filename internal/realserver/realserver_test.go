package realserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/local"
)

func TestStartSkipsWithoutEnv(t *testing.T) {
	if os.Getenv(EnvVar) == "1" {
		t.Skip("this test checks the behaviour without " + EnvVar)
	}
	ran := false
	t.Run("gated", func(t *testing.T) {
		Start(t, Options{})
		ran = true // not reached: Start skips
	})
	if ran {
		t.Fatal("Start returned without " + EnvVar + "=1; want a skip")
	}
}

// TestServers checks what the probers' integration tests take for granted: every listener
// up with the right TLS, the WebMail stand-in's pages, SMTP AUTH only after STARTTLS, and
// mail submitted over SMTP readable over IMAP.
func TestServers(t *testing.T) {
	s := Start(t, Options{})
	tlsCfg := clientTLS(t, s.CAFile, "") // the name comes from the URL

	t.Run("banners", func(t *testing.T) {
		for _, c := range []struct {
			addr   string
			tls    bool
			prefix string
		}{
			{s.IMAP, false, "* OK [CAPABILITY IMAP4rev1"}, {s.IMAPS, true, "* OK "},
			{s.POP3, false, "+OK "}, {s.POP3S, true, "+OK "},
			{s.SMTP, false, "220 mail.example.test ESMTP"}, {s.SMTPS, true, "220 "},
		} {
			var cfg *tls.Config // plain
			if c.tls {
				cfg = clientTLS(t, s.CAFile, "127.0.0.1") // the IP SAN; readiness checked "localhost"
			}
			if err := lineReady(c.addr, cfg, "", c.prefix)(t.Context()); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("http", func(t *testing.T) {
		client := &http.Client{
			Transport:     &http.Transport{TLSClientConfig: tlsCfg},
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		defer client.CloseIdleConnections()
		for _, c := range []struct {
			url      string
			status   int
			location string
		}{
			{"http://" + s.HTTP + "/", 200, ""},
			{"https://" + s.HTTPS + "/", 200, ""},
			{"http://" + s.HTTP + PathDown, 503, ""},
			{"https://" + s.HTTPS + PathRedirect, 302, "https://" + s.HTTPS + "/"},
		} {
			resp, err := client.Get(c.url)
			if err != nil {
				t.Errorf("GET %s: %v", c.url, err)
				continue
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("GET %s: status %d, want %d", c.url, resp.StatusCode, c.status)
			}
			if got := resp.Header.Get(HeaderName); got != HeaderValue {
				t.Errorf("GET %s: %s: %q, want %q", c.url, HeaderName, got, HeaderValue)
			}
			if got := resp.Header.Get("Location"); got != c.location {
				t.Errorf("GET %s: Location %q, want %q", c.url, got, c.location)
			}
			if c.status == 200 && !strings.Contains(string(body), "<title>"+PageTitle+"</title>") {
				t.Errorf("GET %s: body %q lacks the title %q", c.url, body, PageTitle)
			}
		}
	})

	t.Run("smtp AUTH only inside TLS", func(t *testing.T) {
		ehlo := smtpEHLO(t, s.SMTP)
		if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
			t.Errorf("EHLO before STARTTLS = %q; want STARTTLS offered and no AUTH", ehlo)
		}
	})

	t.Run("imap wrong password", func(t *testing.T) {
		c := dialIMAP(t, s.IMAP)
		if got := c.cmd(t, "LOGIN "+s.User+" wrong-"+s.Password.Reveal()); !strings.HasPrefix(got, "NO ") {
			t.Errorf("LOGIN with a wrong password: %q, want NO", got)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		swaks := lookSwaks(t)
		for _, tc := range []struct{ name, addr, mode string }{
			{"starttls", s.SMTP, "--tls"},
			{"implicit tls", s.SMTPS, "--tls-on-connect"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				token := "axprobe-" + rand.Text()
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, swaks, "--server", tc.addr, tc.mode,
					"--tls-verify", "--tls-ca-path", s.CAFile,
					"--auth", "PLAIN", "--auth-user", s.User, "--auth-password", s.Password.Reveal(),
					"--from", "sender@example.test", "--to", s.Mailbox,
					"--header", "Subject: "+token, "--body", "round trip "+token, "--timeout", "10")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("swaks via %s: %v\n%s", tc.addr, err, out)
				}
				waitForMessage(t, s, token)
			})
		}
	})
}

// TestStopLeavesNothing checks that Stop kills and reaps every process of every server,
// paused ones included, and that Kill takes a server down as a crash would.
func TestStopLeavesNothing(t *testing.T) {
	s := Start(t, Options{})
	procs := []*Process{s.Dovecot, s.Postfix, s.Nginx}
	for _, p := range procs {
		pids, err := p.Processes()
		if err != nil || len(pids) < 2 {
			t.Fatalf("%s: processes %v, %v; want a master and at least one child", p.Name, pids, err)
		}
	}

	if err := s.Dovecot.Pause(); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, s.Dovecot)

	if err := s.Nginx.Kill(killTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", s.HTTP, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial nginx after Kill: %v; want connection refused", err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if left := mustProcesses(t, p); len(left) != 0 {
			t.Errorf("%s: processes %v left after Stop", p.Name, left)
		}
		if pgrep, err := exec.LookPath("pgrep"); err == nil {
			out, err := exec.Command(pgrep, "-s", fmt.Sprint(p.Pgid())).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("pgrep -s %d after Stop: %v %s; want nothing found", p.Pgid(), err, out)
			}
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func mustProcesses(t *testing.T, p *Process) []int {
	t.Helper()
	pids, err := p.Processes()
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitStopped waits until every process of p is stopped (state T): a signal is delivered
// asynchronously, so a process may still be running just after Pause returns.
func waitStopped(t *testing.T, p *Process) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var running []int
		for _, pid := range mustProcesses(t, p) {
			if st := stateOf(t, pid); st != 'T' && st != 'Z' {
				running = append(running, pid)
			}
		}
		if len(running) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: pids %v still not stopped 5s after Pause", p.Name, running)
		}
		time.Sleep(5 * time.Millisecond) // no notification for another process's state change
	}
}

func stateOf(t *testing.T, pid int) byte {
	t.Helper()
	st, err := local.ReadProcStat(pid)
	if err != nil {
		if strings.HasSuffix(err.Error(), "is not running") {
			return 'Z' // gone since listed
		}
		t.Fatal(err)
	}
	return st.State
}

// clientTLS trusts only caFile and verifies the server for serverName.
func clientTLS(t *testing.T, caFile, serverName string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", caFile)
	}
	return &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

func lookSwaks(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("swaks")
	if err != nil {
		t.Fatalf("swaks not installed: run scripts/install-test-deps.sh as root: %v", err)
	}
	return p
}

// dialText connects to the line-based server at addr (within 5 s) for the rest of the
// test, every read and write bounded to within d from now, and returns the conn and a
// reader over it.
func dialText(t *testing.T, addr string, d time.Duration) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(d))
	return conn, bufio.NewReader(conn)
}

// smtpEHLO returns the EHLO answer of the server at addr, plain text.
func smtpEHLO(t *testing.T, addr string) string {
	t.Helper()
	conn, r := dialText(t, addr, 10*time.Second)
	readReply := func() string {
		var b strings.Builder
		for range 100 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("SMTP read: %v (so far %q)", err, b.String())
			}
			b.WriteString(line)
			if len(line) < 4 || line[3] != '-' {
				return b.String()
			}
		}
		t.Fatalf("SMTP reply longer than 100 lines: %q", b.String())
		return ""
	}
	readReply()
	fmt.Fprintf(conn, "EHLO test.example\r\n")
	reply := readReply()
	fmt.Fprintf(conn, "QUIT\r\n")
	return reply
}

// imapConn is just enough IMAP to check a mailbox: tagged commands, untagged lines kept.
type imapConn struct {
	conn     net.Conn
	r        *bufio.Reader
	tag      int
	untagged []string // untagged lines of the last command
}

func dialIMAP(t *testing.T, addr string) *imapConn {
	t.Helper()
	conn, r := dialText(t, addr, 30*time.Second)
	c := &imapConn{conn: conn, r: r}
	if line, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP greeting %q, %v", line, err)
	}
	return c
}

// cmd sends one command and returns the tagged completion without the tag ("OK ...").
func (c *imapConn) cmd(t *testing.T, command string) string {
	t.Helper()
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, command); err != nil {
		t.Fatal(err)
	}
	c.untagged = c.untagged[:0]
	for range 1000 {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAP %s: %v", strings.Fields(command)[0], err)
		}
		line = strings.TrimRight(line, "\r\n")
		if rest, ok := strings.CutPrefix(line, tag+" "); ok {
			return rest
		}
		c.untagged = append(c.untagged, line)
	}
	t.Fatalf("IMAP %s: no completion in 1000 lines", strings.Fields(command)[0])
	return ""
}

// waitForMessage waits until a message whose subject contains token is in the test
// mailbox, seen over IMAP. Postfix delivers asynchronously, so it polls, boundedly.
func waitForMessage(t *testing.T, s *Servers, token string) {
	t.Helper()
	c := dialIMAP(t, s.IMAP)
	if got := c.cmd(t, "LOGIN "+s.User+" "+s.Password.Reveal()); !strings.HasPrefix(got, "OK") {
		t.Fatalf("LOGIN: %q", got)
	}
	if got := c.cmd(t, "SELECT INBOX"); !strings.HasPrefix(got, "OK") {
		t.Fatalf("SELECT INBOX: %q", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.cmd(t, `SEARCH SUBJECT "`+token+`"`); !strings.HasPrefix(got, "OK") {
			t.Fatalf("SEARCH: %q", got)
		}
		for _, line := range c.untagged {
			if strings.HasPrefix(line, "* SEARCH ") {
				return // "* SEARCH" alone means none
			}
		}
		time.Sleep(50 * time.Millisecond) // Postfix gives no signal when it has delivered
	}
	t.Fatalf("no message with subject %q in %s after 20s", token, s.Mailbox)
}

// BenchmarkStartStop measures how long the harness takes to bring every server up (all
// listeners answering) and to take them down again.
//
//	AXPROBE_INTEGRATION=1 go test -run '^$' -bench StartStop -benchtime 5x ./internal/realserver
func BenchmarkStartStop(b *testing.B) {
	for b.Loop() {
		s := Start(b, Options{})
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
