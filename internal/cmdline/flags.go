package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrUsage is what FlagSet.Parse returns for a mistake in the command line, once it has
// written the problem out.
var ErrUsage = errors.New("usage error")

// FlagSet is a subcommand's flag set. Its usage is the command's help text followed by
// the flags and their defaults; it writes problems and -h's help to its output.
type FlagSet struct {
	*flag.FlagSet

	// ArgHint, when set, follows the complaint about a positional argument, e.g. "(the
	// file goes after --config)".
	ArgHint string

	// HelpTo, when set, gets -h's help instead of the output, e.g. stdout for a command
	// whose help is an answer rather than a complaint. Problems still go to the output.
	HelpTo io.Writer
}

// NewFlagSet returns the flag set of the command name (e.g. "axprobe status", which
// prefixes its complaints) writing to output. help is the text before the flags: a usage
// line, what the command does, examples, and a closing "Flags:" line.
func NewFlagSet(name, help string, output io.Writer) *FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return &FlagSet{FlagSet: fs}
}

// Parse parses args, which must be flags only. It returns nil, flag.ErrHelp for -h or
// --help (the help has been written), or ErrUsage once it has written the problem: the
// flag package's message and the usage, or `NAME: unexpected argument "x"`.
func (fs *FlagSet) Parse(args []string) error {
	// The flag package writes the help and its complaints while it parses; whether they
	// were help is known only after.
	out := fs.Output()
	var written bytes.Buffer
	fs.SetOutput(&written)
	err := fs.FlagSet.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) && fs.HelpTo != nil {
		out = fs.HelpTo
	}
	_, _ = out.Write(written.Bytes())
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		msg := fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
		if fs.ArgHint != "" {
			msg += " " + fs.ArgHint
		}
		fmt.Fprintln(fs.Output(), msg)
		return ErrUsage
	}
	return nil
}
