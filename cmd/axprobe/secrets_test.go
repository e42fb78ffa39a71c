package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestPasswordNeverInAnyOutput drives the real daemon, with a known password and a login
// the server rejects, through every output a user or a log collector sees, and asserts that
// the password (plain, or base64 as SASL would carry it) appears in none of them.
func TestPasswordNeverInAnyOutput(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const user, password = "probe", "Zq8-unique-Pa55word-7731"

	dir := t.TempDir()
	ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: dir, Users: map[string]string{user: password}})
	if err != nil {
		t.Fatal(err)
	}
	defer ax.Close()
	ax.IMAP.SetFault(mailtest.FaultRejectAuth) // every IMAP login fails: the password is sent, rejected, logged about
	if err := os.WriteFile(filepath.Join(dir, "probe.pw"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := func(s *mailtest.Server) string { _, p, _ := net.SplitHostPort(s.Addr()); return p }
	configPath := filepath.Join(dir, "axprobe.yaml")
	cfgText := strings.NewReplacer("DIR", dir, "CA", ax.Certs.CAFile, "SMTP", port(ax.SMTP), "IMAP", port(ax.IMAP), "POP3", port(ax.POP3)).Replace(`
socket: DIR/axprobe.sock
http: { listen: "127.0.0.1:0" }
log: { level: debug, format: json }
` + testTarget + `      - { name: smtp, protocol: smtp, port: SMTP, tls: starttls, ca_file: CA, auth: { username: probe, password_file: DIR/probe.pw } }
      - { name: imap, protocol: imap, port: IMAP, tls: starttls, ca_file: CA, auth: { username: probe, password_file: DIR/probe.pw } }
      - { name: pop3, protocol: pop3, port: POP3, tls: starttls, ca_file: CA, auth: { username: probe, password_file: DIR/probe.pw } }
`)
	if err := os.WriteFile(configPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func() (*config.Config, error) { return config.Load(configPath, nil, nil) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}

	var logs testkit.SyncBuffer
	log, err := newLogger(&logs, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv, err := newServer(cfg, load, log, newWebHooks(cfg, log, nil, func() (net.Listener, error) { return ln, nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	stop := testkit.Run(t, "run", srv.run)

	// Wait (bounded) until the daemon has seen IMAP reject the login and SMTP accept it.
	testkit.WaitFor(t, 30*time.Second, "imap to fail with reason auth and smtp to pass", func() bool {
		t0, ok := srv.daemon.Snapshot().Target("axigen")
		return ok && checkReason(t0.Checks, "imap") == "auth" && checkOK(t0.Checks, "smtp")
	})

	outputs := map[string]string{}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/metrics", "/status.json", "/", "/healthz"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		outputs["GET "+path] = string(body)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	status, err := ipc.Status(sctx, cfg.Socket, "")
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	outputs["socket STATUS"] = string(status)
	// The socket's requests reach the metrics through the ipc.Server's Observer, which
	// counts a request once its reply is written: poll (bounded) rather than race it.
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(metrics), `axprobe_ipc_requests_total{command="status",result="ok"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Error("the socket's STATUS request is not counted in axprobe_ipc_requests_total after 10s")
			break
		}
	}
	outputs["GET /metrics after STATUS"] = string(metrics)
	srv.reload(ctx) // logs the reload, with the config's passwords loaded again
	var printOut, printErr bytes.Buffer
	if code := checkConfigCommand(ctx, []string{"--config", configPath, "--print"}, &printOut, &printErr); code != 0 {
		t.Fatalf("check-config --print = %d: %s", code, printErr.String())
	}
	outputs["check-config --print stdout"] = printOut.String()
	outputs["check-config --print stderr"] = printErr.String()
	stop()
	outputs["debug log"] = logs.String()

	// The outputs are about the failing login, so a leak would be there.
	for name, want := range map[string]string{
		"debug log":                   `"check":"imap"`,
		"GET /status.json":            `"reason":"auth"`,
		"socket STATUS":               `"reason":"auth"`,
		"GET /metrics":                `axprobe_probe_failures_total{check="imap",reason="auth",target="axigen"}`,
		"check-config --print stdout": "password_file:",
	} {
		if !strings.Contains(outputs[name], want) {
			t.Errorf("%s lacks %s: the test does not see what it means to check", name, want)
		}
	}
	forms := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password)), // SASL PLAIN
	}
	for name, out := range outputs {
		for _, f := range forms {
			if strings.Contains(out, f) {
				t.Errorf("%s contains the password (as %q)", name, f)
			}
		}
	}
}

func checkReason(checks []daemon.CheckSnapshot, name string) string {
	for _, c := range checks {
		if c.Name == name {
			return c.Reason
		}
	}
	return ""
}

func checkOK(checks []daemon.CheckSnapshot, name string) bool {
	for _, c := range checks {
		if c.Name == name {
			return c.HasResult && c.OK
		}
	}
	return false
}
