package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
)

// How long the helpers wait for a daemon, at most.
const (
	daemonStartTimeout = 30 * time.Second // socket up after start
	daemonStopTimeout  = 10 * time.Second // exit after SIGTERM, then after SIGKILL
	scrapeTimeout      = 30 * time.Second
)

// daemonProc is an `axprobe run` child process.
type daemonProc struct {
	cmd     *exec.Cmd
	socket  string
	metrics string // http://host:port/metrics, or "" when the web side is off
	done    chan struct{}
	waitErr error // valid once done is closed
}

// startDaemon starts `bin run --config configPath` with its output appended to logPath,
// and returns once its socket answers PING. socket and listen must be what the config says.
func startDaemon(ctx context.Context, bin, configPath, socket, listen, logPath string, extra ...string) (*daemonProc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, append([]string{"run", "--config", configPath}, extra...)...)
	cmd.Stdout, cmd.Stderr = out, out // never our own stdout: a caller may wait on that pipe
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	d := &daemonProc{cmd: cmd, socket: socket, done: make(chan struct{})}
	if listen != "" {
		d.metrics = "http://" + listen + "/metrics"
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, daemonStartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ipc.Ping(ctx, socket) == nil {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("axprobe exited while starting (%v); its log is %s", d.waitErr, logPath)
		case <-ctx.Done():
			_ = d.stop()
			return nil, fmt.Errorf("axprobe socket %s not answering after %s; its log is %s", socket, daemonStartTimeout, logPath)
		case <-tick.C:
		}
	}
}

// Pid is the daemon's process id.
func (d *daemonProc) Pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM, waits for the exit, and kills the daemon if it does not go in time.
func (d *daemonProc) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(daemonStopTimeout):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
		return fmt.Errorf("axprobe (pid %d) ignored SIGTERM for %s and was killed", d.Pid(), daemonStopTimeout)
	case <-time.After(daemonStopTimeout):
		return fmt.Errorf("axprobe (pid %d) survives SIGKILL", d.Pid())
	}
}

// stopInto stops the daemon and puts stop's error into *err unless that holds one already:
// `defer d.stopInto(&err)`.
func (d *daemonProc) stopInto(err *error) {
	if e := d.stop(); e != nil && *err == nil {
		*err = e
	}
}

// waitCode polls MONITOR every poll until ok(code) holds and returns the answer and the
// moment it was read. It gives up when ctx ends.
func (d *daemonProc) waitCode(ctx context.Context, poll time.Duration, ok func(code int) bool) (ipc.Answer, time.Time, error) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last ipc.Answer
	var lastErr error
	for {
		a, err := ipc.Monitor(ctx, d.socket, "")
		now := time.Now()
		if err == nil && ok(a.Code) {
			return a, now, nil
		}
		if err == nil {
			last = a
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return last, now, fmt.Errorf("gave up waiting (last answer code=%d state=%s reason=%q, last error %v): %w",
				last.Code, last.State, last.Reason, lastErr, ctx.Err())
		case <-d.done:
			return last, now, fmt.Errorf("axprobe exited: %v", d.waitErr)
		case <-tick.C:
		}
	}
}

// scrape is one fetch of the daemon's /metrics.
type scrape struct {
	Samples []promSample
	Bytes   int           // size of the body
	Took    time.Duration // request to last byte
}

// scrape fetches and parses the daemon's /metrics.
func (d *daemonProc) scrape(ctx context.Context) (scrape, error) {
	if d.metrics == "" {
		return scrape{}, errors.New("the daemon's web side is off")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.metrics, nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET %s: %s", d.metrics, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return scrape{}, fmt.Errorf("GET %s: %w", d.metrics, err)
	}
	sc := scrape{Bytes: len(body), Took: time.Since(start)}
	if sc.Samples, err = parsePromText(string(body)); err != nil {
		return scrape{}, fmt.Errorf("GET %s: %w", d.metrics, err)
	}
	return sc, nil
}

// checkProbes is how many network probes a scrape of the daemon counts: every observation
// of a probe's total duration, minus the local gates' (vip, process, storage), which
// cost no network round trip and which blackbox_exporter has no counterpart for.
func checkProbes(samples []promSample) float64 {
	n := sumSamples(samples, "axprobe_probe_duration_seconds_count", map[string]string{"phase": "total"})
	for _, gate := range []string{"vip", "process", "storage"} {
		n -= sumSamples(samples, "axprobe_probe_duration_seconds_count", map[string]string{"phase": "total", "check": gate})
	}
	return n
}

// checkHistogram is the daemon's histogram of whole-probe durations over every network
// check of every target, the gates left out as in checkProbes.
func checkHistogram(samples []promSample) (histogram, error) {
	const name = "axprobe_probe_duration_seconds"
	h, err := mergeHistogram(samples, name, map[string]string{"phase": "total"})
	if err != nil {
		return h, err
	}
	for _, gate := range []string{"vip", "process", "storage"} {
		g, err := mergeHistogram(samples, name, map[string]string{"phase": "total", "check": gate})
		if err != nil {
			return h, err
		}
		h = h.sub(g)
	}
	return h, nil
}
