// Command axbench is the Go half of bench/run: the parts of the benchmarks that need a real
// program rather than a shell loop. Each subcommand lives in its own file with its own
// FlagSet; main only dispatches.
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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"realenv", "run real Dovecot, Postfix and nginx on loopback until SIGTERM", realenvCommand},
		{"detect", "measure time from fault to code 100 and from repair to online", detectCommand},
		{"footprint", "sample CPU and RSS of axprobe and blackbox_exporter at the same probe rate", footprintCommand},
		{"scale", "run the daemon against many fake targets at rising probe rates", scaleCommand},
		{"targets", "time the first round of thousands of targets and their memory", targetsCommand},
	}
}

// errUsage marks an error in the command line: exit code 2 instead of 1.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil {
			return 0
		}
		fmt.Fprintf(stderr, "axbench %s: %v\n", c.name, err)
		if _, ok := err.(errUsage); ok {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stderr, "axbench: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: axbench <command> [flags]   (normally run by bench/run)\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.synopsis)
	}
}
