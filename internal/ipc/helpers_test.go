package ipc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestMain: re-executed as nobody by TestOneUIDCannotStarveOthers, the binary is the hog.
func TestMain(m *testing.M) { testkit.Main(m, hogEnv, runHog) }

// fakeSource answers from a fixed table; "" maps to "axigen".
type fakeSource struct {
	answers map[string]Answer
	status  []byte
	version string
	monitor func(target string) (Answer, error) // overrides answers when set
}

func healthy(target string) Answer {
	return Answer{Target: target, Code: 110, State: "online", Confidence: 0.97,
		Age: 1200 * time.Millisecond, MaxAge: 30 * time.Second, Reason: "all checks healthy"}
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		answers: map[string]Answer{"axigen": healthy("axigen"), "other": {Target: "other", Code: 100, State: "offline", Reason: `smtp: "421" at banner`}},
		status:  []byte("{\n  \"targets\": []\n}\n"),
		version: "1.2.3",
	}
}

func (f *fakeSource) Monitor(target string) (Answer, error) {
	if f.monitor != nil {
		return f.monitor(target)
	}
	if target == "" {
		target = "axigen"
	}
	a, ok := f.answers[target]
	if !ok {
		return Answer{}, fmt.Errorf("no target %q", target)
	}
	return a, nil
}

func (f *fakeSource) Status(string) ([]byte, error) { return f.status, nil }
func (f *fakeSource) Version() string               { return f.version }

// recorder is an Observer that keeps every event and can signal a chosen one.
type recorder struct {
	slow   map[[2]string]time.Duration // Request sleeps this long first for these events, as a starved handler would
	hold   map[[2]string]chan struct{} // Request waits for these to close first: a handler descheduled after its reply
	mu     sync.Mutex
	counts map[[2]string]int
	notify map[[2]string]chan struct{}
}

func newRecorder() *recorder {
	return &recorder{counts: map[[2]string]int{}, notify: map[[2]string]chan struct{}{}}
}

func (r *recorder) Request(command, result string) {
	time.Sleep(r.slow[[2]string{command, result}])
	if ch, ok := r.hold[[2]string{command, result}]; ok {
		<-ch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{command, result}
	r.counts[k]++
	if ch, ok := r.notify[k]; ok {
		delete(r.notify, k)
		close(ch)
	}
}

// on returns a channel closed at the next (command, result) event.
func (r *recorder) on(command, result string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.notify[[2]string{command, result}] = ch
	return ch
}

// waitCount waits until (command, result) has been seen at least n times, failing the test
// after testkit.Bound. The server tells its observer after the reply is written (the result
// depends on whether the write succeeded), so a client can hold its reply before the count
// is made.
func (r *recorder) waitCount(t *testing.T, command, result string, n int) {
	t.Helper()
	testkit.WaitFor(t, testkit.Bound, fmt.Sprintf("the observer to see %s/%s %d times", command, result, n),
		func() bool { return r.count(command, result) >= n })
}

func (r *recorder) count(command, result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[[2]string{command, result}]
}

// wait waits for ch or fails the test after 10 s.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// sockPath returns a short socket path (sun_path holds 108 bytes) in a fresh directory.
func sockPath(t *testing.T) string {
	return filepath.Join(itest.ShortDir(t, "ipc"), "s.sock")
}

// serve listens on a fresh socket, applies configure, serves src until the test ends and
// checks that Serve returned nil.
func serve(t *testing.T, src Source, configure func(*Server)) *Server {
	t.Helper()
	srv, err := Listen(sockPath(t), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	// Far beyond any request's needs: a handler starved on a loaded machine between setting
	// its deadline and writing must not time out. TestSlowloris sets its own.
	srv.Timeout = 30 * time.Second
	if configure != nil {
		configure(srv)
	}
	testkit.Run(t, "Serve", func(ctx context.Context) error { return srv.Serve(ctx, src) })
	return srv
}

// ctx5 is a context bounded at 5 s so no test waits forever on a broken server.
func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func isServerError(err error, msg string) bool {
	var se *ServerError
	return errors.As(err, &se) && (msg == "" || se.Message == msg)
}
