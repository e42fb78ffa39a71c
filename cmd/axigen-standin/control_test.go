package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
)

// control sends one request line to the control socket and returns the reply line.
func control(t *testing.T, sock, request string) string {
	t.Helper()
	reply, err := itest.Control(sock, request)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// TestControlSocket: "imap hang" makes the running stand-in's IMAP listener accept and say
// nothing, "imap none" brings its greeting back; bad requests get an error line naming
// the bad word, and the socket is gone after the stop.
func TestControlSocket(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "standin.ctl")
	addrs, stop := startRun(t, "--control", sock, "--cert-dir", dir)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	if got := control(t, sock, "imap hang\n"); got != "ok" {
		t.Fatalf("imap hang: reply %q", got)
	}
	c, err := net.Dial("tcp", addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("hung imap sent %d bytes (err %v), want nothing", n, err)
	}
	c.Close()
	if got := control(t, sock, "imap none\n"); got != "ok" {
		t.Fatalf("imap none: reply %q", got)
	}
	if line := firstLine(t, addrs["imap"]); !strings.HasPrefix(line, "* OK") {
		t.Errorf("imap greeting after clearing the fault: %q", line)
	}

	for req, want := range map[string]string{
		"imap4 hang\n":                  `error: listener "imap4" is not one of`,
		"imap explode\n":                `error: fault "explode" is not one of`,
		"imap\n":                        "error: want \"<listener> <fault>\", got 1 words",
		strings.Repeat("x", 200) + "\n": "error: want one line of at most 128 bytes",
	} {
		if got := control(t, sock, req); !strings.HasPrefix(got, want) {
			t.Errorf("request %.20q: reply %q, want prefix %q", req, got, want)
		}
	}

	stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket still there after stop (lstat err %v)", err)
	}
}

// TestControlRefusesNonSocket: --control naming a regular file is an error and the file is
// left alone.
func TestControlRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenControl(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("listenControl on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("the file was touched: %q", b)
	}
}

// FuzzParseControl: any request line parses or fails without panicking; a success names a
// known fault and a listener without spaces, and errors hold no control bytes.
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{"imap hang", "imap none", "smtp refuse", "", "imap", "a b c", "imap \x00hang", "\xff\xfe hang"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, fault, err := parseControl(line)
		if err != nil {
			for _, r := range err.Error() {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("error %q holds a control byte", err)
				}
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q is not valid UTF-8", err)
			}
			return
		}
		if name == "" || strings.ContainsAny(name, " \t\n") {
			t.Fatalf("listener %q from %q", name, line)
		}
		if _, perr := mailtest.ParseFault(string(fault)); perr != nil {
			t.Fatalf("fault %q from %q is not a known fault", fault, line)
		}
	})
}
