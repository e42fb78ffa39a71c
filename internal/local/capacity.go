package local

import (
	"context"
	"fmt"
	"sync"
	"syscall"
)

// Capacity is the size and free room of a filesystem, in bytes and in inodes. FreeBytes is
// what an unprivileged user may still write (statfs f_bavail): Axigen runs as user axigen
// and cannot use the blocks reserved for root. Inodes is 0 on filesystems that do not
// count inodes (btrfs, some NFS servers); their inode room cannot run out, or is not known.
type Capacity struct {
	SizeBytes, FreeBytes uint64
	Inodes, FreeInodes   uint64
}

// FreeBytesPercent is the free space as a percentage of the filesystem's size (100 for an
// empty size).
func (c Capacity) FreeBytesPercent() float64 {
	if c.SizeBytes == 0 {
		return 100
	}
	return 100 * float64(c.FreeBytes) / float64(c.SizeBytes)
}

// FreeInodesPercent is the free inodes as a percentage of all inodes, and false when the
// filesystem does not count inodes.
func (c Capacity) FreeInodesPercent() (float64, bool) {
	if c.Inodes == 0 {
		return 0, false
	}
	return 100 * float64(c.FreeInodes) / float64(c.Inodes), true
}

// CapacityProbe measures a filesystem's capacity without ever blocking its caller past a
// deadline. statfs on a hung NFS server blocks in the kernel; the call runs in its own
// goroutine, and while one is stuck no other is started (like Storage's canary). A
// CapacityProbe must not be copied after first use; Measure is safe for concurrent use.
type CapacityProbe struct {
	Path string

	mu       sync.Mutex
	inflight chan struct{} // closed when the last statfs returned; nil before the first
	statfs   func(path string, st *syscall.Statfs_t) error
}

// Measure returns the capacity of the filesystem holding p.Path, or an error naming the
// path: statfs failed, ctx ended first, or an earlier statfs is still stuck.
func (p *CapacityProbe) Measure(ctx context.Context) (Capacity, error) {
	if err := ctx.Err(); err != nil {
		return Capacity{}, fmt.Errorf("storage %s: capacity: %w", p.Path, err)
	}
	p.mu.Lock()
	if p.inflight != nil {
		select {
		case <-p.inflight:
		default:
			p.mu.Unlock()
			return Capacity{}, fmt.Errorf("storage %s: capacity: previous statfs still stuck, not starting another", p.Path)
		}
	}
	finished := make(chan struct{})
	p.inflight = finished
	statfs := p.statfs
	if statfs == nil {
		statfs = syscall.Statfs
	}
	p.mu.Unlock()

	type answer struct {
		c   Capacity
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var st syscall.Statfs_t
		err := statfs(p.Path, &st)
		// Finished before answering: a Measure that starts the moment this one returns
		// must not find this statfs still running.
		close(finished)
		if err != nil {
			done <- answer{err: fmt.Errorf("storage %s: statfs: %w", p.Path, err)}
			return
		}
		done <- answer{c: capacityOf(&st)}
	}()
	select {
	case a := <-done:
		return a.c, a.err
	case <-ctx.Done():
		return Capacity{}, fmt.Errorf("storage %s: statfs did not answer in time: %w", p.Path, ctx.Err())
	}
}

// capacityOf converts statfs's block counts into bytes.
func capacityOf(st *syscall.Statfs_t) Capacity {
	bsize := uint64(st.Bsize)
	if st.Frsize > 0 {
		bsize = uint64(st.Frsize) // the unit of the block counts where the two differ
	}
	return Capacity{
		SizeBytes:  st.Blocks * bsize,
		FreeBytes:  st.Bavail * bsize,
		Inodes:     st.Files,
		FreeInodes: st.Ffree,
	}
}
