// Command axprobe is the health-probe daemon for clustered Axigen mail servers and its
// tools. main only dispatches: each subcommand lives in its own file with its own FlagSet.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. Run returns the process exit code, so that each command owns
// its exit-code contract (probe: 0/1/2; monitor: the VCS codes 100-110).
type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the probe daemon", runCommand},
		{"monitor", "print the cached verdict and exit with the VCS code (100-110)", monitorCommand},
		{"status", "show the daemon's targets, checks and scores", statusCommand},
		{"probe", "probe one listener now and print each phase", probeCommand},
		{"check-config", "validate a config file and print the effective config", checkConfigCommand},
		{"demo", "run the daemon against built-in fake Axigen listeners", demoCommand},
		{"version", "print the version", versionCommand},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "axprobe: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `axprobe keeps a clustered Axigen mail service honest: a resident daemon probes every
listener and the local node's facts, and answers Veritas Cluster Server's monitor in
milliseconds.

Usage:
  axprobe <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, `
Run "axprobe <command> --help" for a command's flags and examples.
`)
}
