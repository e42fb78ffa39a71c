package watch

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mounts calls changed after every change of the mount table (in the daemon's mount
// namespace) until ctx ends, when it returns nil. The kernel signals a change by POLLPRI
// on /proc/self/mountinfo; the signal is a flag, not a queue, so nothing can be lost
// between two polls: after any number of changes the next poll returns at once.
func Mounts(ctx context.Context, changed func()) error {
	m, err := openMounts()
	if err != nil {
		return err
	}
	return m.run(ctx, changed)
}

// mountTable is an open /proc/self/mountinfo: changes after the open are signalled.
type mountTable struct{ fd int }

func openMounts() (*mountTable, error) {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mount events: open /proc/self/mountinfo: %w", err)
	}
	return &mountTable{fd: fd}, nil
}

// run polls until ctx ends and closes the table.
func (m *mountTable) run(ctx context.Context, changed func()) error {
	defer unix.Close(m.fd)
	// Canceling ctx closes w, which makes r readable and ends the poll. Only w is touched
	// from the other goroutine, and an os.File may be closed concurrently and twice.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("mount events: pipe: %w", err)
	}
	defer r.Close()
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	wake, err := rawFd(r)
	if err != nil {
		return fmt.Errorf("mount events: %w", err)
	}

	fds := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLPRI}, {Fd: int32(wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("mount events: poll /proc/self/mountinfo: %w", err)
		}
		if fds[1].Revents != 0 || ctx.Err() != nil {
			return nil
		}
		if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
			changed()
		}
	}
}

// rawFd returns f's descriptor without switching it to blocking mode (as f.Fd would).
func rawFd(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}
