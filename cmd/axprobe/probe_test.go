package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testfile"
	"github.com/axprobe/axprobe/internal/testkit"
)

const (
	probeTestUser     = "probe@example.test"
	probeTestPassword = "Very-S3cret-pw"
)

func startIMAPFake(t *testing.T, o mailtest.Options) *mailtest.Server {
	t.Helper()
	o.Users = map[string]string{probeTestUser: probeTestPassword}
	srv, err := mailtest.StartIMAP(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runProbeCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr = runSubcommand(probeCommand, args...)
	if strings.Contains(stdout+stderr, probeTestPassword) {
		t.Errorf("output holds the password:\n%s\n%s", stdout, stderr)
	}
	return code, stdout, stderr
}

// subcommand is what a command of the command table runs.
type subcommand func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// runSubcommand runs cmd with args and returns its exit code, stdout and stderr.
func runSubcommand(cmd subcommand, args ...string) (code int, stdout, stderr string) {
	var out, errOut testkit.SyncBuffer // the daemon logs from its goroutines
	code = cmd(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// runBounded is runSubcommand for a command that must not block: the test fails at once
// if cmd has not returned within testfile.Deadline.
func runBounded(t *testing.T, cmd subcommand, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	r := testfile.Within(t, fmt.Sprint(args), func() result {
		code, stdout, stderr := runSubcommand(cmd, args...)
		return result{code, stdout, stderr}
	})
	return r.code, r.stdout, r.stderr
}

func TestProbeCommandOK(t *testing.T) {
	certs, err := mailtest.NewCerts(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := startIMAPFake(t, mailtest.Options{TLS: mailtest.TLSStartTLS, Cert: certs})
	// The URL comes first, flags after it.
	code, out, errOut := runProbeCommand(t, "imap://"+probeTestUser+"@"+srv.Addr()+"/INBOX",
		"--tls", "starttls", "--ca-file", certs.CAFile, "--password-file", passwordFile(t, probeTestPassword))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"connect", "banner", "starttls", "tls", "login", "examine", "logout", "verified: yes", "expires", "OK "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestProbeCommandHungServer(t *testing.T) {
	srv := startIMAPFake(t, mailtest.Options{})
	srv.SetFault(mailtest.FaultHang)
	code, out, errOut := runProbeCommand(t, "--timeout", "1500ms", "imap://"+srv.Addr())
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "FAIL  timeout in phase banner") {
		t.Errorf("verdict missing:\n%s", out)
	}
}

func TestProbeCommandJSON(t *testing.T) {
	srv := startIMAPFake(t, mailtest.Options{})
	t.Setenv("AXPROBE_TEST_PW", "wrong-"+probeTestPassword[:4])
	code, out, errOut := runProbeCommand(t, "imap://"+srv.Addr(), "--json", "--user", probeTestUser, "--password-env", "AXPROBE_TEST_PW")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (wrong password)\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Protocol, Address, Reason, Phase, Error string
		OK                                      bool
		Phases                                  []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if res.OK || res.Reason != "auth" || res.Phase != "login" || res.Protocol != "imap" || res.Address != srv.Addr() {
		t.Errorf("result %+v", res)
	}
	if len(res.Phases) == 0 || res.Phases[0].Name != "connect" {
		t.Errorf("phases %+v", res.Phases)
	}
}

func TestProbeCommandUsageErrors(t *testing.T) {
	pw := passwordFile(t, probeTestPassword)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no url", nil, "exactly one URL"},
		{"two urls", []string{"imap://h", "imap://g"}, "exactly one URL"},
		{"unknown flag", []string{"imap://h", "--bogus"}, "flag provided but not defined"},
		{"help", []string{"--help"}, "Examples:"},
		{"bad tls", []string{"imap://h", "--tls", "maybe"}, `tls: "maybe"`},
		{"password in url", []string{"imap://u:" + probeTestPassword + "@h"}, "--password-file"},
		{"password without user", []string{"imap://h", "--password-file", pw}, "no user"},
		{"user without password", []string{"imap://u@h"}, "needs a password"},
		{"both password sources", []string{"imap://u@h", "--password-file", pw, "--password-env", "X"}, "only one"},
		{"bad regexp", []string{"smtp://h", "--banner-regex", "("}, "banner_regex"},
		{"bad timeout", []string{"smtp://h", "--timeout", "0s"}, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runProbeCommand(t, tt.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}
