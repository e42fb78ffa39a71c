package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func targetsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("targets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("axprobe", "", "the axprobe binary to run as the daemon (required)")
	counts := fs.String("targets", "1000,10000", "target counts to try; the first is the baseline of the memory per target")
	check := fs.String("check", "cli", "each target's one check: cli, webmail or imap (STARTTLS and login)")
	interval := fs.Duration("interval", 10*time.Second, "every check's interval")
	timeout := fs.Duration("timeout", 3*time.Second, "every check's timeout")
	maxConc := fs.Int("max-concurrent", 16, "the daemon's max_concurrent_probes")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: axbench targets --axprobe BIN [--targets LIST] [--check NAME] [--interval D]

For each count: starts a fresh axprobe daemon with that many targets of one check each
(against one set of in-process fake Axigen listeners; web side off) and measures how long
the first round takes: from the start until the daemon tells systemd READY=1 (every
target has left "starting"), against the bound of one interval plus the timeout. Then the
resident memory once the first round is in and one interval later, threads and fds, and
the memory per target: the RSS difference to the first count, divided by the difference
in targets. Prints a markdown table.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *bin == "" {
		return errUsage{"--axprobe is required"}
	}
	ns, err := parseInts(*counts)
	if err != nil {
		return errUsage{"--targets: " + err.Error()}
	}
	if *interval <= 0 || *timeout <= 0 || *maxConc < 1 {
		return errUsage{"--interval, --timeout and --max-concurrent must be positive"}
	}
	dir, err := os.MkdirTemp("", "axbench-targets-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ax, err := startFakeAxigen(dir)
	if err != nil {
		return err
	}
	defer ax.Close()

	fmt.Fprintf(stdout, "One %s check per target, interval %s, timeout %s, max_concurrent_probes %d; bound = interval + timeout.\n\n",
		*check, *interval, *timeout, *maxConc)
	fmt.Fprintln(stdout, "| targets | first round (start → READY=1) | bound | met | RSS at READY | RSS one interval later | memory per target | threads | fds |")
	fmt.Fprintln(stdout, "|---:|---:|---:|---|---:|---:|---:|---:|---:|")
	var baseN int
	var baseRSS int64
	for i, n := range ns {
		r, err := firstRound(ctx, *bin, dir, fakeConfig{Dir: dir, Targets: n, MaxConcurrent: *maxConc, Axigen: ax, Only: *check,
			Timing: Timing{Name: "targets", Interval: *interval, FastInterval: *interval, Timeout: *timeout,
				DegradedAfter: *timeout, Rise: 2, Fall: 7}})
		if err != nil {
			return fmt.Errorf("%d targets: %w", n, err)
		}
		perTarget := "baseline"
		if i == 0 {
			baseN, baseRSS = n, r.later.RSS
		} else if n != baseN {
			perTarget = fmt.Sprintf("%.1f KiB", float64(r.later.RSS-baseRSS)/float64(n-baseN)/1024)
		}
		bound := *interval + *timeout
		met := "**met**"
		if r.took > bound {
			met = "**not met**"
		}
		row := fmt.Sprintf("| %d | %.1f s | %.0f s | %s | %.1f MiB | %.1f MiB | %s | %d | %d |", n, r.took.Seconds(), bound.Seconds(), met,
			float64(r.ready.RSS)/(1<<20), float64(r.later.RSS)/(1<<20), perTarget, r.later.Threads, r.later.FDs)
		fmt.Fprintln(stderr, "targets:", row)
		fmt.Fprintln(stdout, row)
	}
	return nil
}

type roundResult struct {
	took         time.Duration
	ready, later procSample
}

// firstRound starts the daemon with NOTIFY_SOCKET pointing at a datagram socket of ours
// and waits for its READY=1, which it sends once every target has left "starting".
func firstRound(ctx context.Context, bin, dir string, cfg fakeConfig) (r roundResult, err error) {
	path, err := cfg.write()
	if err != nil {
		return r, err
	}
	notify := filepath.Join(dir, "notify.sock")
	_ = os.Remove(notify)
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		return r, err
	}
	defer ln.Close()
	if err := os.Setenv("NOTIFY_SOCKET", notify); err != nil { // inherited by the daemon
		return r, err
	}
	defer os.Unsetenv("NOTIFY_SOCKET")
	start := time.Now()
	d, err := startDaemon(ctx, bin, path, filepath.Join(dir, "axprobe.sock"), "", filepath.Join(dir, "axprobe.log"))
	if err != nil {
		return r, err
	}
	defer func() {
		if e := d.stop(); e != nil && err == nil {
			err = e
		}
	}()
	limit := 3*(cfg.Timing.Interval+cfg.Timing.Timeout) + 2*time.Minute
	_ = ln.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 4096)
	for {
		n, _, err := ln.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return r, fmt.Errorf("no READY=1 within %s", limit)
			}
			return r, err
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			break
		}
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
