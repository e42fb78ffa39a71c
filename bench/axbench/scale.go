package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
)

func scaleCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlagSet("axbench scale", `Usage: axbench scale --axprobe BIN [--rates LIST] [--interval D] [--measure D]

For each rate: starts a fresh axprobe daemon with as many six-check targets (SMTP, IMAP,
POP3 with STARTTLS and login, two HTTP, CLI) as give that many probes per second, all
against one set of in-process fake Axigen listeners, lets it run --warmup, then measures
for --measure: probes run (from its /metrics), CPU per probe and in all, RSS, goroutines,
fds, probe duration p50/p99 (the daemon's histogram), failures, and the CPU the fakes in
this process used. Prints a markdown table and the knee: the first rate at which the
daemon falls behind (< 95 % of the asked rate), probes fail, or p99 exceeds 100 ms.

Flags:
`, stderr)
	bin := fs.String("axprobe", "", "the axprobe binary to run as the daemon (required)")
	rates := intList{50, 100, 250, 500, 750, 1000}
	fs.Var(&rates, "rates", "probe rates to try, probes per second: a comma-separated `list`")
	interval := fs.Duration("interval", 2*time.Second, "every check's interval; targets = rate × interval / 6")
	warmup := fs.Duration("warmup", 6*time.Second, "run time before measuring, after the daemon answers")
	measure := fs.Duration("measure", 20*time.Second, "measurement time per rate")
	maxConc := fs.Int("max-concurrent", 16, "the daemon's max_concurrent_probes")
	profDir := fs.String("cpuprofile", "", "directory to write each daemon's CPU profile to (rate-N.pprof, `axprobe run --cpuprofile`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errUsage{"--axprobe is required"}
	}
	if *interval <= 0 || *measure <= 0 || *warmup < 0 || *maxConc < 1 {
		return errUsage{"--interval, --measure and --max-concurrent must be positive, --warmup not negative"}
	}

	var results []scaleResult
	err := sweep(stdout, stderr, "scale",
		fmt.Sprintf("Every check every %s, max_concurrent_probes %d, %s measured per rate after %s of warm-up.",
			*interval, *maxConc, *measure, *warmup),
		"| asked probes/s | targets | ran probes/s | failed | daemon CPU | CPU per probe | RSS max | goroutines | fds | p50 | p99 | fakes' CPU | /metrics size, scrape time |\n"+
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
		rates, func(site *fakeSite, rate int) (string, error) {
			targets := max(1, int(math.Ceil(float64(rate)*interval.Seconds()/checksPerFakeTarget)))
			r, err := scaleOnce(ctx, *bin, site, fakeConfig{
				Targets: targets, MaxConcurrent: *maxConc,
				Timing: Timing{Name: "scale", Interval: *interval, FastInterval: *interval / 2,
					Timeout: min(*interval/2, 3*time.Second), DegradedAfter: min(*interval/4, time.Second), Rise: 2, Fall: 7},
			}, *warmup, *measure, profilePath(*profDir, rate))
			if err != nil {
				return "", fmt.Errorf("rate %d: %w", rate, err)
			}
			r.asked = rate
			results = append(results, r)
			return r.row(), nil
		})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, knee(results))
	return nil
}

// scaleResult is one rate's measurement.
type scaleResult struct {
	asked, targets  int
	ran, failed     float64 // probes per second, failures in all
	cpu             float64 // daemon CPU, fraction of one core
	cpuPerProbe     time.Duration
	rssMax          int64
	goroutines, fds int
	p50, p99        float64 // seconds
	fakesCPU        float64 // this process's CPU (the fakes), fraction of one core
	metricsBytes    int
	scrapeTook      time.Duration
}

func (r scaleResult) row() string {
	return fmt.Sprintf("| %d | %d | %.0f | %.0f | %.0f %% | %.0f µs | %.1f MiB | %d | %d | %.1f ms | %.1f ms | %.0f %% | %.1f MiB, %.0f ms |",
		r.asked, r.targets, r.ran, r.failed, 100*r.cpu, float64(r.cpuPerProbe)/1e3,
		float64(r.rssMax)/(1<<20), r.goroutines, r.fds, r.p50*1e3, r.p99*1e3, 100*r.fakesCPU,
		float64(r.metricsBytes)/(1<<20), float64(r.scrapeTook)/1e6)
}

// kneeP99 is the p99 probe duration past which load counts as hurting: a tenth of the
// default degraded_after (1 s), the margin that keeps a healthy listener from being graded
// degraded because the prober, not the server, is slow.
const kneeP99 = 100 * time.Millisecond

// knee names the first rate that falls behind (< 95 % of the asked rate), fails probes, or
// has a p99 over kneeP99, or says that none did.
func knee(rs []scaleResult) string {
	for _, r := range rs {
		var why string
		switch {
		case r.ran < 0.95*float64(r.asked):
			why = fmt.Sprintf("ran %.0f probes/s of %d asked", r.ran, r.asked)
		case r.failed > 0:
			why = fmt.Sprintf("%.0f probes failed", r.failed)
		case r.p99 > kneeP99.Seconds():
			why = fmt.Sprintf("p99 %.1f ms, over %s", r.p99*1e3, kneeP99)
		}
		if why != "" {
			return fmt.Sprintf("**Knee: %d probes/s** (%s).", r.asked, why)
		}
	}
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf("**No knee up to %d probes/s**: every rate ran in full, without failures, with p99 under %s.",
		rs[len(rs)-1].asked, kneeP99)
}

// profilePath is where the daemon of rate writes its CPU profile, or "" for none.
func profilePath(dir string, rate int) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, fmt.Sprintf("rate-%d.pprof", rate))
}

func scaleOnce(ctx context.Context, bin string, site *fakeSite, cfg fakeConfig, warmup, measure time.Duration, profile string) (r scaleResult, err error) {
	r.targets = cfg.Targets
	if cfg.Listen, err = freeLoopbackAddr(); err != nil {
		return r, err
	}
	var extra []string
	if profile != "" {
		extra = []string{"--cpuprofile", profile}
	}
	d, err := site.startDaemon(ctx, bin, cfg, extra...)
	if err != nil {
		return r, err
	}
	defer d.stopInto(&err)
	if err := sleepCtx(ctx, warmup); err != nil {
		return r, err
	}

	sc0, err := d.scrape(ctx)
	if err != nil {
		return r, err
	}
	m0 := sc0.Samples
	self := newProcTrack("axbench", os.Getpid())
	daemon := newProcTrack("axprobe", d.Pid())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.Now().Add(measure)
	for {
		for _, t := range []*procTrack{self, daemon} {
			if err := t.sample(); err != nil {
				return r, err
			}
		}
		if !time.Now().Before(end) {
			break
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
	}
	sc1, err := d.scrape(ctx)
	if err != nil {
		return r, err
	}
	m1 := sc1.Samples

	wall := daemon.last.At.Sub(daemon.first.At).Seconds()
	probes := checkProbes(m1) - checkProbes(m0)
	r.ran = probes / wall
	r.failed = sumSamples(m1, "axprobe_probe_failures_total", nil) - sumSamples(m0, "axprobe_probe_failures_total", nil)
	cpu := daemon.last.CPU - daemon.first.CPU
	r.cpu = cpu.Seconds() / wall
	if probes > 0 {
		r.cpuPerProbe = time.Duration(float64(cpu) / probes)
	}
	r.fakesCPU = (self.last.CPU - self.first.CPU).Seconds() / wall
	r.rssMax, r.fds = daemon.rssMax, daemon.fdsMax
	r.goroutines = int(sumSamples(m1, "go_goroutines", nil))
	h1, err := checkHistogram(m1)
	if err != nil {
		return r, err
	}
	h0, err := checkHistogram(m0)
	if err != nil {
		return r, err
	}
	h := h1.sub(h0)
	r.p50, r.p99 = h.quantile(0.5), h.quantile(0.99)
	r.metricsBytes, r.scrapeTook = sc1.Bytes, sc1.Took
	return r, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// sweep is the driver of the benchmarks that measure one daemon per value of xs (scale:
// probe rates, targets: target counts). It opens a fake site, prints the caption and the
// table's head (its two lines), then for each x runs measure, which starts its own daemon
// against the site, and prints the row it returns on stdout and as progress on stderr.
func sweep(stdout, stderr io.Writer, benchmark, caption, head string, xs []int, measure func(site *fakeSite, x int) (row string, err error)) error {
	site, err := openFakeSite(benchmark)
	if err != nil {
		return err
	}
	defer site.Close()
	fmt.Fprintf(stdout, "%s\n\n%s\n", caption, head)
	for _, x := range xs {
		row, err := measure(site, x)
		if err != nil {
			return err
		}
		fmt.Fprintln(stderr, benchmark+":", row)
		fmt.Fprintln(stdout, row)
	}
	return nil
}
