package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/realserver"
)

func realenvCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlagSet("axbench realenv", `Usage: axbench realenv --env FILE

Starts real Dovecot (IMAP, POP3), Postfix (SMTP) and nginx (HTTP) on free ports of
127.0.0.1 with internal/realserver, writes FILE (shell assignments: SMTP=127.0.0.1:PORT,
DOVECOT_PGID=..., CA_FILE=..., PASSWORD_FILE=...) once every listener answers, and runs
until SIGTERM or SIGINT, then stops every server and removes its directory. Needs root.

Example:
  axbench realenv --env /tmp/real.env & . /tmp/real.env

Flags:
`, stderr)
	envPath := fs.String("env", "", "write the servers' addresses here as shell assignments (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *envPath == "" {
		return errUsage{"--env is required"}
	}

	// realserver is a test helper: it runs only with the integration switch on.
	if err := os.Setenv(realserver.EnvVar, "1"); err != nil {
		return err
	}
	tb := &standInTB{log: stderr}
	defer tb.runCleanups()
	srv, err := run(tb, func() *realserver.Servers { return realserver.Start(tb, realserver.Options{}) })
	if err != nil {
		return err
	}
	if err := writeRealEnv(*envPath, srv); err != nil {
		return err
	}
	defer os.Remove(*envPath)
	fmt.Fprintf(stderr, "axbench realenv: servers ready under %s; environment in %s\n", srv.Dir, *envPath)
	<-ctx.Done()
	return nil
}

// writeRealEnv writes what a script needs to reach srv as shell assignments. The test
// mailbox's password goes to a file of its own (mode 0600) next to the servers' data.
func writeRealEnv(path string, srv *realserver.Servers) error {
	pwFile := filepath.Join(srv.Dir, "probe.pw")
	if err := os.WriteFile(pwFile, []byte(srv.Password.Reveal()+"\n"), 0o600); err != nil {
		return err
	}
	vars := [][2]string{
		{"REAL_DIR", srv.Dir}, {"CA_FILE", srv.CAFile}, {"MAIL_USER", srv.User},
		{"PASSWORD_FILE", pwFile}, {"MAILBOX", srv.Mailbox},
		{"SMTP", srv.SMTP}, {"SMTPS", srv.SMTPS}, {"IMAP", srv.IMAP}, {"IMAPS", srv.IMAPS},
		{"POP3", srv.POP3}, {"POP3S", srv.POP3S}, {"HTTP", srv.HTTP}, {"HTTPS", srv.HTTPS},
		{"DOVECOT_PGID", strconv.Itoa(srv.Dovecot.Pgid())},
		{"POSTFIX_PGID", strconv.Itoa(srv.Postfix.Pgid())},
		{"NGINX_PGID", strconv.Itoa(srv.Nginx.Pgid())},
	}
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=%s\n", v[0], shellQuote(v[1]))
	}
	// Written under another name and renamed: a script polling for the file never reads
	// half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// standInTB lets a program use a test helper that takes a testing.TB (internal/realserver).
// It implements what such a helper calls: Helper, Logf, Errorf, Fatalf, Skipf, Cleanup and
// Failed. Any other method reaches the nil embedded interface and panics, which would be a
// bug in this program. Fatalf and Skipf end the helper's call through run.
type standInTB struct {
	testing.TB // nil; present only to satisfy the interface's unexported method

	log      io.Writer
	mu       sync.Mutex
	failed   bool
	cleanups []func()
}

// fatal is the panic value Fatalf and Skipf use to leave the helper; run recovers it.
type fatal struct{ msg string }

func (t *standInTB) Helper() {}

func (t *standInTB) Logf(format string, args ...any) {
	fmt.Fprintf(t.log, format+"\n", args...)
}

func (t *standInTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	t.Logf(format, args...)
}

func (t *standInTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (t *standInTB) Skipf(format string, args ...any) {
	panic(fatal{"skipped: " + fmt.Sprintf(format, args...)})
}

func (t *standInTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *standInTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// run calls f and turns a Fatalf or Skipf inside it into an error.
func run[T any](t *standInTB, f func() T) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			ft, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(ft.msg)
		}
	}()
	return f(), nil
}

// runCleanups runs the registered cleanups, last registered first, as testing does.
func (t *standInTB) runCleanups() {
	t.mu.Lock()
	fs := slices.Clone(t.cleanups)
	t.cleanups = nil
	t.mu.Unlock()
	slices.Reverse(fs)
	for _, f := range fs {
		f()
	}
}
