package cmdline

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func testProgram(ran *[]string) Program {
	cmd := func(name string, code int) Command {
		return Command{Name: name, Synopsis: "the " + name + " command", Run: func(_ context.Context, args []string, _, _ io.Writer) int {
			*ran = append(*ran, name+" "+strings.Join(args, " "))
			return code
		}}
	}
	return Program{Name: "prog", Header: "Usage: prog <command>\n", Footer: "See prog <command> --help.\n",
		Commands: []Command{cmd("a", 0), cmd("longer", 7)}}
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		ran        string // the command run and its arguments, "" for none
		wantStderr string
	}{
		{[]string{"a", "-x", "y"}, 0, "a -x y", ""},
		{[]string{"longer"}, 7, "longer ", ""},
		{nil, 2, "", "Usage: prog <command>\n  a       the a command\n  longer  the longer command\nSee prog <command> --help.\n"},
		{[]string{"--help"}, 2, "", "  longer  the longer command\n"},
		{[]string{"bogus"}, 2, "", "prog: unknown command \"bogus\"\n\nUsage: prog <command>\n"},
	} {
		var ran []string
		var stdout, stderr strings.Builder
		code := testProgram(&ran).Dispatch(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || strings.Join(ran, "|") != tc.ran || !strings.Contains(stderr.String(), tc.wantStderr) || stdout.Len() > 0 {
			t.Errorf("%q: exit %d, ran %q, stdout %q, stderr %q; want exit %d, ran %q, stderr with %q",
				tc.args, code, ran, stdout.String(), stderr.String(), tc.code, tc.ran, tc.wantStderr)
		}
	}
}

func TestFlagSetParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		hint    string
		want    error
		wantOut string // what the flag set wrote; "" for nothing
	}{
		{[]string{"--n", "3"}, "", nil, ""},
		{[]string{"--help"}, "", flag.ErrHelp, "Usage: prog cmd [--n N]\n\nFlags:\n  -n int\n"},
		{[]string{"--bogus"}, "", ErrUsage, "flag provided but not defined: -bogus\nUsage: prog cmd"},
		{[]string{"--n", "x"}, "", ErrUsage, `invalid value "x" for flag -n`},
		{[]string{"--n", "3", "file.yaml"}, "", ErrUsage, "prog cmd: unexpected argument \"file.yaml\"\n"},
		{[]string{"file.yaml"}, "(the file goes after --n)", ErrUsage, "prog cmd: unexpected argument \"file.yaml\" (the file goes after --n)\n"},
	} {
		var out strings.Builder
		fs := NewFlagSet("prog cmd", "Usage: prog cmd [--n N]\n\nFlags:\n", &out)
		fs.ArgHint = tc.hint
		n := fs.Int("n", 1, "how many")
		err := fs.Parse(tc.args)
		if !errors.Is(err, tc.want) || (tc.wantOut == "") != (out.Len() == 0) || !strings.Contains(out.String(), tc.wantOut) {
			t.Errorf("%q: error %v, output %q; want error %v, output with %q", tc.args, err, out.String(), tc.want, tc.wantOut)
		}
		if err == nil && *n != 3 {
			t.Errorf("%q: n = %d, want 3", tc.args, *n)
		}
	}
}

// TestFlagSetHelpTo: with HelpTo set, -h's help goes there, once, and problems still go to
// the output (check-config printed its help on both).
func TestFlagSetHelpTo(t *testing.T) {
	for _, tc := range []struct {
		args              []string
		wantHelp, wantOut string
	}{
		{[]string{"-h"}, "Usage: prog cmd\n", ""},
		{[]string{"--bogus"}, "", "flag provided but not defined: -bogus\nUsage: prog cmd\n"},
	} {
		var help, out strings.Builder
		fs := NewFlagSet("prog cmd", "Usage: prog cmd\n", &out)
		fs.HelpTo = &help
		_ = fs.Parse(tc.args)
		if help.String() != tc.wantHelp || out.String() != tc.wantOut {
			t.Errorf("%q: help %q, output %q; want help %q, output %q", tc.args, help.String(), out.String(), tc.wantHelp, tc.wantOut)
		}
	}
}
