package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// Timing is a target's schedule and scoring: what detection latency depends on.
type Timing struct {
	Name          string
	Interval      time.Duration
	FastInterval  time.Duration
	Timeout       time.Duration
	DegradedAfter time.Duration
	Rise, Fall    int
}

// String states the timing the way docs/BENCHMARKS.md shows it.
func (t Timing) String() string {
	return fmt.Sprintf("interval %s, fast_interval %s, timeout %s, degraded_after %s, rise %d, fall %d",
		t.Interval, t.FastInterval, t.Timeout, t.DegradedAfter, t.Rise, t.Fall)
}

// timings are the configurations detect measures, by name. "default" is the shipped default
// (internal/config/defaults.go, internal/score); "aggressive" is what a site wanting
// failover within seconds would set.
func timings() map[string]Timing {
	return map[string]Timing{
		"default":    {"default", 10 * time.Second, time.Second, 3 * time.Second, time.Second, 2, 7},
		"aggressive": {"aggressive", time.Second, 200 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond, 2, 3},
	}
}

// fakeUser and fakePassword log in to the fake Axigen.
const fakeUser, fakePassword = "probe", "bench-password"

// fakeConfig is an axprobe config for Targets targets, each with the six checks of a
// standard Axigen node (SMTP, IMAP and POP3 with STARTTLS and login, WebMail, WebAdmin, the
// CLI), all pointed at one fake Axigen.
type fakeConfig struct {
	Dir           string // socket, password file
	Listen        string // http.listen; "" turns the web side off
	Targets       int
	MaxConcurrent int
	Timing        Timing
	Axigen        *mailtest.Axigen
	Only          string // when set, each target has only this one of the six checks
}

var fakeConfigTemplate = template.Must(template.New("cfg").Parse(`# Written by axbench.
socket: {{.Dir}}/axprobe.sock
http: { listen: "{{.Listen}}" }
log: { level: warn }
max_concurrent_probes: {{.MaxConcurrent}}
targets:
{{- range .Names}}
  - name: {{.}}
    vip: 127.0.0.1
    interval: {{$.T.Interval}}
    fast_interval: {{$.T.FastInterval}}
    timeout: {{$.T.Timeout}}
    degraded_after: {{$.T.DegradedAfter}}
    rise: {{$.T.Rise}}
    fall: {{$.T.Fall}}
    checks:
{{- if $.Only}}
      - {{index $.Lines $.Only}}
{{- else}}
      - { name: smtp, protocol: smtp, port: {{$.SMTP}}, weight: 3, tls: starttls, ca_file: {{$.CA}}, auth: { username: {{$.User}}, password_file: {{$.PW}} } }
      - { name: imap, protocol: imap, port: {{$.IMAP}}, weight: 3, tls: starttls, ca_file: {{$.CA}}, auth: { username: {{$.User}}, password_file: {{$.PW}} } }
      - { name: pop3, protocol: pop3, port: {{$.POP3}}, weight: 2, tls: starttls, ca_file: {{$.CA}}, auth: { username: {{$.User}}, password_file: {{$.PW}} } }
      - { name: webmail, protocol: http, port: {{$.WebMail}} }
      - { name: webadmin, protocol: http, port: {{$.WebAdmin}}, weight: 0.5 }
      - { name: cli, protocol: cli, port: {{$.CLI}}, weight: 0.5 }
{{- end}}
{{- end}}
`))

// checksPerFakeTarget is how many network checks each target of fakeConfig has.
const checksPerFakeTarget = 6

// write writes the config and the password file into c.Dir and returns the config's path.
func (c fakeConfig) write() (string, error) {
	pw := filepath.Join(c.Dir, "probe.pw")
	if err := os.WriteFile(pw, []byte(fakePassword+"\n"), 0o600); err != nil {
		return "", err
	}
	port := func(s *mailtest.Server) string {
		_, p, _ := net.SplitHostPort(s.Addr())
		return p
	}
	names := make([]string, c.Targets)
	for i := range names {
		names[i] = fmt.Sprintf("t%04d", i)
	}
	if c.Targets == 1 {
		names[0] = "axigen"
	}
	a := c.Axigen
	var b strings.Builder
	lines := map[string]string{
		"cli":     fmt.Sprintf("{ name: cli, protocol: cli, port: %s }", port(a.CLI)),
		"webmail": fmt.Sprintf("{ name: webmail, protocol: http, port: %s }", port(a.WebMail)),
		"imap": fmt.Sprintf("{ name: imap, protocol: imap, port: %s, tls: starttls, ca_file: %s, auth: { username: %s, password_file: %s } }",
			port(a.IMAP), a.Certs.CAFile, fakeUser, pw),
	}
	if _, ok := lines[c.Only]; c.Only != "" && !ok {
		return "", fmt.Errorf("no single check %q (want cli, webmail or imap)", c.Only)
	}
	err := fakeConfigTemplate.Execute(&b, map[string]any{
		"Only": c.Only, "Lines": lines,
		"Dir": c.Dir, "Listen": c.Listen, "MaxConcurrent": c.MaxConcurrent, "Names": names, "T": c.Timing,
		"CA": a.Certs.CAFile, "User": fakeUser, "PW": pw,
		"SMTP": port(a.SMTP), "IMAP": port(a.IMAP), "POP3": port(a.POP3),
		"WebMail": port(a.WebMail), "WebAdmin": port(a.WebAdmin), "CLI": port(a.CLI),
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.Dir, "axprobe.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// readySocket is the datagram socket to which a daemon started while it is open sends its
// sd_notify messages: NOTIFY_SOCKET names it in this process's environment, which the
// daemon inherits.
type readySocket struct{ conn *net.UnixConn }

// listenReady opens the socket as notify.sock in dir.
func listenReady(dir string) (*readySocket, error) {
	path := filepath.Join(dir, "notify.sock")
	_ = os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	if err := os.Setenv("NOTIFY_SOCKET", path); err != nil {
		conn.Close()
		return nil, err
	}
	return &readySocket{conn: conn}, nil
}

// Close takes NOTIFY_SOCKET out of the environment again and closes the socket.
func (s *readySocket) Close() {
	os.Unsetenv("NOTIFY_SOCKET")
	s.conn.Close()
}

// wait waits for READY=1, which axprobe sends once every target has left "starting", for
// at most limit from start.
func (s *readySocket) wait(start time.Time, limit time.Duration) error {
	_ = s.conn.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for {
		n, _, err := s.conn.ReadFromUnix(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("no READY=1 within %s", limit)
		}
		if err != nil {
			return err
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			return nil
		}
	}
}

// fakeSite is a temporary directory with a set of in-process fake Axigen listeners (with a
// certificate for 127.0.0.1 under the directory): what the daemons of one benchmark probe.
// Their configs, sockets and logs go into the directory too.
type fakeSite struct {
	dir string
	ax  *mailtest.Axigen
}

// openFakeSite makes the directory, named for the benchmark, and starts the six listeners.
func openFakeSite(benchmark string) (*fakeSite, error) {
	dir, err := os.MkdirTemp("", "axbench-"+benchmark+"-")
	if err != nil {
		return nil, err
	}
	certs, err := mailtest.NewCertsWith(dir, mailtest.CertOptions{
		Hosts: []string{"127.0.0.1"}, NotAfter: time.Now().AddDate(1, 0, 0)})
	if err == nil {
		var ax *mailtest.Axigen
		if ax, err = mailtest.StartAxigen(mailtest.AxigenOptions{Certs: certs, Users: map[string]string{fakeUser: fakePassword}}); err == nil {
			return &fakeSite{dir: dir, ax: ax}, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// Close stops the listeners and removes the directory.
func (s *fakeSite) Close() {
	s.ax.Close()
	os.RemoveAll(s.dir)
}

// startDaemon writes c, pointed at the site (its Dir and Axigen are set here), and starts
// an axprobe daemon on it with its log in the site's directory; see startDaemon.
func (s *fakeSite) startDaemon(ctx context.Context, bin string, c fakeConfig, extra ...string) (*daemonProc, error) {
	c.Dir, c.Axigen = s.dir, s.ax
	path, err := c.write()
	if err != nil {
		return nil, err
	}
	return startDaemon(ctx, bin, path, filepath.Join(s.dir, "axprobe.sock"), c.Listen, filepath.Join(s.dir, "axprobe.log"), extra...)
}
