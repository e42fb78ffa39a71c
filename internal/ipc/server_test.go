package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawRequest sends payload on a fresh connection and returns everything the server sent
// before closing, bounded at 5 s.
func rawRequest(t *testing.T, path, payload string) string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, payload); err != nil {
		t.Fatalf("write: %v", err)
	}
	if !strings.HasSuffix(payload, "\n") {
		_ = conn.(*net.UnixConn).CloseWrite() // end the request by EOF
	}
	// A server that closes with unsent request bytes unread resets the connection after
	// its reply; what was sent before the reset still counts.
	out, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v", err)
	}
	return string(out)
}

// TestClientServer: every command answers, and the observer counts each outcome. The
// observer is told after the reply is written, so the counts are waited for, not read at
// once; an observer slow to count STATUS (as a starved handler on a loaded machine) makes
// that race certain.
func TestClientServer(t *testing.T) {
	rec := newRecorder()
	rec.slow = map[[2]string]time.Duration{{"status", "ok"}: time.Second}
	srv := serve(t, newFakeSource(), func(s *Server) { s.Observer = rec })
	ctx := ctx5(t)

	if err := Ping(ctx, srv.Path()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	a, err := Monitor(ctx, srv.Path(), "")
	if err != nil || a != healthy("axigen") {
		t.Errorf("Monitor(\"\") = %+v, %v", a, err)
	}
	a, err = Monitor(ctx, srv.Path(), "other")
	if err != nil || a.Code != 100 || a.Reason != `smtp: "421" at banner` {
		t.Errorf("Monitor(other) = %+v, %v", a, err)
	}
	_, err = Monitor(ctx, srv.Path(), "nope")
	if !isServerError(err, `no target "nope"`) {
		t.Errorf("Monitor(nope) = %v, want ERR no target", err)
	}
	js, err := Status(ctx, srv.Path(), "")
	if err != nil || string(js) != `{   "targets": [] } ` {
		t.Errorf("Status = %q, %v; want the JSON on one line", js, err)
	}
	v, err := DaemonVersion(ctx, srv.Path())
	if err != nil || v != "1.2.3" {
		t.Errorf("DaemonVersion = %q, %v", v, err)
	}
	if got := rawRequest(t, srv.Path(), "VERSION\n"); got != "axprobe/1 VERSION protocol=1 daemon=\"1.2.3\"\n" {
		t.Errorf("raw VERSION reply %q", got)
	}
	if got := rawRequest(t, srv.Path(), "PING"); got != "axprobe/1 PONG\n" {
		t.Errorf("PING ended by EOF instead of newline: reply %q", got)
	}
	for _, k := range [][2]string{{"ping", "ok"}, {"monitor", "ok"}, {"monitor", "error"}, {"status", "ok"}, {"version", "ok"}} {
		rec.waitCount(t, k[0], k[1], 1)
	}
}

func TestBadRequests(t *testing.T) {
	rec := newRecorder()
	srv := serve(t, newFakeSource(), func(s *Server) { s.Observer = rec })

	// 256 bytes with the newline is the largest request: read, then rejected as a request.
	max := "PING" + strings.Repeat(" ", MaxRequest-5) + "\n"
	if got := rawRequest(t, srv.Path(), max); got != "axprobe/1 ERR bad request: PING takes no argument\n" {
		t.Errorf("256-byte request: reply %q", got)
	}
	// One more byte before the newline and it is oversize.
	if got := rawRequest(t, srv.Path(), "PING "+max[4:]); got != "axprobe/1 ERR request longer than 256 bytes\n" {
		t.Errorf("257-byte request: reply %q", got)
	}
	if got := rawRequest(t, srv.Path(), strings.Repeat("A", 10000)); got != "axprobe/1 ERR request longer than 256 bytes\n" {
		t.Errorf("10000-byte request: reply %q", got)
	}
	if got := rawRequest(t, srv.Path(), "DROP TABLES\n"); !strings.HasPrefix(got, "axprobe/1 ERR bad request: unknown command") {
		t.Errorf("unknown command: reply %q", got)
	}
	if got := rawRequest(t, srv.Path(), "MONITOR \x1b[2J\n"); !strings.HasPrefix(got, "axprobe/1 ERR bad request: request contains byte 0x1b") {
		t.Errorf("control bytes: reply %q", got)
	}
	// The server still serves.
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Errorf("Ping after bad requests: %v", err)
	}
	rec.waitCount(t, commandInvalid, ResultBadRequest, 5)
	if n := rec.count(commandInvalid, ResultBadRequest); n != 5 {
		t.Errorf("observer counted %d bad requests, want 5", n)
	}
}

func TestSourcePanics(t *testing.T) {
	src := newFakeSource()
	src.monitor = func(string) (Answer, error) { panic("boom") }
	srv := serve(t, src, nil)
	if got := rawRequest(t, srv.Path(), "MONITOR\n"); got != "axprobe/1 ERR internal error\n" {
		t.Errorf("panicking source: reply %q", got)
	}
	src2 := newFakeSource()
	src2.monitor = func(string) (Answer, error) { return Answer{Target: "t", Code: 42, State: "online"}, nil }
	srv2 := serve(t, src2, nil)
	if _, err := Monitor(ctx5(t), srv2.Path(), ""); !isServerError(err, "") || !strings.Contains(err.Error(), "code 42") {
		t.Errorf("source with a bad answer: %v", err)
	}
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Errorf("Ping after a panic: %v", err)
	}
}

// TestSlowloris: a client that sends one byte and stalls is cut at the read deadline while
// other clients are served. The deadline is also every other client's: it must be long
// enough that a starved client on a loaded machine still sends its request in time.
func TestSlowloris(t *testing.T) {
	rec := newRecorder()
	srv := serve(t, newFakeSource(), func(s *Server) {
		s.Observer = rec
		s.Timeout = 3 * time.Second
	})
	cut := rec.on(commandInvalid, ResultTimeout)
	slow, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("P")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := Monitor(ctx5(t), srv.Path(), ""); err != nil {
			t.Fatalf("Monitor %d while a slow client holds a connection: %v", i, err)
		}
	}
	wait(t, cut, "the server to cut the slow client")
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(slow)
	if err != nil {
		t.Fatalf("slow client: %v (the server should have closed the connection)", err)
	}
	if !strings.HasPrefix(string(got), "axprobe/1 ERR timeout") {
		t.Errorf("slow client got %q", got)
	}
}

// TestManyClients: 1,000 concurrent MONITORs against a cap of 256 (and as many overflow
// slots). The source holds every handler until the cap is full and a client was refused,
// so the cap is really exercised; every reply must be the right answer or a clean "busy".
func TestManyClients(t *testing.T) {
	const clients, limit = 1000, DefaultMaxConns
	rec := newRecorder()
	refused := rec.on(commandInvalid, ResultBusy)
	var inFlight atomic.Int32
	full := make(chan struct{})
	release := make(chan struct{})
	src := newFakeSource()
	src.monitor = func(target string) (Answer, error) {
		if inFlight.Add(1) == limit {
			close(full)
		}
		<-release
		return healthy(target), nil
	}
	srv := serve(t, src, func(s *Server) { s.Observer = rec })

	var (
		wg       sync.WaitGroup
		ok, busy atomic.Int32
		errs     = make(chan error, clients)
	)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := "t" + strconv.Itoa(i)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			a, err := Monitor(ctx, srv.Path(), target)
			switch {
			case err == nil && a == healthy(target):
				ok.Add(1)
			case isServerError(err, "busy"):
				busy.Add(1)
			default:
				errs <- fmt.Errorf("client %d: %+v, %v", i, a, err)
			}
		}()
	}
	wait(t, full, "the cap to fill")
	wait(t, refused, "a client to be refused")
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ok.Load() < limit || busy.Load() == 0 || ok.Load()+busy.Load() != clients {
		t.Errorf("%d answered, %d busy; want at least %d answered, some busy, %d in all", ok.Load(), busy.Load(), limit, clients)
	}
}

// TestClientGoneMidReply: a client that asks for a large reply and hangs up does not
// disturb the server.
func TestClientGoneMidReply(t *testing.T) {
	rec := newRecorder()
	src := newFakeSource()
	src.status = []byte(`{"pad":"` + strings.Repeat("x", 8<<20) + `"}`)
	srv := serve(t, src, func(s *Server) { s.Observer = rec })
	failed := rec.on("status", ResultError)
	conn, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "STATUS\n"); err != nil {
		t.Fatal(err)
	}
	// Read a little of the reply, then hang up.
	if _, err := io.ReadFull(bufio.NewReader(conn), make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	wait(t, failed, "the server to notice the hang-up")
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Errorf("Ping after a client hung up mid-reply: %v", err)
	}
}

func TestClientDeadline(t *testing.T) {
	// A "daemon" that accepts and never answers.
	path := sockPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	held.Add(1)
	go func() {
		defer held.Done()
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c) // until the client gives up
			c.Close()
		}
	}()
	defer func() { ln.Close(); held.Wait() }()

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = Monitor(ctx, path, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Monitor against a silent daemon = %v, want a deadline error", err)
	}
	if _, err := Monitor(ctx5(t), filepath.Join(filepath.Dir(path), "missing.sock"), ""); err == nil {
		t.Error("Monitor with no socket succeeded")
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	srv := serve(t, newFakeSource(), nil)
	_, err := Listen(srv.Path(), 0, "")
	want := fmt.Sprintf("another axprobe is serving %s (pid %d)", srv.Path(), os.Getpid())
	if err == nil || err.Error() != want {
		t.Errorf("second Listen = %v, want %q", err, want)
	}
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := sockPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket file not left behind: %v", err)
	}
	srv, err := Listen(path, 0, "")
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, newFakeSource()) }()
	if err := Ping(ctx5(t), path); err != nil {
		t.Errorf("Ping: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after shutdown: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, 0, ""); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen over a regular file = %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("the regular file was touched: %q, %v", b, err)
	}
}

func TestListenPermissions(t *testing.T) {
	dir := filepath.Join(filepath.Dir(sockPath(t)), "run", "axprobe")
	path := filepath.Join(dir, "a.sock")
	srv, err := Listen(path, 0, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("socket directory: %v, %v; want mode 0750", fi.Mode(), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, %v; want mode 0660", fi.Mode(), err)
	}
	srv2, err := Listen(filepath.Join(dir, "b.sock"), 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	if fi, err := os.Stat(srv2.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket with mode 0600: %v, %v", fi.Mode(), err)
	}
	if _, err := Listen(filepath.Join(dir, "c.sock"), 0, "no-such-group-axprobe"); err == nil || !strings.Contains(err.Error(), `"no-such-group-axprobe"`) {
		t.Errorf("unknown group: %v", err)
	}
}

// TestShutdown: canceling Serve's context closes open connections, removes the socket and
// returns; Serve cannot run twice.
func TestShutdown(t *testing.T) {
	rec := newRecorder()
	srv, err := Listen(sockPath(t), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Observer = rec
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, newFakeSource()) }()
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx, newFakeSource()); err == nil {
		t.Error("second Serve succeeded")
	}
	idle, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := idle.Write([]byte("MON")); err != nil { // mid-request
		t.Fatal(err)
	}
	// The idle conn is being handled once its first byte was read; a Ping after it
	// proves the accept loop moved past it.
	if err := Ping(ctx5(t), srv.Path()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(idle); err != nil {
		t.Errorf("open connection not closed by shutdown: %v", err)
	}
	if _, err := os.Stat(srv.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after shutdown: %v", err)
	}
	if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.Serve(t.Context(), newFakeSource()); err == nil {
		t.Error("Serve after Close succeeded")
	}
}
