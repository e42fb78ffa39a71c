package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/shim"
)

// Environment variables of the suites.
const (
	// binDirEnv names a directory holding axprobe, axprobe-monitor and axigen-standin;
	// without it TestMain builds them (itest.Main).
	binDirEnv = "AXPROBE_FAULTS_BINDIR"
	// reportDirEnv is where the suites write their result tables; default
	// $TMPDIR/axprobe-faults.
	reportDirEnv = "AXPROBE_FAULTS_REPORT_DIR"
)

func TestMain(m *testing.M) {
	os.Exit(itest.Main(m, "faults", binDirEnv, "axprobe", "axprobe-monitor", "axigen-standin"))
}

// integration skips t unless the integration suites are enabled, and fails it when they
// are enabled but the process is not root (mounts, network namespaces, real servers).
func integration(t *testing.T) {
	t.Helper()
	itest.Require(t, "fault suites")
}

// slack covers scheduling noise on a loaded 2-core CI machine and the sampling period.
const slack = time.Second

// schedule is how a suite's daemon probes its target; the documented bounds
// (docs/RELIABILITY.md) follow from it.
type schedule struct {
	interval, fast, timeout time.Duration
	rise, fall              int
}

// yaml returns the schedule as keys of a target in the daemon's config, one line each
// (indented for a target's keys); degraded_after is the timeout, window 5.
func (s schedule) yaml() string {
	return fmt.Sprintf("    interval: %s\n    fast_interval: %s\n    timeout: %s\n    degraded_after: %s\n    window: 5\n    rise: %d\n    fall: %d\n",
		s.interval, s.fast, s.timeout, s.timeout, s.rise, s.fall)
}

// String is the schedule for the report tables.
func (s schedule) String() string {
	return fmt.Sprintf("interval %s, fast_interval %s, timeout %s, rise %d, fall %d", s.interval, s.fast, s.timeout, s.rise, s.fall)
}

// gateBound: a gate is probed every interval and fails the target at once.
func (s schedule) gateBound() time.Duration { return s.interval + s.timeout + slack }

// checkBound: a critical check fails fall times, re-probed every fast interval.
func (s schedule) checkBound() time.Duration {
	return s.interval + time.Duration(s.fall)*(s.timeout+s.fast) + slack
}

// recoverBound: coming back takes rise good results, the first at the fast interval, the
// rest at the interval.
func (s schedule) recoverBound() time.Duration {
	return s.fast + time.Duration(s.rise)*(s.interval+s.timeout) + slack
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
	errs string        // what the binary printed on stderr
	took time.Duration // its run time
}

// fellBack reports whether the shim answered from its own direct check.
func (r shimResult) fellBack() bool { return strings.Contains(r.line, "direct check") }

// output is all the binary printed, stdout then stderr.
func (r shimResult) output() string { return r.line + "\n" + r.errs }

// runShim runs the shim in-process (the code of axprobe-monitor) with args.
func runShim(args ...string) shimResult {
	var out bytes.Buffer
	start := time.Now()
	code := shim.Main(args, &out, io.Discard)
	return shimResult{code: code, line: strings.TrimSpace(out.String()), took: time.Since(start)}
}

// shimBinary runs the axprobe-monitor binary bin with args, inside the network namespace
// netns unless it is "" (as VCS would run it there), bounded to 10 s. When it cannot run,
// code is -1 and line says why. Safe off the test goroutine.
func shimBinary(bin, netns string, args ...string) shimResult {
	argv := append([]string{bin}, args...)
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return shimResult{code: -1, line: fmt.Sprintf("%s: %v", strings.Join(argv, " "), err)}
	}
	return shimResult{code: cmd.ProcessState.ExitCode(), line: strings.TrimSpace(stdout.String()), errs: stderr.String(), took: took}
}

// startFake starts a plain fake listener of internal/mailtest (start is mailtest.StartSMTP,
// StartPOP3, ...), closed when t ends.
func startFake(t *testing.T, start func(mailtest.Options) (*mailtest.Server, error)) *mailtest.Server {
	t.Helper()
	s, err := start(mailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// processGate is the process gate of a target in the daemon's config (indented for a
// target's keys): the process named name whose pid is in pidfile.
func processGate(pidfile, name string) string {
	return fmt.Sprintf("    process:\n      pidfile: %s\n      name: %s\n", pidfile, name)
}

// startSleeper starts `sleep 3600` to play Axigen for the process gate (name: sleep) and
// writes its pid to pidfile; t's cleanup stops it.
func startSleeper(t *testing.T, dir, pidfile string) *itest.Proc {
	t.Helper()
	p := itest.StartProc(t, "stand-in", filepath.Join(dir, "standin.log"), "sleep", "3600")
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(p.Pid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
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
