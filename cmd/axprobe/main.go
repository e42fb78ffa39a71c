// Command axprobe is the health-probe daemon for clustered Axigen mail servers and its
// tools. main only dispatches (internal/cmdline): each subcommand lives in its own file
// with its own flag set.
package main

import "github.com/axprobe/axprobe/internal/cmdline"

func program() cmdline.Program {
	return cmdline.Program{
		Name: "axprobe",
		Header: `axprobe keeps a clustered Axigen mail service honest: a resident daemon probes every
listener and the local node's facts, and answers Veritas Cluster Server's monitor in
milliseconds.

Usage:
  axprobe <command> [flags]

Commands:
`,
		Footer: `
Run "axprobe <command> --help" for a command's flags and examples.
`,
		Commands: []cmdline.Command{
			{Name: "run", Synopsis: "run the probe daemon", Run: runCommand},
			{Name: "monitor", Synopsis: "print the cached verdict and exit with the VCS code (100-110)", Run: monitorCommand},
			{Name: "status", Synopsis: "show the daemon's targets, checks and scores", Run: statusCommand},
			{Name: "probe", Synopsis: "probe one listener now and print each phase", Run: probeCommand},
			{Name: "check-config", Synopsis: "validate a config file and print the effective config", Run: checkConfigCommand},
			{Name: "demo", Synopsis: "run the daemon against built-in fake Axigen listeners", Run: demoCommand},
			{Name: "version", Synopsis: "print the version", Run: versionCommand},
		},
	}
}

func main() { program().Main() }
