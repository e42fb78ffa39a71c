// Command axprobe-monitor is the VCS monitor program for axprobe: it asks the resident
// daemon for a target's verdict over its Unix socket and exits with the code VCS reads
// (100 offline, 101-110 online, 99 unknown). See internal/shim for the behaviour and
// --help for the flags.
//
// It is a separate, small binary because VCS starts it on every node at every monitor
// interval: it links only the standard library, internal/ipc, internal/local and internal/vcs.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/axprobe/axprobe/internal/shim"
)

func main() {
	// shim.Main already returns within its budget; this is the last line of defence if
	// something blocks anyway: the process never outlives the budget plus a margin.
	limit, code, line := shim.HardLimit(os.Args[1:])
	time.AfterFunc(limit, func() {
		if line != "" {
			fmt.Fprintln(os.Stdout, line)
		}
		fmt.Fprintf(os.Stderr, "axprobe-monitor: hard deadline of %s passed; exiting %d\n", limit, code)
		os.Exit(code)
	})
	os.Exit(shim.Main(os.Args[1:], os.Stdout, os.Stderr))
}
