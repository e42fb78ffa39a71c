package itest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process has to exit after the SIGTERM of the cleanup.
const stopGrace = 10 * time.Second

// Proc is a process a test started: in its own process group, stdin from /dev/null and
// its output appended to a log file (never the test's own stdout, or `go test` waits for
// the pipe).
type Proc struct {
	Name string
	Log  string // the log file's path
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped
}

// StartProc starts argv. t's cleanup stops it (SIGCONT in case it was stopped, SIGTERM to
// its group, SIGKILL after 10 s), waits for it, and shows the end of its log if t failed.
func StartProc(t testing.TB, name, logPath string, argv ...string) *Proc {
	t.Helper()
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Signal(syscall.SIGCONT)
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			p.Signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (%s), last 3000 bytes:\n%s", name, logPath, b[max(0, len(b)-3000):])
			}
		}
	})
	return p
}

// Signal sends sig to p's process group; a group already gone is not an error.
func (p *Proc) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether p has exited (and was reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits at most limit for p to exit and fails t otherwise.
func (p *Proc) Wait(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s (pid %d) still running after %s", p.Name, p.Pid(), limit)
	}
}

// Stop sends SIGTERM and waits at most limit for p to exit.
func (p *Proc) Stop(t testing.TB, limit time.Duration) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	p.Wait(t, limit)
}

// Run runs a command to completion within 30 s and fails t with its output if it fails.
func Run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := RunErr(argv...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out
}

// RunErr runs a command to completion within 30 s; the error includes its output.
func RunErr(argv ...string) (string, error) {
	out, code := RunCode(30*time.Second, argv...)
	if code != 0 {
		return out, fmt.Errorf("%s: exit %d: %s", argv[0], code, strings.TrimSpace(out))
	}
	return out, nil
}

// RunCode runs a command to completion within limit and returns its combined output and
// exit code; when it could not run (or was killed at the limit) the code is -1 and the
// output ends with the error.
func RunCode(limit time.Duration, argv ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second // a child that keeps the output open cannot hold the call
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return string(out), exit.ExitCode()
	}
	return string(out) + err.Error(), -1
}

// WaitFor calls cond every step until it reports true, failing t after limit with what
// and cond's last detail; it returns how long that took. For conditions on other
// processes, which send no signal a test could wait on: give a generous limit.
func WaitFor(t testing.TB, limit, step time.Duration, what string, cond func() (ok bool, detail string)) time.Duration {
	t.Helper()
	start := time.Now()
	for n := 1; ; n++ {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			if detail != "" {
				detail = "; last: " + detail
			}
			t.Fatalf("timed out after %s (%d tries) waiting for %s%s", limit, n, what, detail)
		}
		time.Sleep(step)
	}
}

// Within runs f and fails t when it has not returned within limit; what names it.
func Within(t testing.TB, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s has not returned after %s", what, limit)
	}
}

// WaitUntil is WaitFor for a condition without a detail.
func WaitUntil(t testing.TB, limit, step time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return WaitFor(t, limit, step, what, func() (bool, string) { return cond(), "" })
}
