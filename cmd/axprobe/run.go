package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/config"
)

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe run", `Usage: axprobe run [--config FILE] [flags]

Runs the probe daemon: probes every check of every target on its schedule, keeps the
confidence score, and answers axprobe-monitor / axprobe status on the Unix socket.
SIGHUP reloads the config (a bad config is rejected and the running one kept);
SIGTERM or SIGINT stops it gracefully. Settings come from, in increasing priority:
built-in defaults, the config file, AXPROBE_* environment variables (AXPROBE_LOG__LEVEL=debug),
and these flags.

Examples:
  axprobe run --config /etc/axprobe/axprobe.yaml
  axprobe run --config axprobe.yaml --socket /tmp/axprobe.sock --log.level debug

Flags:
`, stderr)
	configPath := fs.String("config", config.DefaultPath, "the YAML config file")
	overrides := overrideFlags(fs.FlagSet)
	cpuProfile := fs.String("cpuprofile", "", "diagnostics: write a CPU profile (pprof) of the whole run to this new file (docs/BENCHMARKS.md)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	env := os.Environ()
	flags := overrides.values(fs.FlagSet)
	load := func() (*config.Config, error) { return config.Load(*configPath, env, flags) }
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "axprobe run: %s:\n%v\n", *configPath, err)
		return 1
	}
	log, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "axprobe run: %v\n", err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		log.Warn("config", "warning", w)
	}
	srv, err := newServer(cfg, load, log, webHooks(cfg, log))
	if err != nil {
		fmt.Fprintf(stderr, "axprobe run: %v\n", err)
		return 1
	}
	tuneGC(env)
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "axprobe run: --cpuprofile: %v\n", err)
			return 1
		}
		defer stop()
	}
	if err := srv.run(ctx); err != nil {
		log.Error("axprobe failed", "err", err)
		return 1
	}
	return 0
}

// daemonGCPercent is the daemon's GOGC. Its live heap is 2–3 MiB at a normal node's load,
// under the Go runtime's minimum heap goal of 4 MiB at the default GOGC=100; at 50 the goal
// follows the live heap, which keeps the resident set under 20 MiB for a few hundred
// microseconds more of GC per second (docs/BENCHMARKS.md, "Footprint at scale").
const daemonGCPercent = 50

// tuneGC sets the daemon's GC target, unless the operator set GOGC in env: theirs wins.
func tuneGC(env []string) {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOGC=") {
			return
		}
	}
	debug.SetGCPercent(daemonGCPercent)
}

// oneProcRate is the most network probes a second, every check at its fast interval, that
// the daemon serves on one processor (GOMAXPROCS=1). A probe is mostly waiting; on two or
// more processors the Go scheduler wakes an idle one for every goroutine that becomes
// runnable and puts it back to sleep, a futex call each way, which cost about a quarter of
// the daemon's CPU at a normal node's load (docs/BENCHMARKS.md, "Footprint at scale").
// One processor handles about 1,000 probes a second; at 100 it is a tenth busy.
const oneProcRate = 100

// peakProbeRate is the network probes a second the targets ask for when every check runs
// at its fast interval (every check failing): the most their schedule can ask. Gates are
// left out: they read kernel state in microseconds.
func peakProbeRate(specs []config.TargetSpec) float64 {
	rate := 0.0
	for i := range specs {
		t := &specs[i]
		for k := range t.Checks {
			c := &t.Checks[k]
			rate += 1 / min(t.IntervalOf(c), t.FastIntervalOf(c)).Seconds()
		}
	}
	return rate
}

// procsFor is the GOMAXPROCS the daemon runs specs with: 1 when their peak probe rate is
// at most oneProcRate, else 0 for the runtime's default (one per CPU the process may use).
func procsFor(specs []config.TargetSpec) int {
	if peakProbeRate(specs) <= oneProcRate {
		return 1
	}
	return 0
}

// tuneProcs sets GOMAXPROCS for specs (procsFor) and returns what it set, unless the
// operator set GOMAXPROCS in the environment (fixed): theirs wins and it returns 0.
func tuneProcs(fixed bool, specs []config.TargetSpec) int {
	if fixed {
		return 0
	}
	procs := procsFor(specs)
	if procs == 0 {
		runtime.SetDefaultGOMAXPROCS()
	} else {
		runtime.GOMAXPROCS(procs)
	}
	return runtime.GOMAXPROCS(0)
}

// overrides are the flags that override config keys: flag name → config key.
type overrides map[string]string

func overrideFlags(fs *flag.FlagSet) overrides {
	o := overrides{}
	for _, f := range []struct{ name, key, usage string }{
		{"socket", "socket", "Unix socket path (config key socket)"},
		{"http.listen", "http.listen", "address of /metrics and the status page, \"\" to disable (config key http.listen)"},
		{"web.config.file", "http.web_config_file", "exporter-toolkit web config for TLS and basic auth (config key http.web_config_file)"},
		{"log.level", "log.level", "debug, info, warn or error (config key log.level)"},
		{"log.format", "log.format", "text or json (config key log.format)"},
	} {
		fs.String(f.name, "", f.usage)
		o[f.name] = f.key
	}
	return o
}

// values returns the overrides given on the command line, keyed for config.Load. An empty
// value counts when given: --http.listen "" disables the web side.
func (o overrides) values(fs *flag.FlagSet) map[string]any {
	m := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		if key, ok := o[f.Name]; ok {
			m[key] = f.Value.String()
		}
	})
	return m
}

// startCPUProfile profiles the process into path, a file it creates (never one that exists,
// never through a symlink: the daemon runs as root), until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
