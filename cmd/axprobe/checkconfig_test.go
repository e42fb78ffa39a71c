package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCheckConfig runs the command and returns its exit code, stdout and stderr.
func runCheckConfig(t *testing.T, args ...string) (int, string, string) {
	return runSubcommand(checkConfigCommand, args...)
}

func writeCheckConfigFile(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "axprobe.yaml")
	writeFile(t, file, text)
	return file
}

func TestCheckConfigValid(t *testing.T) {
	file := writeCheckConfigFile(t, `
targets:
  - name: axigen
    vip: 10.0.0.5
    checks:
      - { name: smtp, protocol: smtp }
      - { name: imap, protocol: imap }
`)
	code, stdout, stderr := runCheckConfig(t, "--config", file)
	if code != 0 || stdout != "config OK: 1 target, 2 checks\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCheckConfigPrint(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "probe.pw")
	const pw = "never-print-me"
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeCheckConfigFile(t, `
targets:
  - name: axigen
    vip: 10.0.0.5
    checks:
      - { name: smtp, protocol: smtp, auth: { username: probe, password_file: `+pwFile+` } }
`)
	t.Setenv("AXPROBE_LOG__LEVEL", "debug") // the environment is layered in, as for the daemon
	code, stdout, stderr := runCheckConfig(t, "--config", file, "--print")
	if code != 0 || stderr != "config OK: 1 target, 1 check\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"socket: /run/axprobe/axprobe.sock\n", // a default
		"  level: debug\n",                    // the environment
		"        port: 25\n",                  // a per-check default
		"        auth: # password: [redacted]\n",
		// What runs, after the effective config: the address from the VIP and the port,
		// the gates, each check's schedule.
		"---\n",
		"resolved_targets:\n",
		"        probe: # password: [redacted]\n          protocol: smtp\n          address: 10.0.0.5:25\n",
		"      - name: vip\n        probe:\n          protocol: vip\n          vip: 10.0.0.5\n",
		"        interval: 10s\n        timeout: 3s\n        fast_interval: 1s\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--print output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, pw) {
		t.Errorf("--print output contains the password")
	}
}

func TestCheckConfigProblems(t *testing.T) {
	file := writeCheckConfigFile(t, `
targets:
  - name: axigen
    vip: 10.0.0.5
    interval: 10
    checks:
      - { name: smtp, protocol: smtp, port: 70000 }
`)
	code, stdout, stderr := runCheckConfig(t, "--config", file)
	want := file + ": 2 problems:\n" +
		"targets[0].interval: 10 is not a duration (write e.g. \"10s\")\n" +
		"targets[0].checks[0].port: 70000 is not in 1-65535\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	code, _, stderr := runCheckConfig(t, "--config", missing)
	if code != 1 || !strings.Contains(stderr, missing) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestCheckConfigUsage(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{[]string{"--help"}, 0, "Examples:", ""},
		{[]string{"--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"axprobe.yaml"}, 2, "", `unexpected argument "axprobe.yaml"`},
		{[]string{"--config"}, 2, "", "flag needs an argument"},
	} {
		code, stdout, stderr := runCheckConfig(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.wantStdout) || !strings.Contains(stderr, tc.wantStderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		if tc.wantStdout == "" && stdout != "" {
			t.Errorf("%v: a usage error wrote to stdout: %q", tc.args, stdout)
		}
	}
}
