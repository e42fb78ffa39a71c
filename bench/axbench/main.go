// Command axbench is the Go half of bench/run: the parts of the benchmarks that need a real
// program rather than a shell loop. Each subcommand lives in its own file with its own
// flag set; main only dispatches (internal/cmdline).
//
//	axbench realenv   --env FILE                          real Dovecot, Postfix, nginx on loopback
//	axbench detect    --axprobe BIN                       detection latency against fake Axigen
//	axbench footprint --axprobe-pid N --blackbox URL ...  CPU and RSS of two processes side by side
//	axbench scale     --axprobe BIN --rates 100,1000      the daemon under many targets
//	axbench targets   --axprobe BIN --targets 1000,10000  first round and memory of many targets
//
// Every subcommand prints markdown on stdout (the rows bench/run pastes into
// docs/BENCHMARKS.md) and its progress on stderr. Exit codes: 0 done, 1 failed, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/axprobe/axprobe/internal/cmdline"
)

func program() cmdline.Program {
	return cmdline.Program{
		Name:   "axbench",
		Header: "Usage: axbench <command> [flags]   (normally run by bench/run)\n\nCommands:\n",
		Commands: []cmdline.Command{
			command("realenv", "run real Dovecot, Postfix and nginx on loopback until SIGTERM", realenvCommand),
			command("detect", "measure time from fault to code 100 and from repair to online", detectCommand),
			command("footprint", "sample CPU and RSS of axprobe and blackbox_exporter at the same probe rate", footprintCommand),
			command("scale", "run the daemon against many fake targets at rising probe rates", scaleCommand),
			command("targets", "time the first round of thousands of targets and their memory", targetsCommand),
		},
	}
}

func main() { program().Main() }

// errUsage marks an error in the command line: exit code 2 instead of 1.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// command makes a subcommand of run, which returns an error: it is reported as
// "axbench NAME: error", and the exit code is 0 without one, 2 for a usage error (the flag
// set has reported its own), 1 for any other.
func command(name, synopsis string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) cmdline.Command {
	return cmdline.Command{Name: name, Synopsis: synopsis, Run: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		err := run(ctx, args, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, cmdline.ErrUsage), errors.Is(err, flag.ErrHelp):
			return 2
		}
		fmt.Fprintf(stderr, "axbench %s: %v\n", name, err)
		if _, ok := errors.AsType[errUsage](err); ok {
			return 2
		}
		return 1
	}}
}
