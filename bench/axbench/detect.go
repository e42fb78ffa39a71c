package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/mailtest"
)

// faultKinds are the faults detect injects into the fake's IMAP listener (a critical
// check), and what each does.
func faultKinds() map[string]string {
	return map[string]string{
		"crash": "the IMAP listener is gone: connections are refused (mailtest FaultRefuse)",
		"hang":  "the IMAP listener accepts and never sends a byte (FaultHang)",
		"slow":  "the IMAP banner comes 2 × timeout late, then the session is normal (FaultSlowBanner)",
	}
}

func detectCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cmdline.NewFlagSet("axbench detect", `Usage: axbench detect --axprobe BIN [--timings LIST] [--faults LIST] [--reps N]

For each configuration and fault, REPS times: starts fake Axigen listeners and a fresh
axprobe daemon with one six-check target, waits for code 110, waits a random part of an
interval (so the fault lands anywhere in the schedule), breaks the IMAP listener, and
measures the time until MONITOR says 100; then repairs it and measures the time until
MONITOR says 101 or more. Prints a markdown table.

Flags:
`, stderr)
	bin := fs.String("axprobe", "", "the axprobe binary to run as the daemon (required)")
	timingNames := fs.String("timings", "default,aggressive", "configurations to measure: default, aggressive")
	faultNames := fs.String("faults", "crash,hang,slow", "faults to inject: crash, hang, slow")
	reps := fs.Int("reps", 3, "measurements per configuration and fault")
	poll := fs.Duration("poll", 10*time.Millisecond, "how often MONITOR is asked during a measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errUsage{"--axprobe is required"}
	}
	if *reps < 1 || *poll <= 0 {
		return errUsage{fmt.Sprintf("--reps %d and --poll %s must be positive", *reps, *poll)}
	}
	var ts []Timing
	for name := range strings.SplitSeq(*timingNames, ",") {
		t, ok := timings()[name]
		if !ok {
			return errUsage{fmt.Sprintf("--timings: %q is not default or aggressive", name)}
		}
		ts = append(ts, t)
	}
	faults := strings.Split(*faultNames, ",")
	for _, f := range faults {
		if _, ok := faultKinds()[f]; !ok {
			return errUsage{fmt.Sprintf("--faults: %q is not crash, hang or slow", f)}
		}
	}

	fmt.Fprintln(stdout, "Configurations:")
	for _, t := range ts {
		fmt.Fprintf(stdout, "- %s: %s\n", t.Name, t)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| config | fault | fault → 100: median (min–max) | repair → ≥ 101: median (min–max) | runs |")
	fmt.Fprintln(stdout, "|---|---|---:|---:|---:|")
	for _, t := range ts {
		for _, f := range faults {
			var down, up []time.Duration
			for r := range *reps {
				d, u, err := detectOnce(ctx, *bin, t, f, *poll)
				if err != nil {
					return fmt.Errorf("%s, %s, run %d: %w", t.Name, f, r+1, err)
				}
				fmt.Fprintf(stderr, "detect: %s %s run %d: fault → 100 in %s, repair → online in %s\n",
					t.Name, f, r+1, d.Round(time.Millisecond), u.Round(time.Millisecond))
				down, up = append(down, d), append(up, u)
			}
			fmt.Fprintf(stdout, "| %s | %s | %s | %s | %d |\n", t.Name, f, spread(down), spread(up), *reps)
		}
	}
	return nil
}

// detectOnce measures one fault: the time from breaking the IMAP listener to code 100, and
// from repairing it to code ≥ 101.
func detectOnce(ctx context.Context, bin string, t Timing, fault string, poll time.Duration) (down, up time.Duration, err error) {
	site, err := openFakeSite("detect")
	if err != nil {
		return 0, 0, err
	}
	defer site.Close()
	d, err := site.startDaemon(ctx, bin, fakeConfig{Targets: 1, MaxConcurrent: 16, Timing: t})
	if err != nil {
		return 0, 0, err
	}
	defer d.stopInto(&err)

	// Healthy first, whatever the start-up needs.
	healthyBy, cancel := context.WithTimeout(ctx, 3*t.Interval+30*time.Second)
	defer cancel()
	if _, _, err := d.waitCode(healthyBy, poll, func(c int) bool { return c == 110 }); err != nil {
		return 0, 0, fmt.Errorf("never healthy: %w", err)
	}
	// Land the fault at a random point of the schedule.
	if err := sleepCtx(ctx, rand.N(t.Interval)); err != nil {
		return 0, 0, err
	}

	// The longest either wait can take with this timing, with a wide margin.
	limit := 2*(t.Interval+time.Duration(t.Fall+t.Rise+1)*(t.Timeout+t.FastInterval)) + 30*time.Second
	imap := site.ax.IMAP
	switch fault {
	case "crash":
		err = imap.ApplyFault(mailtest.FaultRefuse)
	case "hang":
		err = imap.ApplyFault(mailtest.FaultHang)
	case "slow":
		imap.SetSlowDelay(2 * t.Timeout)
		err = imap.ApplyFault(mailtest.FaultSlowBanner)
	}
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	downBy, cancelDown := context.WithTimeout(ctx, limit)
	defer cancelDown()
	_, at, err := d.waitCode(downBy, poll, func(c int) bool { return c == 100 })
	if err != nil {
		return 0, 0, fmt.Errorf("fault not detected: %w", err)
	}
	down = at.Sub(start)

	if err := imap.ApplyFault(mailtest.FaultNone); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	upBy, cancelUp := context.WithTimeout(ctx, limit)
	defer cancelUp()
	_, at, err = d.waitCode(upBy, poll, func(c int) bool { return c >= 101 && c <= 110 })
	if err != nil {
		return 0, 0, fmt.Errorf("repair not detected: %w", err)
	}
	return down, at.Sub(start), nil
}

// spread formats durations as "median (min–max)" in seconds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	if len(s) == 1 {
		return sec(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", sec(s[len(s)/2]), sec(s[0]), sec(s[len(s)-1]))
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
