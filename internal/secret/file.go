package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// MaxFileSize bounds what ReadFile reads: a password is short.
const MaxFileSize = 4096

// ReadFile reads a password or token from the file at path: the whole content without one
// trailing newline ("\n" or "\r\n"). It is the one reader of secret files, used by the
// config loader (password_file) and by `axprobe probe --password-file`, and is safe on any
// path a user may name (docs/SECURITY.md):
//
//   - only a regular file is read: a FIFO, a device (/dev/zero), a socket or a directory is
//     refused before it is opened, since opening a FIFO waits for a writer and opening a
//     device can have effects;
//   - the open is non-blocking and the type is checked again on the open file, in case
//     the path was swapped in between;
//   - at most MaxFileSize bytes are read; a larger file is an error;
//   - an empty password is an error.
//
// Errors name the path, never the content.
func ReadFile(path string) (Secret, error) {
	if info, err := os.Stat(path); err != nil {
		return Secret{}, err
	} else if !info.Mode().IsRegular() {
		return Secret{}, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return Secret{}, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return Secret{}, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return Secret{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return Secret{}, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	pw := string(b)
	if line, ok := strings.CutSuffix(pw, "\n"); ok {
		pw = strings.TrimSuffix(line, "\r")
	}
	if pw == "" {
		return Secret{}, fmt.Errorf("%s is empty", path)
	}
	return New(pw), nil
}
