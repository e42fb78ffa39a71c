package main

import (
	"context"
	"io"

	"github.com/axprobe/axprobe/internal/shim"
)

// monitorCommand is "axprobe monitor": the same as the axprobe-monitor program (same
// flags, VCS arguments and exit codes, see internal/shim), offered for convenience. VCS
// should run axprobe-monitor instead: this binary links the whole daemon, and its package
// initialisation alone makes every start several milliseconds slower.
func monitorCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return shim.Run(ctx, args, stdout, stderr)
}
