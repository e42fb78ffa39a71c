// Package testfile makes the files the tests of the readers of operator-named files
// (password files, the config file, pidfiles) hand them: a regular file, and what a root
// daemon may find in its place, a FIFO or a link to a device; and it runs a read under a
// deadline, so a reader that blocks fails its test instead of hanging it. See
// docs/SECURITY.md and docs/TESTING.md.
package testfile

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Deadline is how long Within waits: generous, since a reader that refuses a FIFO or a
// device returns at once, and the test must not fail on a loaded machine.
const Deadline = 20 * time.Second

// Write makes a regular file called name holding content, mode 0600, in a new temporary
// directory and returns its path.
func Write(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// PidFile makes a pidfile called axigen.pid holding pid and a newline, in a new temporary
// directory, and returns its path.
func PidFile(t testing.TB, pid int) string {
	t.Helper()
	return Write(t, "axigen.pid", strconv.Itoa(pid)+"\n")
}

// FIFO makes a named pipe called name in a new temporary directory and returns its path.
// Opening it for reading blocks until a writer comes, and none does.
func FIFO(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Link makes a symbolic link called name to target in a new temporary directory and
// returns its path.
func Link(t testing.TB, name, target string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Within runs read in another goroutine and returns its result; the test fails at once if
// read has not returned within Deadline (what names the read in the message).
func Within[T any](t testing.TB, what string, read func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- read() }()
	select {
	case r := <-done:
		return r
	case <-time.After(Deadline):
		t.Fatalf("%s still blocked after %s", what, Deadline)
	}
	var zero T
	return zero
}
