package main

import (
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

// startFakeAxigen starts the six fake listeners with a certificate for 127.0.0.1 under dir.
func startFakeAxigen(dir string) (*mailtest.Axigen, error) {
	certs, err := mailtest.NewCertsWith(dir, mailtest.CertOptions{
		Hosts: []string{"127.0.0.1"}, NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		return nil, err
	}
	return mailtest.StartAxigen(mailtest.AxigenOptions{Certs: certs, Users: map[string]string{fakeUser: fakePassword}})
}
