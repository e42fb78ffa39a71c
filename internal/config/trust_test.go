package config

import (
	"os"
	"strings"
	"testing"

	"github.com/axprobe/axprobe/internal/testfile"
)

const trustBase = `targets:
  - name: axigen
    vip: 10.0.0.5
    checks:
      - { name: smtp, protocol: smtp }
`

// TestSmallTrustItems covers issue 13's point 9 for the config: each was accepted (or
// echoed) before.
func TestSmallTrustItems(t *testing.T) {
	huge := strings.Repeat("n", 3<<20) // 20 MB in the issue; the file cap is 4 MiB now
	for _, c := range []struct {
		name, text, want string
	}{
		{"socket_mode 0000", "socket_mode: \"0000\"\n" + trustBase, `socket_mode: "0000" would let no one but root connect`},
		{"unknown socket_group", "socket_group: axprobe-no-such-group\n" + trustBase, `socket_group: "axprobe-no-such-group": no such group on this system`},
		{"unparsable http.listen", "http:\n  listen: \"127.0.0.1\"\n" + trustBase, `http.listen: "127.0.0.1" is not host:port`},
		{"a 3 MB name", strings.Replace(trustBase, "name: axigen", "name: "+huge, 1), "bytes in all)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, c.text), nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load = %.300v, want an error containing %q", err, c.want)
			}
			if len(err.Error()) > 4096 {
				t.Errorf("the error is %d bytes: a value is echoed whole", len(err.Error()))
			}
		})
	}
}

// TestConfigFileBounded: a config file over MaxFileSize, a FIFO or a device is refused at
// once (a 60 MB file once took the daemon to 686 MB).
func TestConfigFileBounded(t *testing.T) {
	big := writeConfig(t, trustBase+"# "+strings.Repeat("x", MaxFileSize)+"\n")
	if _, err := Load(big, nil, nil); err == nil || err.Error() != big+" is larger than 4194304 bytes" {
		t.Errorf("an oversized file: %v", err)
	}
	for _, path := range []string{testfile.FIFO(t, "fifo.yaml"), "/dev/zero"} {
		err := testfile.Within(t, "Load("+path+")", func() error { _, err := Load(path, nil, nil); return err })
		if err == nil || err.Error() != path+" is not a regular file" {
			t.Errorf("Load(%s) = %v", path, err)
		}
	}
	// The good file still loads.
	if _, err := Load(writeConfig(t, trustBase), nil, nil); err != nil {
		t.Errorf("a good file: %v", err)
	}
	if _, err := os.Stat(big); err != nil {
		t.Fatal(err)
	}
}

// TestWarnings: http.listen reachable from other hosts with neither TLS nor auth is a
// warning; loopback or a web config file is not.
func TestWarnings(t *testing.T) {
	for _, c := range []struct {
		listen, webConfig string
		warn              bool
	}{
		{"0.0.0.0:9728", "", true},
		{":9728", "", true},
		{"[::]:9728", "", true},
		{"10.0.0.5:9728", "", true},
		{"127.0.0.1:9728", "", false},
		{"[::1]:9728", "", false},
		{"localhost:9728", "", false},
		{"0.0.0.0:9728", "/etc/axprobe/web.yaml", false},
		{"", "", false},
	} {
		cfg := &Config{HTTP: HTTP{Listen: c.listen, WebConfigFile: c.webConfig}}
		ws := cfg.Warnings()
		if (len(ws) > 0) != c.warn {
			t.Errorf("listen %q, web config %q: warnings %q, want a warning: %t", c.listen, c.webConfig, ws, c.warn)
		}
	}
}
