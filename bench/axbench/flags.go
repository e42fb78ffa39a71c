package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// parseFlags parses args into fs and turns any problem (help included) into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage{"help requested"}
		}
		return errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return errUsage{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// parseInts parses a comma-separated list of positive integers, e.g. "100,250,1000".
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer (in %q)", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}
