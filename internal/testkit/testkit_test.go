package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what would fail the test, for checking that the
// helpers report what they must.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestRunStopsAndReports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string // "" for none reported
	}{
		{"clean return", nil, ""},
		{"an error", errors.New("listener broke"), "server: listener broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			ended := make(chan struct{})
			stop := Run(r, "server", func(ctx context.Context) error {
				<-ctx.Done()
				close(ended)
				return tc.err
			})
			stop()
			<-ended // stop returned: serve has seen its context end
			stop()  // again: nothing more happens
			if got := strings.Join(r.errors, "; "); got != tc.wantErr {
				t.Errorf("reported %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// TestAcceptHoldsUntilTheEnd: a connection the handler keeps open stays open while the
// test runs and is closed when it ends.
func TestAcceptHoldsUntilTheEnd(t *testing.T) {
	var conn net.Conn
	t.Run("silent server", func(t *testing.T) {
		addr := Listen(t, "tcp", "127.0.0.1:0", func(net.Conn) {})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = c
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read from the silent server: %v, want a timeout (held open)", err)
		}
	})
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(Bound))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the test ended: %v, want EOF (closed)", err)
	}
}

func TestFirstLineAndWaitForLog(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintln(pw, "ready 3")
		fmt.Fprintln(pw, "more output, read and dropped")
		pw.Close()
	}()
	FirstLine(t, pr, "ready", "the writer")

	var log SyncBuffer
	go fmt.Fprintln(&log, "level=INFO msg=\"config reloaded\"")
	WaitForLog(t, Bound, &log, "config reloaded")
}
