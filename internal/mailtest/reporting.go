package mailtest

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reporting is what a fake Axigen says about itself: the version its CLI's GET VERSION
// answers, and the Prometheus metrics its WebAdmin serves at /metrics when Axigen's
// Reporting service runs (queue_size, load_average, uptime, users_count{domain}). Tests and
// the demo turn its knobs at run time: the queue's size and growth, the version, the
// Reporting service on or off. It is safe for concurrent use.
type Reporting struct {
	version atomic.Pointer[string]
	off     atomic.Bool
	started time.Time
	now     func() time.Time

	mu      sync.Mutex // guards the queue
	queue   float64    // size at queueAt
	growth  float64    // messages per minute from queueAt on
	queueAt time.Time  // when queue was set
}

// NewReporting returns a Reporting for version ("" means DefaultVersion) with an empty,
// still queue and the Reporting service on.
func NewReporting(version string) *Reporting {
	now := time.Now()
	r := &Reporting{queueAt: now, started: now, now: time.Now}
	r.SetVersion(version)
	return r
}

// SetVersion changes the version reported from now on ("" means DefaultVersion).
func (r *Reporting) SetVersion(v string) {
	if v == "" {
		v = DefaultVersion
	}
	r.version.Store(&v)
}

// Version returns the version reported.
func (r *Reporting) Version() string { return *r.version.Load() }

// SetQueue sets the mail queue to n messages and stops any growth.
func (r *Reporting) SetQueue(n float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue, r.growth, r.queueAt = n, 0, r.now()
}

// GrowQueue makes the queue grow by perMinute messages a minute from its current size on
// (0 stops it; negative drains it, down to 0): delivery is stuck.
func (r *Reporting) GrowQueue(perMinute float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.queue, r.growth, r.queueAt = r.queueLocked(now), perMinute, now
}

// Queue returns the queue's current size.
func (r *Reporting) Queue() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queueLocked(r.now())
}

func (r *Reporting) queueLocked(now time.Time) float64 {
	q := r.queue + r.growth*now.Sub(r.queueAt).Minutes()
	return max(0, float64(int64(q))) // whole messages
}

// QueueGrowth returns the queue's growth per minute.
func (r *Reporting) QueueGrowth() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.growth
}

// SetEnabled switches Axigen's Reporting service: off, /metrics answers 404.
func (r *Reporting) SetEnabled(on bool) { r.off.Store(!on) }

// Enabled reports whether the Reporting service runs.
func (r *Reporting) Enabled() bool { return !r.off.Load() }

// Exposition renders the metrics in the Prometheus text format, as Axigen's WebAdmin
// serves them: queue_size, load_average, uptime (seconds) and users_count per domain.
func (r *Reporting) Exposition(domains map[string]int) []byte {
	r.mu.Lock()
	now := r.now()
	queue := r.queueLocked(now)
	uptime := now.Sub(r.started).Seconds()
	r.mu.Unlock()
	var b strings.Builder
	gauge := func(name, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name) }
	gauge("queue_size", "Number of messages in the mail queue.")
	fmt.Fprintf(&b, "queue_size %s\n", strconv.FormatFloat(queue, 'f', -1, 64))
	gauge("load_average", "System load average over one minute.")
	b.WriteString("load_average 0.12\n")
	gauge("uptime", "Seconds since the Axigen server started.")
	fmt.Fprintf(&b, "uptime %d\n", int64(uptime))
	gauge("users_count", "Number of accounts per domain.")
	for _, d := range slices.Sorted(maps.Keys(domains)) {
		fmt.Fprintf(&b, "users_count{domain=%q} %d\n", d, domains[d])
	}
	return []byte(b.String())
}

// serveMetrics answers GET /metrics on a WebAdmin fake: 401 without the basic auth of a
// known user (or with any under the reject_auth fault), 404 while Reporting is off, else
// the exposition.
func (p *httpProto) serveMetrics(w http.ResponseWriter, r *http.Request, fault Fault) {
	user, password, ok := r.BasicAuth()
	if !ok || !p.srv.checkLogin(fault, user, password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Axigen WebAdmin"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "<html><body>Unauthorized</body></html>\n")
		return
	}
	rep := p.srv.opts.Reporting
	if !rep.Enabled() {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body>Not Found</body></html>\n")
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(rep.Exposition(p.domains()))
}

// domains counts the fake's users per mail domain (the part after @; a bare login counts
// under the fake's host name).
func (p *httpProto) domains() map[string]int {
	out := map[string]int{}
	for user := range p.srv.opts.Users {
		d := p.srv.opts.Hostname
		if _, after, ok := strings.Cut(user, "@"); ok {
			d = after
		}
		out[d]++
	}
	return out
}
