package main

import (
	"context"
	"fmt"
	"io"
)

// PLACEHOLDER: replaced by the real command.
func runCommand(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "not built yet")
	return 2
}
