package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// CheckStorage checks once that path is a mount point and writable, by writing a canary
// file named canary ("" means ".axprobe-canary-<pid>") within ctx's deadline. It is
// Storage{Path: path, Canary: canary, RequireMount: true}.Check; a caller that checks
// repeatedly should keep one Storage, which refuses to pile canaries onto a hung
// filesystem.
func CheckStorage(ctx context.Context, path, canary string) error {
	s := &Storage{Path: path, Canary: canary, RequireMount: true}
	return s.Check(ctx)
}

// Storage checks that a directory on shared storage is usable: mounted (when RequireMount
// is set) and writable. Set the fields before the first Check and do not change them
// afterwards; a Storage must not be copied after first use. Check is safe for concurrent
// use.
type Storage struct {
	Path         string // directory to check
	Canary       string // canary file name inside Path; "" means ".axprobe-canary-<pid>"
	RequireMount bool   // Path must be a mount point, not a directory on its parent's filesystem

	mu       sync.Mutex
	inflight chan struct{} // closed when the last canary write finished; nil before the first
	write    func(path string) error
}

// Check writes the canary (create, write, fsync, close, remove) and reports the first
// error, naming the path: a read-only filesystem, a full one (the error wraps
// syscall.ENOSPC), a path that is not a mount point.
//
// The write runs in its own goroutine. If ctx ends first, Check returns a timeout error at
// once; the write goroutine stays blocked in the kernel until the filesystem answers (that
// cannot be interrupted), and until it returns every Check fails at once with "previous
// canary write still stuck" instead of starting another one. Call Check with a deadline.
func (s *Storage) Check(ctx context.Context) error {
	if s.Path == "" {
		return errors.New("storage check needs a path")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage %s: %w", s.Path, err)
	}
	if s.RequireMount {
		ok, err := IsMountPoint(s.Path)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("storage %s: not a mount point (the shared filesystem is not mounted here)", s.Path)
		}
	}
	done, err := s.start()
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("storage %s: canary write did not finish in time: %w", s.Path, ctx.Err())
	}
}

// start launches one canary write unless the previous one is still running.
func (s *Storage) start() (<-chan error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		select {
		case <-s.inflight:
		default:
			return nil, fmt.Errorf("storage %s: previous canary write still stuck, not starting another", s.Path)
		}
	}
	finished := make(chan struct{})
	s.inflight = finished
	write := s.write
	if write == nil {
		write = writeCanary
	}
	name := s.Canary
	if name == "" {
		name = ".axprobe-canary-" + strconv.Itoa(os.Getpid())
	}
	file := filepath.Join(s.Path, name)
	result := make(chan error, 1)
	go func() {
		err := write(file)
		// Mark the write finished before its result can be seen: a Check that starts the
		// moment the previous one returned must find it finished, not "still stuck".
		close(finished)
		result <- err
	}()
	return result, nil
}

// writeCanary creates file, writes to it, fsyncs, closes and removes it.
//
// The directory belongs to the Axigen user, who may plant anything under the canary's name
// (docs/SECURITY.md). The canary is therefore created with O_EXCL|O_NOFOLLOW: a symlink or
// a file already there is never opened, written or truncated, only unlinked (which removes
// the link itself, never its target) before one more try.
func writeCanary(file string) error {
	dir := filepath.Dir(file)
	f, err := createCanary(file)
	if errors.Is(err, fs.ErrExist) {
		// A canary left by a crash, or something planted: unlink it and try once more.
		if rerr := syscall.Unlink(file); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return storageErr(dir, "remove stale canary", rerr)
		}
		f, err = createCanary(file)
	}
	if err != nil {
		return storageErr(dir, "create canary", err)
	}
	_, werr := f.WriteString("axprobe canary: safe to delete\n")
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	rerr := os.Remove(file)
	switch {
	case werr != nil:
		return storageErr(dir, "write canary", werr)
	case cerr != nil:
		return storageErr(dir, "close canary", cerr)
	case rerr != nil:
		return storageErr(dir, "remove canary", rerr)
	}
	return nil
}

// createCanary creates file exclusively, never following a symlink.
func createCanary(file string) (*os.File, error) {
	return os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
}

// storageErr names the directory and keeps the errno reachable with errors.Is.
func storageErr(dir, op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("storage %s: %s: %w", dir, op, err)
}

// IsMountPoint reports whether path is the root of a mounted filesystem: its device differs
// from its parent's, or it is listed as a mount point in /proc/self/mountinfo (which also
// catches bind mounts of the same device).
func IsMountPoint(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, fmt.Errorf("storage %s: %w", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var st, parent syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		return false, fmt.Errorf("storage %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return false, fmt.Errorf("storage %s: not a directory", path)
	}
	if abs == "/" {
		return true, nil
	}
	if err := syscall.Stat(filepath.Dir(abs), &parent); err != nil {
		return false, fmt.Errorf("storage %s: parent: %w", path, err)
	}
	if st.Dev != parent.Dev {
		return true, nil
	}
	return inMountInfo(abs)
}

// MountListed reports whether path (made absolute and clean, symlinks not resolved) is a
// mount point listed in /proc/self/mountinfo. Unlike IsMountPoint it never touches the
// filesystem at path, so a hung NFS server cannot block it: it is the storage gate's live
// check at answer time (docs/SCORING.md, "Live facts").
func MountListed(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, fmt.Errorf("storage %s: %w", path, err)
	}
	return inMountInfo(abs)
}

// inMountInfo reports whether dir is a mount point listed in /proc/self/mountinfo.
func inMountInfo(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("storage %s: %w", dir, err)
	}
	defer f.Close()
	points, err := MountPoints(f)
	if err != nil {
		return false, fmt.Errorf("storage %s: read mountinfo: %w", dir, err)
	}
	return points[dir], nil
}

// MountPoints parses the mountinfo format (proc(5)) and returns the set of mount points.
// Lines longer than 1 MiB are an error; lines with fewer than five fields are skipped.
func MountPoints(r io.Reader) (map[string]bool, error) {
	points := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw": the
		// fifth field is the mount point, with space, tab, newline and \ octal-escaped.
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 {
			points[unescapeMount(fields[4])] = true
		}
	}
	return points, sc.Err()
}

// unescapeMount decodes the kernel's \ooo escapes in a mountinfo path.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
