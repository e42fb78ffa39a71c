package local

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxPidFile bounds how much of a pidfile is read: a pid is at most a few digits, and a
// pidfile pointing at something huge must not cost memory.
const maxPidFile = 64

// commLen is the kernel's limit on /proc/<pid>/comm (TASK_COMM_LEN minus the NUL).
const commLen = 15

// CheckProcess finds the live process the service runs as and returns its pid.
//
// With a pidfile, the pid it holds must be running, must not be a zombie and, when name is
// not empty, must be name. With only a name, /proc is scanned for a live process that is
// name. A process "is" name when the base name of its executable (/proc/<pid>/exe, with
// symlinks resolved, so /opt/axigen/bin/axigen → axigen-10.6 counts as axigen-10.6) is name,
// or when its command name (/proc/<pid>/comm, the name it was started by) is name. name may
// be a path; only its base name is compared.
//
// Errors name the pidfile or pid and say what is wrong with it:
// "pidfile /x: no such file", "pidfile /x: not a regular file (a FIFO)", "pid 1234 is not
// running", "pid 1234 is bash, not axigen".
func CheckProcess(pidfile, name string) (int, error) {
	if name != "" {
		name = filepath.Base(name)
	}
	switch {
	case pidfile != "":
		pid, err := readPidFile(pidfile)
		if err != nil {
			return 0, err
		}
		if err := checkPid(pid, name); err != nil {
			return 0, err
		}
		return pid, nil
	case name != "":
		return findProcess(name)
	}
	return 0, errors.New("process check needs a pidfile or a process name")
}

// readPidFile reads the pid in path. The pidfile sits in a directory the Axigen user can
// write (docs/SECURITY.md), so it may be anything: it is opened non-blocking (a FIFO must
// not hang the gate), must be a regular file, and at most maxPidFile+1 bytes are read.
// Errors never quote more than the parsed text of a short file.
func readPidFile(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, describe(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, describe(err))
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("pidfile %s: not a regular file (%s)", path, fileType(st.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPidFile+1))
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, describe(err))
	}
	pid, err := parsePid(b)
	if err != nil {
		return 0, fmt.Errorf("pidfile %s: %w", path, err)
	}
	return pid, nil
}

// parsePid parses a pidfile's content: a positive decimal number, optionally surrounded by
// white space.
func parsePid(b []byte) (int, error) {
	if len(b) > maxPidFile {
		return 0, fmt.Errorf("longer than %d bytes, not a pid", maxPidFile)
	}
	text := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 0 || text[0] == '+' {
		// The content is not quoted: the pidfile may be a link to a file the reader of
		// this error must not see.
		if text == "" {
			return 0, errors.New("empty, not a pid")
		}
		return 0, fmt.Errorf("%d bytes that are not a positive decimal number, not a pid", len(text))
	}
	return pid, nil
}

// fileType names the kind of a file that is not a regular one.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	}
	return "type " + m.Type().String()
}

// describe shortens the common file errors to what an operator needs to read.
func describe(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkPid says whether pid is running, not a zombie and (when name is set) is name. The
// common case costs one read of /proc/<pid>/stat, which holds both the state and the
// command name; the executable's link is read only when the command name differs.
func checkPid(pid int, name string) error {
	st, err := ReadProcStat(pid)
	if err != nil {
		return err
	}
	state, comm := st.State, st.Comm
	if state == 'Z' || state == 'X' {
		return fmt.Errorf("pid %d is not running (zombie)", pid)
	}
	if name == "" || comm == name || (len(name) > commLen && comm == name[:commLen]) {
		return nil
	}
	exe := procExe(pid)
	if exe == name {
		return nil
	}
	is := exe
	if is == "" {
		is = comm
	}
	if is == "" {
		is = "an unknown program"
	}
	return fmt.Errorf("pid %d is %s, not %s", pid, is, name)
}

// ProcStat is what /proc/<pid>/stat says of a process: what the process gate reads, and
// what internal/realserver reads to find the processes of a server's session.
type ProcStat struct {
	State         byte   // R, S, T (stopped), Z (zombie), X (dead), ...
	Comm          string // the command name (at most commLen bytes)
	Pgrp, Session int
}

// ReadProcStat reads /proc/<pid>/stat. The error says that pid is not running, or why the
// file could not be read or parsed.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return ProcStat{}, fmt.Errorf("pid %d is not running", pid)
	}
	if err != nil {
		return ProcStat{}, fmt.Errorf("pid %d: %w", pid, describe(err))
	}
	st, ok := ParseProcStat(b)
	if !ok {
		return ProcStat{}, fmt.Errorf("pid %d: cannot parse /proc/%d/stat", pid, pid)
	}
	return st, nil
}

// ParseProcStat parses the text of /proc/<pid>/stat, "pid (comm) state ppid pgrp session
// ...". comm is chosen by the process and may itself hold blanks and parentheses: it runs
// from the first '(' to the last ')', and the fields are counted from there. For text of
// another shape ok is false and st is zero. It allocates only comm.
func ParseProcStat(b []byte) (st ProcStat, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcStat{}, false
	}
	var f [4][]byte // state, ppid, pgrp, session
	rest := b[end+1:]
	for i := range f {
		rest = bytes.TrimLeft(rest, " \t\n")
		n := bytes.IndexAny(rest, " \t\n")
		if n < 0 {
			n = len(rest)
		}
		f[i], rest = rest[:n], rest[n:]
	}
	pgrp, ok1 := statInt(f[2])
	session, ok2 := statInt(f[3])
	if len(f[0]) != 1 || !ok1 || !ok2 {
		return ProcStat{}, false
	}
	return ProcStat{State: f[0][0], Comm: string(b[open+1 : end]), Pgrp: pgrp, Session: session}, true
}

// statInt parses a field of /proc/<pid>/stat: a decimal int, maybe negative, of at most
// 18 digits. Unlike strconv.Atoi(string(b)) it does not allocate, which matters to the
// process gate's scan of every process.
func statInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// procExe returns the base name of pid's executable, or "" when it cannot be read (kernel
// threads, a process that just exited, another user's process without the privilege).
func procExe(pid int) string {
	target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(target, " (deleted)"))
}

// findProcess scans /proc for a live process that is name and returns the lowest such pid.
func findProcess(name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("process %s: list /proc: %w", name, err)
	}
	best := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if best != 0 && pid > best {
			continue
		}
		if checkPid(pid, name) == nil {
			best = pid
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("no process named %s is running", name)
	}
	return best, nil
}

// Alive reports nil when pid is a running process (not a zombie), else an error saying why.
func Alive(pid int) error { return checkPid(pid, "") }
