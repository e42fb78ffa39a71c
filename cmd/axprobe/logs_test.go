package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestRunLogFormats runs `axprobe run --log.format json|text` at info level through one
// outage and checks the log: every line in the asked format, one line per state transition,
// no line per successful probe.
func TestRunLogFormats(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			dir := t.TempDir()
			ax, err := mailtest.StartAxigen(mailtest.AxigenOptions{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer ax.Close()
			_, smtpPort, _ := net.SplitHostPort(ax.SMTP.Addr())
			_, imapPort, _ := net.SplitHostPort(ax.IMAP.Addr())
			configPath := filepath.Join(dir, "axprobe.yaml")
			socket := filepath.Join(dir, "axprobe.sock")
			cfg := strings.NewReplacer("SOCK", socket, "SMTP", smtpPort, "IMAP", imapPort).Replace(`
socket: SOCK
` + testTarget + `      - { name: smtp, protocol: smtp, port: SMTP }
      - { name: imap, protocol: imap, port: IMAP }
`)
			if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr testkit.SyncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- runCommand(ctx, []string{"--config", configPath, "--log.format", format, "--log.level", "info", "--http.listen", ""}, &stdout, &stderr)
			}()

			waitState := func(state string) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for {
					mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
					a, err := ipc.Monitor(mctx, socket, "")
					mcancel()
					if err == nil && a.State == state {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("not %s within 30s (last answer %+v, err %v); log:\n%s", state, a, err, stderr.String())
					}
					select {
					case <-time.After(50 * time.Millisecond):
					case code := <-done:
						t.Fatalf("axprobe run exited %d; log:\n%s", code, stderr.String())
					}
				}
			}
			waitState("online")
			ax.IMAP.SetFault(mailtest.FaultRefuse)
			waitState("offline")
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("axprobe run exited %d; log:\n%s", code, stderr.String())
			}

			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			transitions := 0
			for _, line := range lines {
				var msg, level string
				if format == "json" {
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("log line is not JSON: %q", line)
					}
					msg, _ = rec["msg"].(string)
					level, _ = rec["level"].(string)
				} else {
					if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") {
						t.Fatalf("log line is not slog text: %q", line)
					}
					level = field(line, "level=")
					msg = strings.Trim(field(line, "msg="), `"`)
				}
				if level == "DEBUG" {
					t.Errorf("debug line at info level: %q", line)
				}
				if msg == "state change" {
					transitions++
				}
				if strings.Contains(msg, "probe") && strings.Contains(line, "smtp") {
					t.Errorf("a line about a successful probe at info level: %q", line)
				}
			}
			if transitions != 2 { // starting → online, online → offline
				t.Errorf("%d state change lines, want 2 (one per transition); log:\n%s", transitions, stderr.String())
			}
		})
	}
}

// field returns the value of key (e.g. "level=") in a slog text line, up to the next space
// (or the closing quote of a quoted value).
func field(line, key string) string {
	i := strings.Index(line, " "+key)
	if i < 0 {
		return ""
	}
	v := line[i+1+len(key):]
	if strings.HasPrefix(v, `"`) {
		if j := strings.Index(v[1:], `"`); j >= 0 {
			return v[:j+2]
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return v[:j]
	}
	return v
}
