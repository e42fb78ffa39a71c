package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/realserver"
	"github.com/axprobe/axprobe/internal/shim"
)

// Environment variables of the suites.
const (
	// binDirEnv names a directory holding axprobe, axprobe-monitor and axigen-standin.
	// TestMain builds them into a temporary directory and sets it when it is not set.
	binDirEnv = "AXPROBE_FAULTS_BINDIR"
	// reportDirEnv is where the suites write their result tables; default
	// $TMPDIR/axprobe-faults.
	reportDirEnv = "AXPROBE_FAULTS_REPORT_DIR"
)

// The commands the suites run as processes.
var commands = []string{"axprobe", "axprobe-monitor", "axigen-standin"}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binaries once when the integration suites are enabled (and no
// binary directory was given), then runs the tests.
func runMain(m *testing.M) int {
	if os.Getenv(realserver.EnvVar) == "1" && os.Getenv(binDirEnv) == "" {
		dir, err := os.MkdirTemp("", "axprobe-faults-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := buildCommands(dir); err != nil {
			// The tests that need a binary fail, naming it; the others still run.
			fmt.Fprintln(os.Stderr, "faults: building the commands failed:", err)
		}
		os.Setenv(binDirEnv, dir)
	}
	return m.Run()
}

// buildCommands builds each command into dir with the go tool that runs the tests; a
// command that does not build is reported and the others are still built.
func buildCommands(dir string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	var errs []error
	for _, c := range commands {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		args := []string{"build", "-o", filepath.Join(dir, c), "github.com/axprobe/axprobe/cmd/" + c}
		out, err := exec.CommandContext(ctx, gobin, args...).CombinedOutput()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out))
		}
	}
	return errors.Join(errs...)
}

// integration skips t unless the integration suites are enabled, and fails it when they
// are enabled but the process is not root.
func integration(t *testing.T) {
	t.Helper()
	if os.Getenv(realserver.EnvVar) != "1" {
		t.Skipf("fault suites: run with %s=1 as root (after scripts/install-test-deps.sh)", realserver.EnvVar)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("fault suites need root (mounts, network namespaces, real servers); euid is %d", os.Geteuid())
	}
}

// binary returns the path of one of commands, failing t when it is missing.
func binary(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv(binDirEnv)
	if dir == "" {
		t.Fatalf("%s is not set: no directory holding %s", binDirEnv, name)
	}
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("binary %s missing or not executable (%v): see the build error printed by TestMain", path, err)
	}
	return path
}

// lookTool returns the path of a system tool, failing t when it is missing.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by this suite and is not installed: %v", name, err)
	}
	return path
}

// shortDir returns a fresh directory under /tmp with a short name (Unix socket paths must
// stay under 108 bytes), removed when t ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "axf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// run runs a command to completion within 30 s and fails t with its output if it fails.
func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := runErr(argv...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out
}

// runErr runs a command to completion within 30 s; the error includes its output.
func runErr(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// proc is a process started by a test: its own process group, stdin from /dev/null and
// output to a log file (never the test's own stdout, or `go test` waits for the pipe).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once reaped
	err  error         // exit status; read after done
}

// startProc starts argv; t's cleanup kills it (SIGKILL to its group, after SIGCONT in
// case it was stopped) and waits for it.
func startProc(t *testing.T, name, logPath string, argv ...string) *proc {
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
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (%s), last 3000 bytes:\n%s", name, logPath, tail(b, 3000))
			}
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// signal sends sig to p's process group; a group already gone is not an error.
func (p *proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// wait waits at most limit for p to exit and fails t otherwise.
func (p *proc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s (pid %d) still running after %s", p.name, p.pid(), limit)
	}
}

// stopProc sends SIGTERM and waits at most limit for p to exit.
func (p *proc) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	p.wait(t, limit)
}

// waitUntil calls cond every step until it returns true, failing t after limit with what.
// For conditions on other processes, which send no signal a test could wait on.
func waitUntil(t *testing.T, limit, step time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for n := 0; ; n++ {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("timed out after %s (%d tries) waiting for %s", limit, n+1, what)
		}
		time.Sleep(step)
	}
}

// monitorCode asks the daemon at socket for target's code; -1 when it cannot answer.
func monitorCode(socket, target string, limit time.Duration) (ipc.Answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return ipc.Monitor(ctx, socket, target)
}

// shimResult is one run of the VCS shim.
type shimResult struct {
	code int
	line string        // what it printed on stdout
	took time.Duration // its run time
}

// fellBack reports whether the shim answered from its own direct check.
func (r shimResult) fellBack() bool { return strings.Contains(r.line, "direct check") }

// runShim runs the shim in-process (the code of axprobe-monitor) with args.
func runShim(args ...string) shimResult {
	var out bytes.Buffer
	start := time.Now()
	code := shim.Main(args, &out, io.Discard)
	return shimResult{code: code, line: strings.TrimSpace(out.String()), took: time.Since(start)}
}

// runShimBinary runs the axprobe-monitor binary, optionally inside a network namespace,
// and returns its exit code and stdout.
func runShimBinary(t *testing.T, netns string, args ...string) shimResult {
	t.Helper()
	argv := append([]string{binary(t, "axprobe-monitor")}, args...)
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.Output()
	took := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return shimResult{code: cmd.ProcessState.ExitCode(), line: strings.TrimSpace(string(out)), took: took}
}

// sample is one observation of a monitor code.
type sample struct {
	at   time.Time
	code int // -1: the daemon did not answer
	line string
	took time.Duration
}

// fellBack reports whether the sample is a shim answer from its own direct check.
func (s sample) fellBack() bool { return strings.Contains(s.line, "direct check") }

// recorder samples a daemon's answer (over the socket) and the shim's answer, each in its
// own goroutine, until stopped. waitShim and waitDaemon block until a sample satisfies a
// condition; every sample signals them.
type recorder struct {
	socket, target string
	shimArgs       []string

	mu     sync.Mutex
	daemon []sample
	shim   []sample
	notify chan struct{} // closed and replaced on every sample

	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

// Sampling periods of a recorder.
const (
	daemonSampleEvery = 25 * time.Millisecond
	shimSampleEvery   = 50 * time.Millisecond
)

// startRecorder starts sampling; t's cleanup stops it.
func startRecorder(t *testing.T, socket, target string, shimArgs []string) *recorder {
	r := &recorder{socket: socket, target: target, shimArgs: shimArgs,
		notify: make(chan struct{}), stop: make(chan struct{})}
	r.wg.Go(func() {
		r.loop(daemonSampleEvery, func() sample {
			a, err := monitorCode(r.socket, r.target, 300*time.Millisecond)
			if err != nil {
				return sample{code: -1, line: err.Error()}
			}
			return sample{code: a.Code, line: a.State + " " + a.Reason}
		}, &r.daemon)
	})
	r.wg.Go(func() {
		r.loop(shimSampleEvery, func() sample {
			res := runShim(r.shimArgs...)
			return sample{code: res.code, line: res.line, took: res.took}
		}, &r.shim)
	})
	t.Cleanup(r.close)
	return r
}

func (r *recorder) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
}

func (r *recorder) loop(every time.Duration, take func() sample, into *[]sample) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := take()
		s.at = time.Now()
		r.mu.Lock()
		*into = append(*into, s)
		close(r.notify)
		r.notify = make(chan struct{})
		r.mu.Unlock()
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

// waitShim returns the time of the first shim sample taken after since that satisfies
// cond, failing t after limit.
func (r *recorder) waitShim(t *testing.T, since time.Time, limit time.Duration, what string, cond func(sample) bool) sample {
	t.Helper()
	return r.wait(t, &r.shim, since, limit, "shim "+what, cond)
}

// waitDaemon is waitShim for the daemon's own answers.
func (r *recorder) waitDaemon(t *testing.T, since time.Time, limit time.Duration, what string, cond func(sample) bool) sample {
	t.Helper()
	return r.wait(t, &r.daemon, since, limit, "daemon "+what, cond)
}

func (r *recorder) wait(t *testing.T, samples *[]sample, since time.Time, limit time.Duration, what string, cond func(sample) bool) sample {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	seen := 0
	for {
		r.mu.Lock()
		list, notify := *samples, r.notify
		r.mu.Unlock()
		for ; seen < len(list); seen++ {
			if s := list[seen]; s.at.After(since) && cond(s) {
				return s
			}
		}
		select {
		case <-notify:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; codes since: %s", limit, what, codesSince(list, since))
		}
	}
}

// sequence returns the codes sampled in [from, to], each run of equal codes once, as
// "110 → 100 → 110"; -1 shows as "none".
func (r *recorder) sequence(shim bool, from, to time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.daemon
	if shim {
		list = r.shim
	}
	var in []sample
	for _, s := range list {
		if !s.at.Before(from) && !s.at.After(to) {
			in = append(in, s)
		}
	}
	return codesSince(in, time.Time{})
}

// maxShimTook returns the longest shim run sampled.
func (r *recorder) maxShimTook() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m time.Duration
	for _, s := range r.shim {
		m = max(m, s.took)
	}
	return m
}

func codesSince(list []sample, since time.Time) string {
	var codes []string
	for _, s := range list {
		if !s.at.After(since) {
			continue
		}
		c := strconv.Itoa(s.code)
		if s.code == -1 {
			c = "none"
		}
		if n := len(codes); n == 0 || codes[n-1] != c {
			codes = append(codes, c)
		}
	}
	return strings.Join(codes, " → ")
}

// online reports whether a code says online (101-110).
func online(code int) bool { return code >= 101 && code <= 110 }

// writeReport writes content to name in the report directory and logs where.
func writeReport(t *testing.T, name, content string) {
	t.Helper()
	dir := os.Getenv(reportDirEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "axprobe-faults")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	t.Logf("results written to %s:\n%s", path, content)
}

// ms formats a duration in milliseconds for the tables.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }

// durationStats returns min, median and max of ds (which it sorts).
func durationStats(ds []time.Duration) (lo, med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[0], ds[len(ds)/2], ds[len(ds)-1]
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
