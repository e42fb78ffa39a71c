package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/axprobe/axprobe/internal/testfile"
)

// selfName is the base name of this test binary's executable.
func selfName(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(exe)
}

func writePidFile(t *testing.T, content string) string {
	t.Helper()
	return testfile.Write(t, "axigen.pid", content)
}

// startSleep starts a `sleep` child that is killed and reaped when the test ends.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestCheckProcessSelf(t *testing.T) {
	name := selfName(t)
	me := os.Getpid()

	pid, err := CheckProcess(writePidFile(t, strconv.Itoa(me)+"\n"), name)
	if err != nil || pid != me {
		t.Errorf("by pidfile and name: got %d, %v; want %d", pid, err, me)
	}
	pid, err = CheckProcess(writePidFile(t, " "+strconv.Itoa(me)+" "), "")
	if err != nil || pid != me {
		t.Errorf("by pidfile only: got %d, %v; want %d", pid, err, me)
	}
	pid, err = CheckProcess("", "/some/dir/"+name)
	if err != nil || pid <= 0 {
		t.Fatalf("by name: got %d, %v", pid, err)
	}
	if err := checkPid(pid, name); err != nil {
		t.Errorf("by name returned pid %d which is not %s: %v", pid, name, err)
	}
}

func TestCheckProcessChildByName(t *testing.T) {
	child := startSleep(t)
	pid, err := CheckProcess("", "sleep")
	if err != nil {
		t.Fatalf("CheckProcess(sleep): %v", err)
	}
	// Another sleep may run on this machine; whichever was found must really be sleep and
	// cannot be later than our child's pid when that was the lowest.
	if st, _ := ReadProcStat(pid); st.Comm != "sleep" {
		t.Errorf("found pid %d with comm %q, want sleep", pid, st.Comm)
	}
	if pid > child.Process.Pid {
		t.Errorf("found pid %d, want the lowest sleep (ours is %d)", pid, child.Process.Pid)
	}
}

func TestCheckProcessErrors(t *testing.T) {
	child := startSleep(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	deadPid := dead.Process.Pid
	missing := filepath.Join(t.TempDir(), "nope.pid")

	tests := []struct {
		name    string
		pidfile string
		proc    string
		want    string
	}{
		{"missing pidfile", missing, "axigen", "pidfile " + missing + ": no such file"},
		{"garbage pidfile", writePidFile(t, "abc\n"), "axigen", `3 bytes that are not a positive decimal number, not a pid`},
		{"negative pid", writePidFile(t, "-5"), "", `2 bytes that are not a positive decimal number, not a pid`},
		{"empty pidfile", writePidFile(t, ""), "", `empty, not a pid`},
		{"huge pidfile", writePidFile(t, strings.Repeat("1", 1000)), "", "longer than 64 bytes"},
		{"dead pid", writePidFile(t, strconv.Itoa(deadPid)), "true", "pid " + strconv.Itoa(deadPid) + " is not running"},
		{"pid of another program", writePidFile(t, strconv.Itoa(child.Process.Pid)), "axigen",
			"pid " + strconv.Itoa(child.Process.Pid) + " is sleep, not axigen"},
		{"no such name", "", "axprobe-no-such-program", "no process named axprobe-no-such-program is running"},
		{"nothing to check", "", "", "needs a pidfile or a process name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid, err := CheckProcess(tc.pidfile, tc.proc)
			if err == nil {
				t.Fatalf("got pid %d, want error containing %q", pid, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestCheckProcessZombie: an exited child that nobody reaped yet still has a /proc entry;
// it must not count as running.
func TestCheckProcessZombie(t *testing.T) {
	child := startSleep(t)
	pid := child.Process.Pid
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// waitid(P_PID, pid, WEXITED|WNOWAIT) blocks until the child has exited without
	// reaping it: afterwards it is a zombie until the cleanup's Wait.
	const pPID, wNOWAIT = 1, 0x01000000
	var info [128]byte
	if _, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
		uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNOWAIT, 0, 0); errno != 0 {
		t.Fatalf("waitid: %v", errno)
	}
	_, err := CheckProcess(writePidFile(t, strconv.Itoa(pid)), "sleep")
	if err == nil || !strings.Contains(err.Error(), "zombie") {
		t.Errorf("zombie pid %d: got %v, want a zombie error", pid, err)
	}
}
