package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
)

func targetsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlagSet("axbench targets", `Usage: axbench targets --axprobe BIN [--targets LIST] [--check NAME] [--interval D]

For each count: starts a fresh axprobe daemon with that many targets of one check each
(against one set of in-process fake Axigen listeners; web side off) and measures how long
the first round takes: from the start until the daemon tells systemd READY=1 (every
target has left "starting"), against the bound of one interval plus the timeout. Then the
resident memory once the first round is in and one interval later, threads and fds, and
the memory per target: the RSS difference to the first count, divided by the difference
in targets. Prints a markdown table.

Flags:
`, stderr)
	bin := fs.String("axprobe", "", "the axprobe binary to run as the daemon (required)")
	counts := intList{1000, 10000}
	fs.Var(&counts, "targets", "target counts to try, a comma-separated `list`; the first is the baseline of the memory per target")
	check := fs.String("check", "cli", "each target's one check: cli, webmail or imap (STARTTLS and login)")
	interval := fs.Duration("interval", 10*time.Second, "every check's interval")
	timeout := fs.Duration("timeout", 3*time.Second, "every check's timeout")
	maxConc := fs.Int("max-concurrent", 16, "the daemon's max_concurrent_probes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errUsage{"--axprobe is required"}
	}
	if *interval <= 0 || *timeout <= 0 || *maxConc < 1 {
		return errUsage{"--interval, --timeout and --max-concurrent must be positive"}
	}
	var baseN int
	var baseRSS int64
	return sweep(stdout, stderr, "targets",
		fmt.Sprintf("One %s check per target, interval %s, timeout %s, max_concurrent_probes %d; bound = interval + timeout.",
			*check, *interval, *timeout, *maxConc),
		"| targets | first round (start → READY=1) | bound | met | RSS at READY | RSS one interval later | memory per target | threads | fds |\n"+
			"|---:|---:|---:|---|---:|---:|---:|---:|---:|",
		counts, func(site *fakeSite, n int) (string, error) {
			r, err := firstRound(ctx, *bin, site, fakeConfig{Targets: n, MaxConcurrent: *maxConc, Only: *check,
				Timing: Timing{Name: "targets", Interval: *interval, FastInterval: *interval, Timeout: *timeout,
					DegradedAfter: *timeout, Rise: 2, Fall: 7}})
			if err != nil {
				return "", fmt.Errorf("%d targets: %w", n, err)
			}
			perTarget := "baseline"
			if baseN == 0 {
				baseN, baseRSS = n, r.later.RSS
			} else if n != baseN {
				perTarget = fmt.Sprintf("%.1f KiB", float64(r.later.RSS-baseRSS)/float64(n-baseN)/1024)
			}
			bound := *interval + *timeout
			met := "**met**"
			if r.took > bound {
				met = "**not met**"
			}
			return fmt.Sprintf("| %d | %.1f s | %.0f s | %s | %.1f MiB | %.1f MiB | %s | %d | %d |", n, r.took.Seconds(), bound.Seconds(), met,
				float64(r.ready.RSS)/(1<<20), float64(r.later.RSS)/(1<<20), perTarget, r.later.Threads, r.later.FDs), nil
		})
}

type roundResult struct {
	took         time.Duration
	ready, later procSample
}

// firstRound starts the daemon and waits for its READY=1 (see readySocket), then samples
// its process at once and one interval later.
func firstRound(ctx context.Context, bin string, site *fakeSite, cfg fakeConfig) (r roundResult, err error) {
	ready, err := listenReady(site.dir)
	if err != nil {
		return r, err
	}
	defer ready.Close()
	start := time.Now()
	d, err := site.startDaemon(ctx, bin, cfg)
	if err != nil {
		return r, err
	}
	defer d.stopInto(&err)
	if err := ready.wait(start, 3*(cfg.Timing.Interval+cfg.Timing.Timeout)+2*time.Minute); err != nil {
		return r, err
	}
	r.took = time.Since(start)
	if r.ready, err = sampleProc(d.Pid()); err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, cfg.Timing.Interval); err != nil {
		return r, err
	}
	r.later, err = sampleProc(d.Pid())
	return r, err
}
