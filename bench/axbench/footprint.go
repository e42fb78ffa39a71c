package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
)

func footprintCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlagSet("axbench footprint", `Usage: axbench footprint --axprobe-pid N --blackbox-pid N --blackbox URL --probes LIST [--duration D]

Measures, side by side over the same period, the CPU time and resident memory of a
running axprobe daemon (which probes on its own schedule) and of a blackbox_exporter
that this command drives at the same rate through its /probe endpoint, as a Prometheus
scraping every --every would. Prints a markdown table.

Example:
  axbench footprint --axprobe-pid 123 --blackbox-pid 456 --blackbox http://127.0.0.1:9115 \
    --probes smtp_starttls=127.0.0.1:2525,imap_starttls=127.0.0.1:1143 --duration 10m

Flags:
`, stderr)
	axPid := fs.Int("axprobe-pid", 0, "pid of the running axprobe daemon (required)")
	axMetrics := fs.String("axprobe-metrics", "", "the daemon's /metrics URL, to count the probes it ran")
	bbPid := fs.Int("blackbox-pid", 0, "pid of the running blackbox_exporter (required)")
	bbURL := fs.String("blackbox", "", "blackbox_exporter's base URL, e.g. http://127.0.0.1:9115 (required)")
	probeList := fs.String("probes", "", "comma-separated module=target pairs, each probed through blackbox_exporter once per --every (required)")
	every := fs.Duration("every", time.Second, "probe period: every pair of --probes is probed once per period, all at once, as Prometheus scrapes")
	duration := fs.Duration("duration", time.Minute, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *axPid <= 0 || *bbPid <= 0 || *bbURL == "" || *probeList == "" {
		return errUsage{"--axprobe-pid, --blackbox-pid, --blackbox and --probes are required"}
	}
	if *every <= 0 || *duration < *every {
		return errUsage{fmt.Sprintf("--every %s must be positive and --duration %s at least one period", *every, *duration)}
	}
	var probeURLs, modules []string
	for pair := range strings.SplitSeq(*probeList, ",") {
		module, target, ok := strings.Cut(pair, "=")
		if !ok || module == "" || target == "" {
			return errUsage{fmt.Sprintf("--probes: %q is not module=target", pair)}
		}
		modules = append(modules, module)
		probeURLs = append(probeURLs, *bbURL+"/probe?"+url.Values{"module": {module}, "target": {target}}.Encode())
	}

	ax := newProcTrack("axprobe", *axPid)
	bb := newProcTrack("blackbox_exporter", *bbPid)
	axCount := func() (float64, error) {
		if *axMetrics == "" {
			return 0, nil
		}
		d := &daemonProc{metrics: *axMetrics}
		sc, err := d.scrape(ctx)
		return checkProbes(sc.Samples), err
	}
	axBefore, err := axCount()
	if err != nil {
		return err
	}
	for _, t := range []*procTrack{ax, bb} {
		if err := t.sample(); err != nil {
			return err
		}
	}

	client := &http.Client{Timeout: *every * 5}
	var bbOK, bbFailed atomic.Int64
	var mu sync.Mutex
	failedBy := map[string]int{} // module → failed probes
	var inflight sync.WaitGroup
	defer inflight.Wait()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	end := time.Now().Add(*duration)
	fmt.Fprintf(stderr, "footprint: measuring for %s\n", *duration)
	for time.Now().Before(end) {
		for i, u := range probeURLs {
			inflight.Go(func() {
				if blackboxProbe(ctx, client, u) {
					bbOK.Add(1)
					return
				}
				bbFailed.Add(1)
				mu.Lock()
				failedBy[modules[i]]++
				mu.Unlock()
			})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for _, t := range []*procTrack{ax, bb} {
			if err := t.sample(); err != nil {
				return err
			}
		}
	}
	inflight.Wait()
	for _, t := range []*procTrack{ax, bb} {
		if err := t.sample(); err != nil {
			return err
		}
	}
	axAfter, err := axCount()
	if err != nil {
		return err
	}

	fmt.Fprintln(stdout, "| process | probes run (ok + failed) | CPU time | CPU, % of one core | CPU per probe | RSS mean | RSS max | threads | fds | RSS start → end | RSS anon + file (mean) |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	axProbes := fmt.Sprintf("%.0f", axAfter-axBefore)
	if *axMetrics == "" {
		axProbes = "n/a"
	}
	ax.row(stdout, axProbes, axAfter-axBefore)
	bbN := bbOK.Load() + bbFailed.Load()
	bb.row(stdout, fmt.Sprintf("%d (%d + %d)", bbN, bbOK.Load(), bbFailed.Load()), float64(bbN))
	if len(failedBy) > 0 {
		fmt.Fprintf(stdout, "\nblackbox_exporter probes that failed, by module: %v\n", failedBy)
	}
	return nil
}

// blackboxProbe runs one /probe request and reports whether the exporter said
// probe_success 1.
func blackboxProbe(ctx context.Context, c *http.Client, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	samples, err := parsePromText(string(body))
	return err == nil && sumSamples(samples, "probe_success", nil) == 1
}

// procTrack follows one process's CPU and memory over a measurement.
type procTrack struct {
	name        string
	pid         int
	first, last procSample
	n           int
	rssSum      int64
	anonSum     int64
	fileSum     int64
	rssMax      int64
	threadsMax  int
	fdsMax      int
}

func newProcTrack(name string, pid int) *procTrack { return &procTrack{name: name, pid: pid} }

func (t *procTrack) sample() error {
	s, err := sampleProc(t.pid)
	if err != nil {
		return fmt.Errorf("%s (pid %d): %w", t.name, t.pid, err)
	}
	if t.n == 0 {
		t.first = s
	}
	t.last = s
	t.n++
	t.rssSum += s.RSS
	t.anonSum += s.Anon
	t.fileSum += s.File
	t.rssMax = max(t.rssMax, s.RSS)
	t.threadsMax = max(t.threadsMax, s.Threads)
	t.fdsMax = max(t.fdsMax, s.FDs)
	return nil
}

// row prints the process's line of the footprint table; probes is how many probes it ran.
func (t *procTrack) row(w io.Writer, probesLabel string, probes float64) {
	cpu := t.last.CPU - t.first.CPU
	wall := t.last.At.Sub(t.first.At)
	perProbe := "n/a"
	if probes > 0 {
		perProbe = fmt.Sprintf("%.2f ms", cpu.Seconds()*1e3/probes)
	}
	fmt.Fprintf(w, "| %s | %s | %.2f s | %.2f %% | %s | %.1f MiB | %.1f MiB | %d | %d | %.1f → %.1f MiB | %.1f + %.1f MiB |\n",
		t.name, probesLabel, cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds(), perProbe,
		float64(t.rssSum)/float64(t.n)/(1<<20), float64(t.rssMax)/(1<<20), t.threadsMax, t.fdsMax,
		float64(t.first.RSS)/(1<<20), float64(t.last.RSS)/(1<<20),
		float64(t.anonSum)/float64(t.n)/(1<<20), float64(t.fileSum)/float64(t.n)/(1<<20))
}
