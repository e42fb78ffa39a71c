package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/mailtest"
)

// The control socket (--control PATH) lets a test switch a listener's fault in the running
// stand-in, the way the demo's status page does in-process: one request per connection,
// one line "<listener> <fault>" ("imap hang", "imap none"), one reply line "ok" or
// "error: <why>". Integration tests use it to hang a listener of a stand-in that a cluster
// manager started (test/pacemaker).

// maxControlLine bounds a request: the longest listener and fault names are far shorter.
const maxControlLine = 128

// controlTimeout bounds one control connection, so a client that never writes cannot hold
// a goroutine.
const controlTimeout = 5 * time.Second

// parseControl reads one request line (without its newline) into a listener and a fault.
// The fault must be one mailtest.ParseFault knows; the listener is checked by the caller.
// Errors quote the offending word with %q, so control bytes never reach a terminal.
func parseControl(line string) (listener string, fault mailtest.Fault, err error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return "", "", fmt.Errorf("want \"<listener> <fault>\", got %d words", len(fields))
	}
	f, err := mailtest.ParseFault(fields[1])
	if err != nil {
		return "", "", fmt.Errorf("fault %q is not one of none, %v", fields[1], mailtest.Faults())
	}
	return fields[0], f, nil
}

// listenControl creates the control socket at path (mode 0600). An existing socket there
// (left by a killed stand-in) is replaced; anything else at path is an error, so the
// stand-in never removes a file it does not own.
func listenControl(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("--control %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("--control %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	return ln, nil
}

// serveControl answers control requests until ctx ends, then closes ln and waits for the
// connections in flight.
func serveControl(ctx context.Context, ln net.Listener, servers map[string]*mailtest.Server, log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				log.Error("control socket", "err", err)
			}
			return
		}
		wg.Go(func() { handleControl(conn, servers, log) })
	}
}

// handleControl answers one request on conn.
func handleControl(conn net.Conn, servers map[string]*mailtest.Server, log *slog.Logger) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(conn, maxControlLine+1), maxControlLine+1).ReadString('\n')
	if len(line) > maxControlLine || (err != nil && !(errors.Is(err, io.EOF) && line != "")) {
		fmt.Fprintf(conn, "error: want one line of at most %d bytes ending in a newline\n", maxControlLine)
		return
	}
	reply := applyControl(strings.TrimSuffix(line, "\n"), servers, log)
	fmt.Fprintln(conn, reply)
}

// applyControl carries out one request and returns the reply line.
func applyControl(line string, servers map[string]*mailtest.Server, log *slog.Logger) string {
	name, fault, err := parseControl(line)
	if err != nil {
		return "error: " + err.Error()
	}
	s, ok := servers[name]
	if !ok {
		return fmt.Sprintf("error: listener %q is not one of smtp, imap, pop3, webmail, webadmin, cli", name)
	}
	if err := s.ApplyFault(fault); err != nil {
		return "error: " + err.Error()
	}
	log.Info("fault set", "listener", name, "fault", string(fault))
	return "ok"
}

// removeControl removes the control socket at path if it is still a socket.
func removeControl(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode().Type() != fs.ModeSocket) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--control %s: %w", path, err)
	}
	return nil
}
