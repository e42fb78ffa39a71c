package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/axprobe/axprobe/internal/local"
)

// DefaultMountResync is how often Mounts re-reads the mount table without a signal.
const DefaultMountResync = time.Second

// Mounts calls changed whenever one of paths becomes, or stops being, a mount point in the
// daemon's mount namespace, until ctx ends, when it returns nil.
//
// The kernel flags a change of the table by POLLPRI on /proc/self/mountinfo, at once for a
// mount. An unmount is not always flagged (measured here on Linux 6.18: the flag rides on
// a counter that only mounts advance), so Mounts also re-reads the table every resync
// (DefaultMountResync when 0) — a read of /proc that never touches the mounted filesystem,
// about 70 µs. Without anyone asking, an unmount is therefore noticed within resync; an
// answer given meanwhile reads the table itself (docs/SCORING.md, "Live facts").
func Mounts(ctx context.Context, paths []string, resync time.Duration, changed func()) error {
	m, err := openMounts(paths)
	if err != nil {
		return err
	}
	return m.run(ctx, resync, changed)
}

// mountTable is an open /proc/self/mountinfo and the state of the watched paths when it
// was opened: changes after the open are the ones signalled.
type mountTable struct {
	fd    int
	paths []string
	state string
}

func openMounts(paths []string) (*mountTable, error) {
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mount events: open /proc/self/mountinfo: %w", err)
	}
	return &mountTable{fd: fd, paths: paths, state: mountState(paths)}, nil
}

// run watches until ctx ends and closes the table.
func (m *mountTable) run(ctx context.Context, resync time.Duration, changed func()) error {
	defer unix.Close(m.fd)
	if resync <= 0 {
		resync = DefaultMountResync
	}
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
		_, err := unix.Poll(fds, int(resync.Milliseconds()))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("mount events: poll /proc/self/mountinfo: %w", err)
		}
		if fds[1].Revents != 0 || ctx.Err() != nil {
			return nil
		}
		if now := mountState(m.paths); now != m.state {
			m.state = now
			changed()
		}
	}
}

// mountState says which of paths are mount points now, as a string of 0s and 1s (an
// unreadable table counts as "none mounted": the gates will say why).
func mountState(paths []string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	points, err := local.MountPoints(f)
	if err != nil {
		return ""
	}
	b := make([]byte, len(paths))
	for i, p := range paths {
		b[i] = '0'
		if abs, err := filepath.Abs(p); err == nil && points[abs] {
			b[i] = '1'
		}
	}
	return string(b)
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
