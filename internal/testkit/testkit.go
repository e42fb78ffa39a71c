// Package testkit holds what the tests of several packages (internal/ipc, internal/shim,
// internal/daemon, internal/web, cmd/axprobe) need alike: running a server until the test
// ends, loopback listeners that play a fixed part, waiting on a condition or a child's
// first line with a generous bound, and a log sink safe for many goroutines. Tests wait on
// events, never on a short wall-clock sleep: every bound here is tens of seconds, far
// beyond what a loaded two-core machine needs.
//
// It imports no axprobe package, so that any package's own tests can use it.
package testkit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Bound is how long the waits here give an event before they fail the test.
const Bound = 20 * time.Second

// Run runs serve in a goroutine with a context of its own and returns stop, which cancels
// that context and waits (at most Bound) for serve to return, failing the test unless it
// returns nil. stop runs at the end of the test too; calling it again does nothing.
func Run(t testing.TB, what string, serve func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(Bound):
			t.Errorf("%s did not return within %s of its context's end", what, Bound)
		}
	})
	t.Cleanup(stop)
	return stop
}
