package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/axprobe/axprobe/internal/cmdline"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func versionCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe version", `Usage: axprobe version

Prints the axprobe version and the Go version it was built with.
`, stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	goVersion := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
	}
	fmt.Fprintf(stdout, "axprobe %s (%s)\n", buildVersion(), goVersion)
	return 0
}
