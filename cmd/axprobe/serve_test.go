package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/itest"
)

// TestBadWebConfigFailsBeforeListening: a web config file the web side cannot use fails
// `axprobe run` before anything listens: no socket is made and no fallback file is written
// beside it (a fallback file beside a socket nobody ever served would tell the shim to
// check a node whose daemon did not start).
func TestBadWebConfigFailsBeforeListening(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "axprobe.sock")
	webConfig := filepath.Join(dir, "web.yml")
	writeFile(t, webConfig, "tls_server_config:\n  cert_file: "+filepath.Join(dir, "missing.crt")+"\n  no_such_key: [\n")
	configPath := filepath.Join(dir, "axprobe.yaml")
	writeFile(t, configPath, `
socket: `+socket+`
http: { listen: "`+itest.FreeAddr(t)+`", web_config_file: "`+webConfig+`" }
targets:
  - name: axigen
    vip: 127.0.0.1
    checks:
      - { name: smtp, protocol: smtp, port: 25 }
`)
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := runCommand(ctx, []string{"--config", configPath}, io.Discard, &stderr); code == 0 {
		t.Fatalf("axprobe run with a broken web config exited 0; log:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "web") {
		t.Errorf("the error does not name the web config; log:\n%s", stderr.String())
	}
	for _, p := range []string{socket, ipc.FallbackPath(socket)} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists after a start that failed on the web config", p)
		}
	}
}
