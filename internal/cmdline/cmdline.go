// Package cmdline is the command-line plumbing that the programs with subcommands
// (cmd/axprobe, bench/axbench) share: the table of subcommands and its dispatch, and each
// subcommand's flag set with its help text. Exit codes follow the flag package: 2 for a
// mistake in the command line.
package cmdline

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command is one subcommand. Run returns the process exit code, so that each command owns
// its exit-code contract (axprobe probe: 0/1/2; axprobe monitor: the VCS codes 100-110).
type Command struct {
	Name     string
	Synopsis string
	Run      func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// Program is a program made of subcommands: `Name <command> [flags]`.
type Program struct {
	Name     string
	Header   string // printed before the list of commands, ends with a newline
	Footer   string // printed after it, "" for none
	Commands []Command
}

// Main runs the command that os.Args names with a context that SIGINT and SIGTERM cancel,
// and exits with its code.
func (p Program) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := p.Dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Dispatch runs the command args[0] names with the rest of args and returns its exit code.
// No command, help or an unknown one prints the usage on stderr and returns 2.
func (p Program) Dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		p.Usage(stderr)
		return 2
	}
	for _, c := range p.Commands {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", p.Name, args[0])
	p.Usage(stderr)
	return 2
}

// Usage writes the header, one line per command with its synopsis, and the footer.
func (p Program) Usage(w io.Writer) {
	width := 0
	for _, c := range p.Commands {
		width = max(width, len(c.Name))
	}
	fmt.Fprint(w, p.Header)
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Synopsis)
	}
	fmt.Fprint(w, p.Footer)
}
