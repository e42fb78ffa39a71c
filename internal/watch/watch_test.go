package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/axprobe/axprobe/internal/testkit"
)

// deadline bounds every wait for an event: generous, for a loaded CI machine. The events
// themselves arrive in milliseconds.
const deadline = 30 * time.Second

// signals returns a changed func and the channel it signals on (never blocking).
func signals() (func(), chan struct{}) {
	ch := make(chan struct{}, 1)
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}, ch
}

func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(deadline):
		t.Fatalf("no change signalled within %s after %s", deadline, what)
	}
}

// startSleep starts a child that is killed and reaped when the test ends, and writes its
// pid to a pidfile.
func startSleep(t *testing.T, pidfile string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func testProcessWatch(t *testing.T, pidfdOpen func(int, int) (int, error)) {
	pidfile := filepath.Join(t.TempDir(), "axigen.pid")
	first := startSleep(t, pidfile)
	changed, ch := signals()
	p := &Process{PidFile: pidfile, Repoll: 20 * time.Millisecond, Changed: changed, pidfdOpen: pidfdOpen}
	stop := testkit.Run(t, "Process.Run", p.Run)

	// The first sight of the process signals nothing; kill it only once the watcher waits
	// for its exit, so that the kill is what wakes it.
	waitFound(t, p)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, ch, "the process was killed")

	// A new process under a new pidfile: noticed by the re-read.
	startSleep(t, pidfile)
	waitSignal(t, ch, "a new process was started")
	stop()
}

// waitFound waits until the watcher has found the process alive and waits for its exit.
func waitFound(t *testing.T, p *Process) {
	t.Helper()
	end := time.Now().Add(deadline)
	for p.waits.Load() == 0 {
		if time.Now().After(end) {
			t.Fatal("watcher never found the process")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProcessExitWakesPidfd(t *testing.T) {
	var opened atomic.Int32
	testProcessWatch(t, func(pid, flags int) (int, error) {
		opened.Add(1)
		return unix.PidfdOpen(pid, flags)
	})
	if opened.Load() == 0 {
		t.Error("pidfd_open never called")
	}
}

// TestProcessExitWithoutPidfd: pidfd_open fails (an old kernel): the watcher falls back to
// checking /proc and still signals the exit.
func TestProcessExitWithoutPidfd(t *testing.T) {
	testProcessWatch(t, func(int, int) (int, error) { return -1, unix.ENOSYS })
}

func TestReadEventsOverrun(t *testing.T) {
	changed, ch := signals()
	reads := []error{unix.ENOBUFS, nil, errors.New("socket broken")}
	err := readEvents(t.Context(), func() error {
		e := reads[0]
		reads = reads[1:]
		return e
	}, changed)
	if err == nil || !strings.Contains(err.Error(), "socket broken") {
		t.Errorf("readEvents after a broken read = %v, want the read's error", err)
	}
	select {
	case <-ch:
	default:
		t.Error("an overrun (ENOBUFS) did not signal a change")
	}
}

// inNewNetns runs fn on a thread of its own in a new network namespace (root only). The
// thread is never returned to the runtime's pool: it ends with the goroutine.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: a network namespace needs root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare(CLONE_NEWNET): %v", err)
			return
		}
		fn()
	}()
	<-done
}

// ip runs ip(8) from the calling (namespaced, locked) thread.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %v: %v: %s", args, err, out)
	}
	return nil
}

func TestAddressesSignalsAddAndDelete(t *testing.T) {
	inNewNetns(t, func() {
		w, err := openAddresses(0)
		if err != nil {
			t.Error(err)
			return
		}
		changed, ch := signals()
		stop := testkit.Run(t, "addresses run", func(ctx context.Context) error { return w.run(ctx, changed) })
		for _, step := range [][]string{
			{"link", "set", "lo", "up"},
			{"addr", "add", "10.99.0.1/32", "dev", "lo"},
			{"addr", "del", "10.99.0.1/32", "dev", "lo"},
		} {
			// Drain a pending signal so the next one is caused by this step.
			select {
			case <-ch:
			default:
			}
			if err := ip(step...); err != nil {
				t.Error(err)
				break
			}
			if step[0] == "addr" {
				waitSignal(t, ch, fmt.Sprint(step))
			}
		}
		stop()
	})
}

// TestAddressesOverrunResyncs forces a real netlink overrun: a tiny receive buffer that
// nobody reads while 300 addresses come and go. The kernel drops events and says so with
// ENOBUFS; the watcher must signal a change (a full re-read) for it.
func TestAddressesOverrunResyncs(t *testing.T) {
	inNewNetns(t, func() {
		w, err := openAddresses(1) // the kernel rounds it up to its minimum
		if err != nil {
			t.Error(err)
			return
		}
		if err := ip("link", "set", "lo", "up"); err != nil {
			t.Error(err)
			return
		}
		batch := filepath.Join(t.TempDir(), "batch")
		var script []byte
		for i := range 150 {
			script = fmt.Appendf(script, "addr add 10.98.%d.%d/32 dev lo\n", i/200, i%200+1)
		}
		if err := os.WriteFile(batch, script, 0o600); err != nil {
			t.Error(err)
			return
		}
		if err := ip("-batch", batch); err != nil {
			t.Error(err)
			return
		}
		var overruns atomic.Int32
		buf := make([]byte, 64<<10)
		changed, ch := signals()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			_ = readEvents(ctx, func() error {
				_, err := w.f.Read(buf)
				if errors.Is(err, unix.ENOBUFS) {
					overruns.Add(1)
				}
				return err
			}, changed)
			w.f.Close()
		}()
		waitSignal(t, ch, "150 address changes")
		end := time.Now().Add(deadline)
		for overruns.Load() == 0 && time.Now().Before(end) {
			time.Sleep(5 * time.Millisecond)
		}
		if overruns.Load() == 0 {
			t.Error("no overrun seen: the test did not force the lost-events path")
		}
	})
}

func TestMountsSignalsMountAndUnmount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting needs root")
	}
	dir := t.TempDir()
	m, err := openMounts([]string{dir}) // open first: changes after the open are the ones signalled
	if err != nil {
		t.Fatal(err)
	}
	changed, ch := signals()
	stop := testkit.Run(t, "mounts run", func(ctx context.Context) error { return m.run(ctx, 50*time.Millisecond, changed) })
	mounted := false
	t.Cleanup(func() {
		if mounted {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	for _, step := range []string{"mount", "unmount"} {
		select { // a signal of the previous step that came twice
		case <-ch:
		default:
		}
		var err error
		if step == "mount" {
			err = syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m")
			mounted = err == nil
		} else {
			err = syscall.Unmount(dir, 0)
			mounted = mounted && err != nil
		}
		if err != nil {
			t.Skipf("skipped: cannot %s a tmpfs here: %v", step, err)
		}
		waitSignal(t, ch, step)
	}
	stop()
}
