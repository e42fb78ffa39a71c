package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/axprobe/axprobe/internal/secret"
	"github.com/axprobe/axprobe/internal/testfile"
)

// testEnv is the environment every testdata file is loaded with. AXPROBE_TEST_PASSWORD is
// not a config key (its first segment names no top-level key), so it is not an override.
func testEnv() []string {
	return []string{
		"AXPROBE_TEST_PASSWORD=test-password",
		"AXPROBE_EMPTY_PASSWORD=",
		"PATH=/usr/bin",
	}
}

// wantError returns the expected error of an invalid-*.yaml file: the comment block that
// starts with "# want:" at the top of the file, one problem per line.
func wantError(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != "# want:" {
		t.Fatalf("%s: the first line must be \"# want:\"", file)
	}
	var lines []string
	for sc.Scan() && strings.HasPrefix(sc.Text(), "# ") {
		lines = append(lines, strings.TrimPrefix(sc.Text(), "# "))
	}
	if len(lines) == 0 {
		t.Fatalf("%s: no expected problem after \"# want:\"", file)
	}
	return strings.Join(lines, "\n")
}

// testdataFiles returns the files of testdata matching pattern, failing t when there is
// none.
func testdataFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s: %v", pattern, err)
	}
	return files
}

func TestLoadInvalidFiles(t *testing.T) {
	for _, file := range testdataFiles(t, "invalid-*.yaml") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := wantError(t, file)
			c, err := Load(file, testEnv(), nil)
			if err == nil {
				t.Fatalf("Load succeeded, want:\n%s", want)
			}
			if c != nil {
				t.Errorf("Load returned a config along with an error")
			}
			if _, ok := errors.AsType[Problems](err); !ok {
				t.Errorf("error is %T, want Problems", err)
			}
			if err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
			if strings.Contains(err.Error(), "test-password") {
				t.Errorf("error contains the password")
			}
		})
	}
}

func TestLoadValidFiles(t *testing.T) {
	for _, file := range testdataFiles(t, "valid-*.yaml") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file, testEnv(), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Load: %v", err)
			}
			assertRoundTrip(t, c, testEnv())
		})
	}
}

// assertRoundTrip checks that Redacted output loads back to the same config and never
// contains a password.
func assertRoundTrip(t *testing.T, c *Config, env []string) {
	t.Helper()
	out, err := c.Redacted()
	if err != nil {
		t.Fatalf("Redacted: %v", err)
	}
	for _, tg := range c.Targets {
		for _, ck := range tg.Checks {
			if ck.Auth != nil && strings.Contains(string(out), ck.Auth.Password.Reveal()) {
				t.Fatalf("Redacted output contains the password of %s/%s", tg.Name, ck.Name)
			}
		}
	}
	assertReloads(t, c, env, out)
}

// assertReloads checks that out, the Redacted output of c, loads back to c.
func assertReloads(t *testing.T, c *Config, env []string, out []byte) {
	t.Helper()
	again, err := Load(writeConfig(t, string(out)), env, nil)
	if err != nil {
		t.Fatalf("Redacted output does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Redacted output loads to a different config:\n%s", out)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("testdata/valid-minimal.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/run/axprobe/axprobe.sock" || c.SocketMode != 0o660 || c.HTTP.Listen != "127.0.0.1:9728" ||
		c.Log != (Log{Level: "info", Format: "text"}) || c.MaxConcurrentProbes != 16 {
		t.Errorf("global defaults not applied: %+v", c)
	}
	tg := c.Targets[0]
	if !tg.RequireLocalVIP || tg.Interval != 10*time.Second || tg.FastInterval != time.Second ||
		tg.Timeout != 3*time.Second || tg.Window != 5 || tg.Rise != 2 || tg.OfflineBelow != 0.5 ||
		tg.CertWarnBefore != 336*time.Hour || tg.Process != nil || tg.Storage != nil {
		t.Errorf("target defaults not applied: %+v", tg)
	}
	ck := tg.Checks[0]
	want := Check{Name: "smtp", Protocol: "smtp", Host: "10.0.0.5", Port: 25, TLS: "none", Weight: 1,
		Critical: true, Interval: 10 * time.Second, Timeout: 3 * time.Second}
	if !reflect.DeepEqual(ck, want) {
		t.Errorf("check defaults:\n got %+v\nwant %+v", ck, want)
	}
}

// TestNodeHealthDefaults: an empty node_health block turns the push on with the attribute
// named after the target; without the block there is none.
func TestNodeHealthDefaults(t *testing.T) {
	text := "targets:\n" +
		"  - { name: mail-a, vip: 10.0.0.5, node_health: {}, checks: [{ name: smtp, protocol: smtp }] }\n" +
		"  - { name: mail-b, vip: 10.0.0.6, checks: [{ name: smtp, protocol: smtp }] }\n"
	c, err := Load(testfile.Write(t, "nh.yaml", text), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &NodeHealth{Attribute: "#health-mail-a", Delay: 5 * time.Second, AttrdUpdater: "/usr/sbin/attrd_updater"}
	if got := c.Targets[0].NodeHealth; !reflect.DeepEqual(got, want) {
		t.Errorf("node_health: {} gives %+v, want %+v", got, want)
	}
	if c.Targets[1].NodeHealth != nil {
		t.Errorf("no node_health block gives %+v, want nil (off by default)", c.Targets[1].NodeHealth)
	}
	assertRoundTrip(t, c, nil)
}

func TestCheckDefaultsByProtocol(t *testing.T) {
	for _, tc := range []struct {
		protocol, tls string
		port          int
		critical      bool
	}{
		{"smtp", "", 25, true}, {"smtp", "starttls", 25, true}, {"smtp", "implicit", 465, true},
		{"imap", "", 143, true}, {"imap", "implicit", 993, true},
		{"pop3", "", 110, true}, {"pop3", "implicit", 995, true},
		{"http", "", 80, false}, {"http", "implicit", 443, false},
		{"cli", "", 7000, false},
	} {
		yml := "targets: [{name: t, vip: 10.0.0.5, checks: [{name: c, protocol: " + tc.protocol
		if tc.tls != "" {
			yml += ", tls: " + tc.tls
		}
		file := testfile.Write(t, "c.yaml", yml+"}]}]\n")
		c, err := Load(file, nil, nil)
		if err != nil {
			t.Errorf("%s/%s: %v", tc.protocol, tc.tls, err)
			continue
		}
		ck := c.Targets[0].Checks[0]
		if ck.Port != tc.port || ck.Critical != tc.critical {
			t.Errorf("%s/%s: port %d critical %v, want %d %v", tc.protocol, tc.tls, ck.Port, ck.Critical, tc.port, tc.critical)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := writeConfig(t, `
log: { level: warn }
http: { listen: 127.0.0.1:1000 }
targets:
  - name: axigen
    vip: 10.0.0.5
    on_transition: { command: [/opt/VRTSvcs/bin/hares, -probe, axigen_app, -sys, node1] }
    checks:
      - { name: smtp, protocol: smtp }
      - { name: imap, protocol: imap }
`)
	env := []string{
		"AXPROBE_LOG__LEVEL=error",                 // beats the file
		"AXPROBE_HTTP__LISTEN=127.0.0.1:2000",      // beaten by the flag
		"AXPROBE_TARGETS__0__VIP=10.0.0.6",         // a list element by index
		"AXPROBE_TARGETS__0__CHECKS__1__PORT=1143", // a string becomes an int
		"AXPROBE_TARGETS__0__REQUIRE_LOCAL_VIP=false",
		"AXPROBE_MAX_CONCURRENT_PROBES=3",
		"AXPROBE_LOG__FORMAT=json",
		"AXPROBE_TARGETS__0__ON_TRANSITION__COMMAND__4=node2", // one element of a string list
	}
	flags := map[string]any{
		"http.listen":                 "127.0.0.1:3000",
		"log.format":                  "text",
		"targets.0.checks.0.interval": 5 * time.Second,
		"socket":                      "/tmp/flag.sock",
	}
	c, err := Load(file, env, flags)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"log.level (env over file)", c.Log.Level, "error"},
		{"http.listen (flag over env over file)", c.HTTP.Listen, "127.0.0.1:3000"},
		{"log.format (flag over env)", c.Log.Format, "text"},
		{"socket (flag over default)", c.Socket, "/tmp/flag.sock"},
		{"max_concurrent_probes (env)", c.MaxConcurrentProbes, 3},
		{"targets[0].vip (env)", c.Targets[0].VIP, "10.0.0.6"},
		{"targets[0].require_local_vip (env)", c.Targets[0].RequireLocalVIP, false},
		{"checks[0].host follows the overridden vip", c.Targets[0].Checks[0].Host, "10.0.0.6"},
		{"checks[1].port (env)", c.Targets[0].Checks[1].Port, 1143},
		{"checks[0].interval (flag)", c.Targets[0].Checks[0].Interval, 5 * time.Second},
		{"checks[1] keeps its name", c.Targets[0].Checks[1].Name, "imap"},
		{"on_transition.command[4] (env)", c.Targets[0].OnTransition.Command,
			[]string{"/opt/VRTSvcs/bin/hares", "-probe", "axigen_app", "-sys", "node2"}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestOverrideErrors(t *testing.T) {
	file := writeConfig(t, "targets: [{name: axigen, vip: 10.0.0.5, checks: [{name: smtp, protocol: smtp}]}]\n")
	for _, tc := range []struct {
		name  string
		env   []string
		flags map[string]any
		want  string
	}{
		{"env adds a target", []string{"AXPROBE_TARGETS__1__VIP=10.0.0.6"}, nil,
			"targets[1]: no such element in the config file (it has 1); the environment and flags can only change elements the file defines"},
		{"flag adds a check", nil, map[string]any{"targets.0.checks.3.port": 25},
			"targets[0].checks[3]: no such element in the config file (it has 1); the environment and flags can only change elements the file defines"},
		{"env unknown key", []string{"AXPROBE_HTTP__LISTN=127.0.0.1:1"}, nil, "http.listn: unknown key"},
		{"flag unknown key", nil, map[string]any{"log.colour": "yes"}, "log.colour: unknown key"},
		{"env bad int", []string{"AXPROBE_TARGETS__0__CHECKS__0__PORT=smtp"}, nil,
			`targets[0].checks[0].port: "smtp" is not an integer`},
		{"env bad duration", []string{"AXPROBE_TARGETS__0__INTERVAL=10"}, nil,
			`targets[0].interval: "10" is not a duration (write e.g. "10s")`},
		{"flag bare number duration", nil, map[string]any{"targets.0.timeout": 3}, `targets[0].timeout: 3 is not a duration (write e.g. "10s")`},
		{"env inline password", []string{"AXPROBE_TARGETS__0__CHECKS__0__AUTH__PASSWORD=hunter2"}, nil,
			"targets[0].checks[0].auth.password: passwords are not accepted in the config; use password_file or password_env\n" +
				"targets[0].checks[0].auth.username: required\n" +
				"targets[0].checks[0].auth: set password_file or password_env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(file, tc.env, tc.flags)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestEnvOutsideConfigIsIgnored(t *testing.T) {
	file := writeConfig(t, "targets: [{name: axigen, vip: 10.0.0.5, checks: [{name: smtp, protocol: smtp}]}]\n")
	env := []string{"AXPROBE_PROBE_PASSWORD=x", "AXPROBE_CONFIG=/etc/other.yaml", "AXPROBE_=", "HOME=/root", "NOEQUALS"}
	if _, err := Load(file, env, nil); err != nil {
		t.Errorf("variables that name no config key must be left alone: %v", err)
	}
}

func TestPasswords(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	pwFile := testfile.Write(t, "probe.pw", pw+"\n")
	crlfFile := testfile.Write(t, "crlf.pw", pw+"\r\n")
	twoLines := testfile.Write(t, "two.pw", pw+"\n\n")
	file := writeConfig(t, `
targets:
  - name: axigen
    vip: 10.0.0.5
    checks:
      - { name: smtp, protocol: smtp, auth: { username: probe, password_file: `+pwFile+` } }
      - { name: imap, protocol: imap, auth: { username: probe, password_env: MY_PW } }
      - { name: pop3, protocol: pop3, auth: { username: probe, password_file: `+crlfFile+` } }
      - { name: cli, protocol: cli, auth: { username: admin, password_file: `+twoLines+` } }
`)
	c, err := Load(file, []string{"MY_PW=" + pw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := c.Targets[0].Checks
	for i, want := range []string{pw, pw, pw, pw + "\n"} {
		if got := checks[i].Auth.Password.Reveal(); got != want {
			t.Errorf("checks[%d] password %q, want %q (one trailing newline trimmed)", i, got, want)
		}
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), pw) {
		t.Errorf("Redacted output contains the password:\n%s", out)
	}
	if n := strings.Count(string(out), "# password: "+secret.Redacted); n != 4 {
		t.Errorf("Redacted output marks %d loaded passwords, want 4:\n%s", n, out)
	}
	assertRoundTrip(t, c, []string{"MY_PW=" + pw})
}

// TestPasswordNeverInErrors loads a config full of problems whose passwords are readable,
// and one whose password file is not a usable file, and looks for the password everywhere.
func TestPasswordNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	const pw = "hunter2-do-not-print"
	pwFile := filepath.Join(dir, "probe.pw")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.pw")
	if err := os.WriteFile(big, bytes.Repeat([]byte(pw), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, `
targets:
  - name: BAD NAME
    vip: 10.0.0.5
    checks:
      - { name: smtp, protocol: smtp, port: 0, auth: { username: probe, password_file: `+pwFile+` } }
      - { name: imap, protocol: imap, auth: { username: probe, password_env: MY_PW, password_file: `+pwFile+` } }
      - { name: pop3, protocol: pop3, auth: { username: probe, password_file: `+big+` } }
      - { name: cli, protocol: cli, auth: { username: admin, password_file: `+dir+` } }
      - { name: tcp, protocol: tcp, auth: { username: admin, password_env: MY_PW } }
`)
	_, err := Load(file, []string{"MY_PW=" + pw}, nil)
	if err == nil {
		t.Fatal("Load succeeded on a bad config")
	}
	for _, want := range []string{
		"targets[0].checks[2].auth.password_file: " + big + " is larger than 4096 bytes",
		"targets[0].checks[3].auth.password_file: " + dir + " is not a regular file",
	} {
		if !strings.Contains(err.Error(), want+"\n") {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error contains the password:\n%v", err)
	}
}

// TestPasswordFileFIFODoesNotBlock: a password_file that is a FIFO fails Load at once,
// naming the file, instead of blocking it.
func TestPasswordFileFIFODoesNotBlock(t *testing.T) {
	fifo := testfile.FIFO(t, "fifo")
	file := writeConfig(t, strings.Replace(trustBase, "protocol: smtp }", "protocol: smtp, auth: { username: probe, password_file: "+fifo+" } }", 1))
	err := testfile.Within(t, "Load", func() error { _, err := Load(file, nil, nil); return err })
	if err == nil || !strings.Contains(err.Error(), fifo+" is not a regular file") {
		t.Errorf("error %v, want %q", err, fifo+" is not a regular file")
	}
}

func TestValidateReturnsEveryProblemOfAHandBuiltConfig(t *testing.T) {
	c := &Config{Socket: "/run/a.sock", SocketMode: 0o4755, MaxConcurrentProbes: 1, Log: Log{Level: "info", Format: "text"}}
	err := c.Validate()
	want := "socket_mode: 04755 has bits beyond 0777\ntargets: at least one target is required"
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, want)
	}
	ps, ok := errors.AsType[Problems](err)
	if !ok || len(ps) != 2 || ps[1].Path != "targets" {
		t.Errorf("Validate returned %#v, want two Problems", err)
	}
}

func TestFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Load(missing, nil, nil); err == nil || err.Error() != "stat "+missing+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	bad := writeConfig(t, "targets: [\n")
	if _, err := Load(bad, nil, nil); err == nil || !strings.HasPrefix(err.Error(), bad+": yaml: ") {
		t.Errorf("bad YAML: %v", err)
	}
	list := writeConfig(t, "- a\n- b\n")
	if _, err := Load(list, nil, nil); err == nil || !strings.HasPrefix(err.Error(), list+": yaml: ") {
		t.Errorf("YAML that is not a mapping: %v", err)
	}
}

// TestExamples loads deploy/axprobe.example.yaml and every yaml block of docs/CONFIG.md and
// docs/ROUNDTRIP.md.
// Their password files do not exist here: each is pointed at a temporary file through a flag,
// which also exercises flag overrides of list elements.
func TestExamples(t *testing.T) {
	examples := map[string][]byte{}
	deploy, err := os.ReadFile("../../deploy/axprobe.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	examples["deploy/axprobe.example.yaml"] = deploy
	// Every yaml block of the docs that are about this config file (OBSERVABILITY.md and
	// deploy/vcs/README.md hold fragments and other files' formats).
	for _, name := range []string{"docs/CONFIG.md", "docs/ROUNDTRIP.md"} {
		doc, err := os.ReadFile("../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?ms)^```yaml\n(.*?)^```").FindAllSubmatch(doc, -1)
		if len(blocks) == 0 {
			t.Fatalf("%s has no ```yaml block", name)
		}
		for i, b := range blocks {
			examples[fmt.Sprintf("%s block %d", name, i+1)] = b[1]
		}
	}

	pwFile := testfile.Write(t, "probe.pw", "example-password\n")
	env := []string{"AXPROBE_PROBE_PASSWORD=example-password"}
	for name, text := range examples {
		t.Run(name, func(t *testing.T) {
			file := writeConfig(t, string(text))
			c, err := Load(file, env, passwordFileFlags(t, text, pwFile))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			assertRoundTrip(t, c, env)
		})
	}
}

// passwordFileFlags returns flag overrides that point every password_file of the YAML config
// text at pwFile.
func passwordFileFlags(t *testing.T, text []byte, pwFile string) map[string]any {
	t.Helper()
	var doc struct {
		Targets []struct {
			Checks []struct {
				Auth struct {
					PasswordFile string `yaml:"password_file"`
				} `yaml:"auth"`
			} `yaml:"checks"`
		} `yaml:"targets"`
	}
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	flags := map[string]any{}
	for ti, tg := range doc.Targets {
		for ci, ck := range tg.Checks {
			if ck.Auth.PasswordFile != "" {
				flags[fmt.Sprintf("targets.%d.checks.%d.auth.password_file", ti, ci)] = pwFile
			}
		}
	}
	return flags
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	return testfile.Write(t, "axprobe.yaml", text)
}

// TestNodeNameDefaultsToHostname: one config file for every node; {node} is each node's
// own name unless node_name says otherwise.
func TestNodeNameDefaultsToHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname here")
	}
	c, err := Load(writeConfig(t, "targets:\n  - name: axigen\n    vip: 10.0.0.5\n    checks:\n      - { name: smtp, protocol: smtp }\n"), testEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != host {
		t.Errorf("node_name = %q, want the hostname %q", c.NodeName, host)
	}
}
