package mailtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReportingQueueKnobs(t *testing.T) {
	r := NewReporting("")
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.now, r.started = func() time.Time { return clock }, clock
	r.SetQueue(10)
	if q := r.Queue(); q != 10 {
		t.Fatalf("queue %v", q)
	}
	r.GrowQueue(30) // stuck delivery: +30 a minute
	clock = clock.Add(2 * time.Minute)
	if q := r.Queue(); q != 70 {
		t.Fatalf("queue after 2 min at 30/min: %v, want 70", q)
	}
	r.GrowQueue(-100) // drains, never below 0
	clock = clock.Add(time.Minute)
	if q := r.Queue(); q != 0 {
		t.Fatalf("drained queue %v", q)
	}
	if r.Version() != DefaultVersion {
		t.Fatalf("version %q", r.Version())
	}
	exp := string(r.Exposition(map[string]int{"b.test": 2, "a.test": 1}))
	for _, want := range []string{"# TYPE queue_size gauge\nqueue_size 0\n", "load_average ", "uptime 180\n",
		"users_count{domain=\"a.test\"} 1\nusers_count{domain=\"b.test\"} 2\n"} {
		if !strings.Contains(exp, want) {
			t.Errorf("exposition lacks %q:\n%s", want, exp)
		}
	}
}

func TestWebAdminMetrics(t *testing.T) {
	rep := NewReporting("10.5.1")
	s := start(t, func(o Options) (*Server, error) { return StartHTTP(o, KindWebAdmin) },
		Options{Reporting: rep, Users: map[string]string{"admin@example.test": "pw"}})
	get := func(user, password string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		// A fault holds for new connections: no keep-alive.
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	rep.SetQueue(42)
	code, body, h := get("admin@example.test", "pw")
	if code != 200 || !strings.Contains(body, "queue_size 42\n") || !strings.Contains(body, `users_count{domain="example.test"} 1`) ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics: %d %q %v", code, body, h)
	}
	if code, _, h := get("", ""); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no auth: %d %v", code, h)
	}
	if code, _, _ := get("admin@example.test", "wrong"); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	rep.SetEnabled(false)
	if code, _, _ := get("admin@example.test", "pw"); code != 404 {
		t.Errorf("reporting off: %d, want 404", code)
	}
	rep.SetEnabled(true)
	s.SetFault(FaultRejectAuth)
	if code, _, _ := get("admin@example.test", "pw"); code != 401 {
		t.Errorf("reject_auth: %d", code)
	}
	s.SetFault(FaultNone)

	// A WebMail, or a WebAdmin without Reporting, has no /metrics.
	plain := start(t, func(o Options) (*Server, error) { return StartHTTP(o, KindWebAdmin) }, Options{})
	resp, err := http.Get("http://" + plain.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("webadmin without reporting: %d", resp.StatusCode)
	}
}

func TestCLIVersionFromReporting(t *testing.T) {
	rep := NewReporting("10.5.1")
	s := start(t, StartCLI, Options{Reporting: rep})
	c := dial(t, s.Addr())
	c.exact(CLIWelcome + "<login> ")
	c.send("GET VERSION\r\n")
	c.exact("10.5.1|Linux|x86_64\r\n+OK: command successful\r\n<login> ")
	rep.SetVersion("10.6.30")
	c = dial(t, s.Addr())
	c.exact(CLIWelcome + "<login> ")
	c.send("GET VERSION\r\n")
	c.exact("10.6.30|Linux|x86_64\r\n+OK: command successful\r\n<login> ")
}

func TestFaulterSignals(t *testing.T) {
	f := startFaulter(t)
	ax := f.Axigen
	if f.Signal() != "" {
		t.Fatalf("signal %q at start", f.Signal())
	}
	if err := f.SetSignal("queue_stuck"); err != nil || f.Signal() != "queue_stuck" || ax.Reporting.QueueGrowth() != DemoQueueGrowth {
		t.Fatalf("queue_stuck: %v, signal %q, growth %v", err, f.Signal(), ax.Reporting.QueueGrowth())
	}
	if err := f.SetSignal("none"); err != nil || f.Signal() != "" || ax.Reporting.Queue() != 0 {
		t.Fatalf("none: %v, signal %q, queue %v", err, f.Signal(), ax.Reporting.Queue())
	}
	if err := f.SetSignal("meltdown"); err == nil || !strings.Contains(err.Error(), `"meltdown"`) {
		t.Fatalf("unknown signal: %v", err)
	}
}
