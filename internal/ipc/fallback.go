package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FallbackSuffix is appended to the socket path to name the fallback file.
const FallbackSuffix = ".fallback"

// maxFallbackFile bounds how much of a fallback file ReadFallback reads.
const maxFallbackFile = 1 << 20

// fallbackHeader is the first line of a fallback file; the number is the format's major
// version.
const fallbackHeader = "axprobe-fallback=1"

// FallbackTarget is what the monitor shim needs to check a target directly when the daemon
// cannot answer: the local facts and the critical ports.
type FallbackTarget struct {
	Name     string        // target name, as in MONITOR
	VIP      string        // address that must be on a local interface; "" = none
	PidFile  string        // process gate pidfile; "" = none
	Process  string        // process gate executable name; "" = none
	Ports    []string      // host:port of each critical listener
	Interval time.Duration // the daemon's probe interval; 0 = unknown
}

// FallbackPath returns the fallback file's path for a socket path.
func FallbackPath(socket string) string { return socket + FallbackSuffix }

// WriteFallback writes targets to path atomically (a temp file in the same directory,
// fsynced, renamed over path, then the directory fsynced), mode 0644: it holds no secrets.
// The format is line-based key=value (see docs/SOCKET.md):
//
//	axprobe-fallback=1
//	target=axigen
//	vip=10.0.0.5
//	pidfile=/var/opt/axigen/run/axigen.pid
//	process=axigen
//	port=10.0.0.5:25
//	interval=10s
//
// It returns an error naming the target and field when a value cannot be written (a line
// break in it, a bad address).
func WriteFallback(path string, targets []FallbackTarget) error {
	var b bytes.Buffer
	b.WriteString("# axprobe fallback file: written by the daemon, read by axprobe-monitor only when\n")
	b.WriteString("# the daemon cannot answer. Do not edit; it is rewritten on every (re)start.\n")
	b.WriteString(fallbackHeader + "\n")
	seen := make(map[string]bool, len(targets))
	for i, t := range targets {
		if _, err := t.validate(); err != nil {
			return fmt.Errorf("fallback target %d: %w", i, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("fallback target %d: target %s listed twice", i, t.Name)
		}
		seen[t.Name] = true
		b.WriteString("\ntarget=" + t.Name + "\n")
		for _, kv := range [][2]string{{"vip", t.VIP}, {"pidfile", t.PidFile}, {"process", t.Process}} {
			if kv[1] != "" {
				b.WriteString(kv[0] + "=" + kv[1] + "\n")
			}
		}
		for _, p := range t.Ports {
			b.WriteString("port=" + p + "\n")
		}
		if t.Interval > 0 {
			b.WriteString("interval=" + t.Interval.String() + "\n")
		}
	}
	if b.Len() > maxFallbackFile {
		return fmt.Errorf("fallback %s: %d bytes, more than the %d a reader accepts", path, b.Len(), maxFallbackFile)
	}
	return writeAtomic(path, b.Bytes())
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".axprobe-fallback-*")
	if err != nil {
		return fmt.Errorf("fallback %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fallback %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("fallback %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadFallback reads the fallback file at path. It is strict about what it knows (the
// header, each known key's value, keys before the first target, duplicate targets) and
// ignores keys it does not know, so an older shim can read a newer daemon's file of the
// same major version. Errors name the file and the line, never the file's content: the
// shim runs as root, and a file planted in its place may be anyone's secret.
//
// It opens the file without following a symlink and without blocking (a FIFO or a device
// cannot hang it), and refuses anything but a regular file with a single link, at most
// 1 MiB. With trusted uids given, the file must be owned by one of them and writable by
// nobody else (no group or world write bit): whoever can write it decides what the shim
// checks. docs/SECURITY.md has the trust model.
func ReadFallback(path string, trusted ...int) ([]FallbackTarget, error) {
	data, err := readTrusted(path, maxFallbackFile, trusted)
	if err != nil {
		return nil, fmt.Errorf("fallback %s: %w", path, err)
	}
	targets, err := parseFallback(data)
	if err != nil {
		return nil, fmt.Errorf("fallback %s%w", path, err)
	}
	return targets, nil
}

// readTrusted reads at most limit bytes of the regular file at path, as ReadFallback
// describes; more than limit is an error. Errors never hold the content.
func readTrusted(path string, limit int, trusted []int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, errors.New("is a symbolic link; not following it")
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("is a %s, not a regular file", fileKind(fi))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Nlink != 1 {
			return nil, fmt.Errorf("has %d hard links; the daemon writes it with one", st.Nlink)
		}
		if len(trusted) > 0 && !slices.Contains(trusted, int(st.Uid)) {
			return nil, fmt.Errorf("is owned by uid %d, not by the daemon's (uid %s); not trusting it", st.Uid, uidList(trusted))
		}
	}
	if len(trusted) > 0 && fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("has mode %04o: others than its owner can write it; not trusting it", fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// parseFallback parses a fallback file's content. Its errors start with ":<line>: " so the
// caller can put the file name in front, and quote nothing of the content but the names
// of known keys.
func parseFallback(data []byte) ([]FallbackTarget, error) {
	if len(data) > maxFallbackFile {
		return nil, fmt.Errorf(": larger than %d bytes", maxFallbackFile)
	}
	var (
		targets   []FallbackTarget
		cur       *FallbackTarget
		seenKeys  map[string]bool
		sawHeader bool
		names     = make(map[string]bool)
	)
	finish := func(lineNo int) error {
		if cur == nil {
			return nil
		}
		if field, err := cur.validate(); err != nil {
			return fmt.Errorf(":%d: target %d: bad %s", lineNo, len(targets)+1, field)
		}
		targets = append(targets, *cur)
		return nil
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf(":%d: not a key=value line", n)
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf(":%d: contains a control character", n)
		}
		if !sawHeader {
			if key != "axprobe-fallback" {
				return nil, fmt.Errorf(":%d: first line must be %q", n, fallbackHeader)
			}
			if value != "1" {
				return nil, fmt.Errorf(":%d: format version not supported (want 1)", n)
			}
			sawHeader = true
			continue
		}
		if key == "target" {
			if err := finish(n - 1); err != nil {
				return nil, err
			}
			if names[value] {
				return nil, fmt.Errorf(":%d: a target listed twice", n)
			}
			names[value] = true
			cur = &FallbackTarget{Name: value}
			seenKeys = make(map[string]bool)
			continue
		}
		known := key == "vip" || key == "pidfile" || key == "process" || key == "port" || key == "interval"
		if !known {
			continue // a newer daemon's key
		}
		if cur == nil {
			return nil, fmt.Errorf(":%d: %s before the first target=", n, key)
		}
		if key != "port" && seenKeys[key] {
			return nil, fmt.Errorf(":%d: %s given twice for one target", n, key)
		}
		seenKeys[key] = true
		switch key {
		case "vip":
			cur.VIP = value
		case "pidfile":
			cur.PidFile = value
		case "process":
			cur.Process = value
		case "port":
			cur.Ports = append(cur.Ports, value)
		case "interval":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf(":%d: interval is not a positive duration", n)
			}
			cur.Interval = d
		}
	}
	if !sawHeader {
		return nil, fmt.Errorf(":1: no %q header: not a fallback file", fallbackHeader)
	}
	if err := finish(len(lines)); err != nil {
		return nil, err
	}
	return targets, nil
}

// validate checks that t can be written to and read back from a fallback file. It returns
// the bad field's name with an error that quotes the value (for the writer, whose values
// are the daemon's own; the reader shows only the field).
func (t FallbackTarget) validate() (string, error) {
	if err := ValidTarget(t.Name); err != nil {
		return "target", err
	}
	for _, kv := range [][2]string{{"pidfile", t.PidFile}, {"process", t.Process}} {
		if strings.ContainsFunc(kv[1], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return kv[0], fmt.Errorf("target %s: %s %q contains a control character", t.Name, kv[0], kv[1])
		}
	}
	if t.VIP != "" {
		if _, err := netip.ParseAddr(t.VIP); err != nil {
			return "vip", fmt.Errorf("target %s: vip %q is not an IP address", t.Name, clip(t.VIP, 64))
		}
	}
	for _, p := range t.Ports {
		host, port, err := net.SplitHostPort(p)
		if err != nil || host == "" {
			return "port", fmt.Errorf("target %s: port %q is not host:port", t.Name, clip(p, 64))
		}
		if strings.ContainsFunc(host, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
			return "port", fmt.Errorf("target %s: port %q: bad host", t.Name, clip(p, 64))
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '0' {
			return "port", fmt.Errorf("target %s: port %q: port must be 1-65535", t.Name, clip(p, 64))
		}
	}
	if t.Interval < 0 {
		return "interval", fmt.Errorf("target %s: interval %s is negative", t.Name, t.Interval)
	}
	return "", nil
}

// FindFallback returns the target named name from targets ("" = the first one).
func FindFallback(targets []FallbackTarget, name string) (FallbackTarget, error) {
	if len(targets) == 0 {
		return FallbackTarget{}, errors.New("fallback file lists no target")
	}
	if name == "" {
		return targets[0], nil
	}
	for _, t := range targets {
		if t.Name == name {
			return t, nil
		}
	}
	return FallbackTarget{}, fmt.Errorf("fallback file has no target %q", name)
}
