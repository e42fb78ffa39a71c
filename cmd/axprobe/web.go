package main

import (
	"log/slog"

	"github.com/axprobe/axprobe/internal/config"
)

// webHooks wires /metrics and the status page to the daemon. (Replaced by internal/web.)
func webHooks(*config.Config, *slog.Logger) serverHooks { return serverHooks{} }
