package local

import (
	"context"
	"fmt"
	"sync"
)

// Bounded runs a read of local state that is quick in the normal case but may block in the
// kernel: a pidfile on a hung NFS mount, say. The read runs on its own goroutine; callers
// wait for it no longer than their context allows, and at most one read is in flight at a
// time, so a hung filesystem costs one stuck goroutine, never one per caller.
//
// A caller that arrives while a read is in flight shares it: that read began before the
// caller arrived, by the read's own duration (microseconds) unless it is stuck, in which
// case the caller gets an error when its context ends. A joining caller's own read func is
// not run: every caller of one Bounded must pass the same read (one Bounded per gate), and
// a read hands results back only through what it returns or writes before returning. The
// zero Bounded is ready to use; it must not be copied after first use.
type Bounded struct {
	mu       sync.Mutex
	inflight *boundedCall
}

type boundedCall struct {
	done chan struct{}
	err  error
}

// Do runs read (or joins the read in flight) and returns its error, or, when ctx ends
// first, an error naming what and wrapping ctx's error.
func (b *Bounded) Do(ctx context.Context, what string, read func() error) error {
	b.mu.Lock()
	c := b.inflight
	if c == nil {
		c = &boundedCall{done: make(chan struct{})}
		b.inflight = c
		go b.run(c, read)
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("%s: did not finish in time (blocked in the kernel?): %w", what, ctx.Err())
	}
}

func (b *Bounded) run(c *boundedCall, read func() error) {
	c.err = read()
	b.mu.Lock()
	b.inflight = nil
	b.mu.Unlock()
	close(c.done)
}
