package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixedSource always returns the same snapshot.
type fixedSource struct{ snap *daemon.Snapshot }

func (f fixedSource) LiveSnapshot() *daemon.Snapshot { return f.snap }

func offlineSnapshot(published time.Time) *daemon.Snapshot {
	return &daemon.Snapshot{Version: "v9", Published: published, Targets: []daemon.TargetSnapshot{{
		Name: "axigen", State: "offline", Code: 100, Confidence: 0.4, Reason: "imap: 3 consecutive failures (timeout in banner)",
		Gates: []daemon.CheckSnapshot{{Name: "vip", Protocol: "vip", HasResult: true, OK: true, Outcome: "ok", Health: 1}},
		Checks: []daemon.CheckSnapshot{
			{Name: "smtp", Protocol: "smtp", Critical: true, HasResult: true, OK: true, Outcome: "ok", Health: 1},
			{Name: "imap", Protocol: "imap", Critical: true, HasResult: true, Outcome: "failed", Reason: "timeout", Phase: "banner",
				Error: `timeout in phase banner: <script>alert("x")</script>`},
		},
		Transitions: []daemon.Transition{{At: published, From: "online", To: "offline", Reason: "imap failed"}},
		History:     []daemon.Point{{At: published.Add(-time.Minute), Confidence: 1, Code: 110}, {At: published, Confidence: 0.4, Code: 100}},
	}, {Name: "other", State: "online", Code: 110, Confidence: 1}}}
}

func newTestServer(t *testing.T, snap *daemon.Snapshot, faults FaultInjector) *Server {
	t.Helper()
	s, err := New(Options{Source: fixedSource{snap}, Metrics: NewMetrics("test"), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestStatusJSONIsTheSnapshot(t *testing.T) {
	snap := offlineSnapshot(time.Now())
	h := newTestServer(t, snap, nil).Handler()
	rec := get(t, h, "/status.json")
	want, _ := json.Marshal(snap)
	if rec.Code != 200 || rec.Body.String() != string(want) {
		t.Fatalf("GET /status.json = %d %s\nwant 200 %s", rec.Code, rec.Body, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var one daemon.Snapshot
	rec = get(t, h, "/status.json?target=other")
	if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || len(one.Targets) != 1 || one.Targets[0].Name != "other" {
		t.Errorf("?target=other = %s (err %v), want just target other", rec.Body, err)
	}
	if rec := get(t, h, "/status.json?target=nope"); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"nope"`) {
		t.Errorf("unknown target = %d %q, want 404 naming it", rec.Code, rec.Body)
	}
}

func TestHealthz(t *testing.T) {
	for _, c := range []struct {
		age  time.Duration
		code int
		body string
	}{{time.Second, 200, "ok\n"}, {time.Hour, 503, "stale"}} {
		rec := get(t, newTestServer(t, offlineSnapshot(time.Now().Add(-c.age)), nil).Handler(), "/healthz")
		if rec.Code != c.code || !strings.HasPrefix(rec.Body.String(), c.body) {
			t.Errorf("snapshot %s old: /healthz = %d %q, want %d %q", c.age, rec.Code, rec.Body, c.code, c.body)
		}
	}
}

func TestPageShowsTargetsAndEscapes(t *testing.T) {
	h := newTestServer(t, offlineSnapshot(time.Now()), nil).Handler()
	rec := get(t, h, "/")
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("GET / = %d", rec.Code)
	}
	for _, want := range []string{
		`data-target="axigen"`, "OFFLINE", "code <b>100</b>", "confidence <b>40%</b>", "timeout in banner",
		`data-target="other"`, "ONLINE", "<polyline points=", "online → <b>offline</b>: imap failed",
		`src="/static/app.js"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("an error text from the network reached the page unescaped")
	}
	if strings.Contains(body, `id="demo"`) {
		t.Error("the demo panel is shown outside the demo")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	for _, asset := range []string{"/static/app.js", "/static/style.css"} {
		if rec := get(t, h, asset); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d (%d bytes)", asset, rec.Code, rec.Body.Len())
		}
	}
	if rec := get(t, h, "/nope"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", rec.Code)
	}
}

// fakeFaults records what the demo endpoints ask for.
type fakeFaults struct {
	mu      sync.Mutex
	faults  map[string]string
	running bool
	signal  string
}

func (f *fakeFaults) Signals() []string { return []string{"queue_stuck"} }
func (f *fakeFaults) Signal() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signal
}
func (f *fakeFaults) SetSignal(s string) error {
	if s != "" && s != "queue_stuck" {
		return fmt.Errorf("signal %q unknown", s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signal = s
	return nil
}

func (f *fakeFaults) Listeners() []string { return []string{"smtp", "imap"} }
func (f *fakeFaults) Faults() []string    { return []string{"refuse", "hang"} }
func (f *fakeFaults) Fault(l string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faults[l]
}
func (f *fakeFaults) SetFault(l, fault string) error {
	if !slices.Contains(f.Listeners(), l) {
		return fmt.Errorf("listener %q unknown", l)
	}
	if fault != "" && !slices.Contains(f.Faults(), fault) {
		return fmt.Errorf("fault %q unknown", fault)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[l] = fault
	return nil
}
func (f *fakeFaults) ProcessRunning() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}
func (f *fakeFaults) KillProcess() error    { f.setRunning(false); return nil }
func (f *fakeFaults) RestartProcess() error { f.setRunning(true); return nil }
func (f *fakeFaults) setRunning(v bool) {
	f.mu.Lock()
	f.running = v
	f.mu.Unlock()
}

func TestDemoEndpoints(t *testing.T) {
	if rec := get(t, newTestServer(t, offlineSnapshot(time.Now()), nil).Handler(), "/demo/state"); rec.Code != http.StatusNotFound {
		t.Errorf("outside the demo, /demo/state = %d, want 404", rec.Code)
	}
	ff := &fakeFaults{faults: map[string]string{}, running: true}
	h := newTestServer(t, offlineSnapshot(time.Now()), ff).Handler()
	if body := get(t, h, "/").Body.String(); !strings.Contains(body, `id="demo"`) || !strings.Contains(body, `data-fault="hang"`) ||
		!strings.Contains(body, `data-signal="queue_stuck"`) {
		t.Error("the demo page lacks the fault buttons (listener faults and queue_stuck)")
	}
	post := func(path, form string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	ours := map[string]string{demoHeader: "1", "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}
	for _, c := range []struct {
		name   string
		header map[string]string
		form   string
		code   int
	}{
		{"no header (a plain cross-site form post)", nil, "listener=imap&fault=hang", 403},
		{"cross-origin", map[string]string{demoHeader: "1", "Origin": "http://evil.test"}, "listener=imap&fault=hang", 403},
		{"cross-site fetch metadata", map[string]string{demoHeader: "1", "Sec-Fetch-Site": "cross-site"}, "listener=imap&fault=hang", 403},
		{"unknown listener", ours, "listener=nntp&fault=hang", 400},
		{"unknown fault", ours, "listener=imap&fault=melt", 400},
	} {
		if rec := post("/demo/fault", c.form, c.header); rec.Code != c.code {
			t.Errorf("%s: %d %q, want %d", c.name, rec.Code, rec.Body, c.code)
		}
	}
	if ff.Fault("imap") != "" {
		t.Fatalf("a refused request set a fault: %q", ff.Fault("imap"))
	}
	rec := post("/demo/fault", "listener=imap&fault=hang", ours)
	if rec.Code != 200 || ff.Fault("imap") != "hang" || !strings.Contains(rec.Body.String(), `{"name":"imap","fault":"hang"}`) {
		t.Errorf("set hang: %d %s; fault now %q", rec.Code, rec.Body, ff.Fault("imap"))
	}
	if rec := post("/demo/fault", "listener=imap&fault=none", ours); rec.Code != 200 || ff.Fault("imap") != "" {
		t.Errorf("clear: %d %s; fault now %q", rec.Code, rec.Body, ff.Fault("imap"))
	}
	if rec := post("/demo/process", "action=kill", ours); rec.Code != 200 || ff.ProcessRunning() {
		t.Errorf("kill: %d %s; running %v", rec.Code, rec.Body, ff.ProcessRunning())
	}
	if rec := post("/demo/process", "action=restart", ours); rec.Code != 200 || !ff.ProcessRunning() {
		t.Errorf("restart: %d %s; running %v", rec.Code, rec.Body, ff.ProcessRunning())
	}
	if rec := post("/demo/signal", "signal=queue_stuck", nil); rec.Code != 403 || ff.Signal() != "" {
		t.Errorf("signal without the demo header: %d; signal now %q", rec.Code, ff.Signal())
	}
	if rec := post("/demo/signal", "signal=queue_stuck", ours); rec.Code != 200 || ff.Signal() != "queue_stuck" ||
		!strings.Contains(rec.Body.String(), `"signal":"queue_stuck"`) {
		t.Errorf("queue_stuck: %d %s; signal now %q", rec.Code, rec.Body, ff.Signal())
	}
	if rec := post("/demo/signal", "signal=none", ours); rec.Code != 200 || ff.Signal() != "" {
		t.Errorf("clear signal: %d %s; signal now %q", rec.Code, rec.Body, ff.Signal())
	}
	if rec := post("/demo/signal", "signal=meltdown", ours); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"meltdown"`) {
		t.Errorf("bad signal: %d %q, want 400 naming it", rec.Code, rec.Body)
	}
	if rec := post("/demo/process", "action=explode", ours); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"explode"`) {
		t.Errorf("bad action: %d %q, want 400 naming it", rec.Code, rec.Body)
	}
}

// serve runs s on a loopback port until the test ends and returns its base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "Serve", func(ctx context.Context) error { return s.Serve(ctx, ln) })
	return "http://" + ln.Addr().String()
}

func TestBasicAuthFromWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfgPath, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Source: fixedSource{offlineSnapshot(time.Now())}, Metrics: NewMetrics("test"), WebConfigFile: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		user, pass string
		code       int
	}{{"", "", 401}, {"prometheus", "wrong", 401}, {"prometheus", "scrape-pass", 200}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("user %q pass %q: %d, want %d", c.user, c.pass, resp.StatusCode, c.code)
		}
		if c.code == 200 && !strings.Contains(string(body), "axprobe_build_info") {
			t.Error("authorised scrape lacks axprobe_build_info")
		}
	}
}

func TestBadWebConfigIsRejectedAtNew(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfgPath, []byte("basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{Source: fixedSource{offlineSnapshot(time.Now())}, Metrics: NewMetrics("test"), WebConfigFile: cfgPath})
	if err == nil || !strings.Contains(err.Error(), cfgPath) {
		t.Errorf("New with a bad web config: %v, want an error naming %s", err, cfgPath)
	}
}

func TestServeStopsOnContextEnd(t *testing.T) {
	s := newTestServer(t, offlineSnapshot(time.Now()), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Run(t, "Serve", func(ctx context.Context) error { return s.Serve(ctx, ln) })
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop() // fails the test unless Serve returns nil soon after its context ends
	http.DefaultClient.CloseIdleConnections()
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("still answering after Serve returned")
	}
}

type fixedSocket ipc.SocketStatus

func (f fixedSocket) SocketStatus() ipc.SocketStatus { return ipc.SocketStatus(f) }

// TestHealthzSocket: /healthz tells about the daemon's socket file: 503 while it is
// missing or taken, a note once it was recreated (issue 13: a deleted socket used to
// leave /healthz saying ok while every monitor fell back).
func TestHealthzSocket(t *testing.T) {
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		sock ipc.SocketStatus
		code int
		body string
	}{
		{ipc.SocketStatus{}, 200, "ok\n"},
		{ipc.SocketStatus{Problem: "socket /run/axprobe/axprobe.sock: deleted, and cannot be recreated: x"}, 503, "socket: socket /run/axprobe/axprobe.sock: deleted"},
		{ipc.SocketStatus{Recreated: 2, LastRecreated: at}, 200, "ok\nsocket recreated 2 times after it was deleted, last at 2026-12-01T02:00:00Z\n"},
	} {
		s, err := New(Options{Source: fixedSource{offlineSnapshot(time.Now())}, Metrics: NewMetrics("test"), Socket: fixedSocket(c.sock)})
		if err != nil {
			t.Fatal(err)
		}
		rec := get(t, s.Handler(), "/healthz")
		if rec.Code != c.code || !strings.HasPrefix(rec.Body.String(), c.body) {
			t.Errorf("socket %+v: /healthz = %d %q, want %d %q", c.sock, rec.Code, rec.Body, c.code, c.body)
		}
	}
}
