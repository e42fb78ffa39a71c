package testkit

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, failing the test after limit.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitForLog waits until log (a SyncBuffer, say) holds want, failing the test after limit
// with the whole log.
func WaitForLog(t testing.TB, limit time.Duration, log fmt.Stringer, want string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %s; log:\n%s", want, limit, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FirstLine waits at most Bound for the first line a child process writes on out and fails
// the test unless it starts with prefix; the rest of out is read and dropped until it ends.
func FirstLine(t testing.TB, out io.Reader, prefix, what string) {
	t.Helper()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("%s did not start: %q", what, line)
		}
	case <-time.After(Bound):
		t.Fatalf("%s did not start within %s", what, Bound)
	}
}
