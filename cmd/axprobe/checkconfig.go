package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/config"
)

const checkConfigHelp = `Usage: axprobe check-config [--config FILE] [--print]

Load a config file exactly as the daemon does (defaults, then the file, then AXPROBE_
environment variables; password files and variables are read) and report the result.

Exit status: 0 when the config is valid, 1 when it is not (every problem is printed, one
per line, with its field path), 2 for a usage error.

Examples:
  # Validate the installed config:
  axprobe check-config

  # Validate a new file before installing it:
  axprobe check-config --config ./axprobe.yaml

  # See every default filled in, then what runs (each check's address, schedule and
  # gates, as the daemon runs them); passwords are never printed:
  axprobe check-config --config /etc/axprobe/axprobe.yaml --print > effective.yaml

  # See what an environment override does:
  AXPROBE_LOG__LEVEL=debug axprobe check-config --print

Flags:
`

// checkConfigCommand validates a config file. With --print, stdout gets only the effective
// config as YAML (so that it can be redirected to a file) and the verdict goes to stderr;
// without it, the verdict goes to stdout.
func checkConfigCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe check-config", checkConfigHelp, stderr)
	fs.ArgHint = "(the file goes after --config)"
	fs.HelpTo = stdout
	path := fs.String("config", config.DefaultPath, "config file to check")
	printConfig := fs.Bool("print", false, "print the effective config (defaults filled in, passwords redacted) and, as a second YAML document, what runs, on stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	cfg, err := config.Load(*path, os.Environ(), nil)
	if err != nil {
		if ps, ok := errors.AsType[config.Problems](err); ok {
			fmt.Fprintf(stderr, "%s: %d %s:\n%v\n", *path, len(ps), plural(len(ps), "problem"), err)
		} else {
			fmt.Fprintf(stderr, "axprobe check-config: %v\n", err)
		}
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	verdict := fmt.Sprintf("config OK: %d %s, %d %s", len(cfg.Targets), plural(len(cfg.Targets), "target"),
		cfg.NumChecks(), plural(cfg.NumChecks(), "check"))
	if !*printConfig {
		fmt.Fprintln(stdout, verdict)
		return 0
	}
	out, err := cfg.Redacted()
	if err != nil {
		fmt.Fprintf(stderr, "axprobe check-config: %v\n", err)
		return 1
	}
	model, err := config.RedactedModel(cfg.Resolve())
	if err != nil {
		fmt.Fprintf(stderr, "axprobe check-config: %v\n", err)
		return 1
	}
	// A second YAML document, so that the first still loads as a config file.
	out = append(out, "---\n# What runs: every target as the daemon runs it, the fallback file and the scores\n# are taken from these (docs/CONFIG.md, \"What runs\").\n"...)
	out = append(out, model...)
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "axprobe check-config: %v\n", err)
		return 1
	}
	fmt.Fprintln(stderr, verdict)
	return 0
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
