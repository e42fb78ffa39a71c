package realserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/axprobe/axprobe/internal/local"
)

// Process is one server the harness started: the leader of its own session and process
// group, so that a signal sent through Signal, Pause, Resume or Kill reaches every process
// the server forked (Dovecot's login processes, Postfix's smtpd, nginx's workers).
type Process struct {
	Name string // "dovecot", "postfix" or "nginx"
	Log  string // the file that receives the leader's stdout and stderr

	cmd     *exec.Cmd
	done    chan struct{} // closed once the leader has been reaped
	waitErr error         // the leader's exit status; read only after done is closed
}

// startProcess starts argv as the leader of a new session (and so of a new process group)
// with stdin from /dev/null and stdout and stderr appended to logPath: a daemon must never
// hold the test's own stdout, or `go test` waits for the pipe to close.
func startProcess(name, logPath string, argv []string) (*Process, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	// Setsid rather than only Setpgid: Postfix's master insists on leading its session,
	// and for Dovecot and nginx it also detaches them from any controlling terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pgid returns the id of the server's process group (and session), which is also the pid
// of the server's master process.
func (p *Process) Pgid() int { return p.cmd.Process.Pid }

// Processes lists the pids of the server's processes still in existence (zombies
// included): its master and everything it forked. After Stop it is empty.
func (p *Process) Processes() ([]int, error) { return sessionMembers(p.Pgid()) }

// Exited is closed when the master process has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Signal sends sig to every process in the server's process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pgid(), sig); err != nil {
		return fmt.Errorf("signal %v to %s process group %d: %w", sig, p.Name, p.Pgid(), err)
	}
	return nil
}

// Pause stops (SIGSTOP) every process of the server: connections are still accepted by
// the kernel but nothing answers. Call Resume to undo it; Kill and Stop need no Resume.
func (p *Process) Pause() error { return p.Signal(syscall.SIGSTOP) }

// Resume continues (SIGCONT) every process of the server after Pause.
func (p *Process) Resume() error { return p.Signal(syscall.SIGCONT) }

// Kill kills (SIGKILL) every process of the server, as a crash would, and waits, at most
// timeout, until all are gone and reaped: when it returns, the server's ports are closed.
func (p *Process) Kill(timeout time.Duration) error {
	err := p.Signal(syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	if err := p.waitExit(timeout); err != nil {
		return err
	}
	return p.clearSession(timeout)
}

func (p *Process) waitExit(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %s", p.Name, p.Pgid(), timeout)
	}
}

// clearSession kills and reaps whatever is left of the server's session once its master
// has been reaped, and waits, at most timeout, until nothing is. A process that moved to
// a process group of its own is still in the session, so the session is what is checked.
func (p *Process) clearSession(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left, err := sessionMembers(p.Pgid())
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: processes %v still exist %s after its master was killed", p.Name, left, timeout)
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			// Orphans are our children (see becomeSubreaper): reap them. Those not yet
			// reparented give ECHILD and are seen again on the next round.
			_, _ = syscall.Wait4(pid, nil, syscall.WNOHANG, nil)
		}
		time.Sleep(5 * time.Millisecond) // nothing signals when the kernel has reparented an orphan
	}
}

// sessionMembers lists the pids of the processes, zombies included, whose session is sid,
// read from /proc.
func sessionMembers(sid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := local.ReadProcStat(pid)
		if err != nil {
			continue // the process exited meanwhile
		}
		if st.Session == sid {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// becomeSubreaper makes this process the reaper of its orphaned descendants
// (PR_SET_CHILD_SUBREAPER). A server's master may exit before its children (Postfix's
// does: it signals its group and leaves), and a killed master always does; those children
// are then reaped here, at once, by clearSession, instead of whenever init gets to them
// (some container inits never do).
// The attribute lasts for the life of the test binary.
func becomeSubreaper() error {
	const prSetChildSubreaper = 36 // <linux/prctl.h>
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}
