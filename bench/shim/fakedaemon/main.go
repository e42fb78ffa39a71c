// Command fakedaemon serves a fixed healthy MONITOR answer on a Unix socket, for the shim
// start-up benchmark (bench/shim/run.sh). It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
)

// source always answers "online, 100 %" for any target.
type source struct{}

func (source) Monitor(target string) (ipc.Answer, error) {
	if target == "" {
		target = "axigen"
	}
	return ipc.Answer{Target: target, Code: 110, State: "online", Confidence: 1,
		Age: time.Second, MaxAge: 30 * time.Second, Reason: "all checks healthy"}, nil
}

func (source) Status(string) ([]byte, error) { return nil, errors.New("not implemented") }

func main() {
	socket := flag.String("socket", "", "socket path to serve on")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "fakedaemon: --socket is required")
		os.Exit(2)
	}
	srv, err := ipc.Listen(*socket, 0, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakedaemon:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, source{}); err != nil {
		fmt.Fprintln(os.Stderr, "fakedaemon:", err)
		os.Exit(1)
	}
}
