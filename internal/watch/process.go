package watch

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/axprobe/axprobe/internal/local"
)

// Process watches the process a process gate checks (by pidfile, or by name without one)
// and calls Changed when it exits and when a process is found again after it was gone.
type Process struct {
	PidFile, Name string
	// Repoll is how often the pidfile (or /proc) is read again while no process is found,
	// and how often the pid is checked when pidfd_open is not available; 200 ms when 0.
	Repoll  time.Duration
	Changed func()

	// pidfdOpen is unix.PidfdOpen; tests replace it to force the fallback.
	pidfdOpen func(pid, flags int) (int, error)
	waits     atomic.Int32 // how often Run began waiting for a live process to exit
}

// Run watches until ctx ends and returns nil then.
//
// While the process runs, Run waits on a pidfd (pidfd_open(2), Linux 5.3+): the kernel
// wakes it the moment the process exits, at no cost meanwhile. When pidfd_open fails (an
// older kernel, a seccomp filter), it checks /proc/<pid> every Repoll instead. While no
// process is found it reads the pidfile again every Repoll: a new pidfile is noticed
// within one Repoll (inotify would miss a pidfile on NFS).
func (p *Process) Run(ctx context.Context) error {
	repoll := p.Repoll
	if repoll <= 0 {
		repoll = 200 * time.Millisecond
	}
	var reads local.Bounded // a pidfile on a hung filesystem must not wedge the watcher
	wasAlive, known := false, false
	for ctx.Err() == nil {
		pid, err := p.find(ctx, &reads, repoll)
		alive := err == nil
		if known && alive != wasAlive {
			p.Changed()
		}
		wasAlive, known = alive, true
		if !alive {
			sleep(ctx, repoll)
			continue
		}
		p.waits.Add(1)
		p.waitExit(ctx, pid, repoll)
	}
	return nil
}

// find reads the pidfile (or scans /proc) within a bound, so that Run keeps answering to
// ctx even when the read hangs.
func (p *Process) find(ctx context.Context, reads *local.Bounded, bound time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*bound)
	defer cancel()
	var pid int
	err := reads.Do(ctx, "process watch", func() error {
		var err error
		pid, err = local.CheckProcess(p.PidFile, p.Name)
		return err
	})
	if err != nil {
		// Do may have returned at ctx's deadline with the read still running: pid is its
		// to write, not ours to read (the race detector caught this under load).
		return 0, err
	}
	return pid, nil
}

// waitExit returns when pid has exited or ctx ended.
func (p *Process) waitExit(ctx context.Context, pid int, repoll time.Duration) {
	open := p.pidfdOpen
	if open == nil {
		open = unix.PidfdOpen
	}
	fd, err := open(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return // gone already
	}
	if err == nil && waitPidfd(ctx, fd) == nil {
		return
	}
	// No pidfd (or it could not be waited on): look at /proc/<pid> every repoll.
	for ctx.Err() == nil && local.Alive(pid) == nil {
		sleep(ctx, repoll)
	}
}

// waitPidfd waits until the pidfd fd is readable (its process exited) or ctx ends. It
// takes ownership of fd. It returns an error when the runtime's poller cannot wait on it.
func waitPidfd(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	err = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0 || (err != nil && !errors.Is(err, unix.EINTR))
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
