package probe

import (
	"testing"
	"time"
)

// TestElapsedStopsAtFinish: a finished trace's Elapsed is its length, not the time since
// it started, however late it is read.
func TestElapsedStopsAtFinish(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := newTraceAt(func() time.Time { return clock })
	tr.Begin("connect")
	clock = clock.Add(40 * time.Millisecond)
	if got := tr.Elapsed(); got != 40*time.Millisecond {
		t.Fatalf("running trace: Elapsed = %s, want 40ms", got)
	}
	clock = clock.Add(10 * time.Millisecond)
	tr.Finish()
	clock = clock.Add(7 * time.Second) // read late, as behind a queue
	if got := tr.Elapsed(); got != 50*time.Millisecond {
		t.Errorf("finished trace read 7s later: Elapsed = %s, want 50ms", got)
	}
	tr.Finish() // a second Finish does not move the end
	if got := tr.Elapsed(); got != 50*time.Millisecond {
		t.Errorf("after a second Finish: Elapsed = %s, want 50ms", got)
	}
}
