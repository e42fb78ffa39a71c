package probe

import (
	"crypto/tls"
	"slices"
	"sync"
	"time"
)

// Phase is one named step of a probe and how long it took.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// TLSInfo describes the TLS session a probe saw. CertNotAfter is recorded even when
// verification failed, so an expired certificate's expiry is still reported.
type TLSInfo struct {
	Version      string    `json:"version"`                 // "TLS 1.3"
	CertSubject  string    `json:"cert_subject,omitempty"`  // leaf certificate subject CN
	CertNotAfter time.Time `json:"cert_not_after,omitzero"` // leaf certificate expiry
	Verified     bool      `json:"verified"`                // chain and name verified
	Resumed      bool      `json:"resumed,omitempty"`       // an abbreviated handshake resumed an earlier session
}

// Trace records the phases of one probe run. A prober calls Begin at the start of each
// phase; the previous phase ends there. Trace is safe for use by the prober's goroutine and
// by the conn wrapper's first-byte hook at the same time.
type Trace struct {
	mu        sync.Mutex
	start     time.Time
	phaseAt   time.Time
	current   string
	phases    []Phase
	tlsInfo   *TLSInfo
	firstByte time.Time
	end       time.Time // set by the first Finish
	measures  []Measure
	notes     []Note
	now       func() time.Time

	// What a prober found besides success or failure (metrics check, storage gate).
	degraded, degradedDetail string
	series                   []SeriesValue
	capacity                 *Capacity
}

// Measure is a named duration a prober reports besides its phases, when the interesting
// figure is not the length of one phase: a mail round trip's delivery latency runs from the
// SMTP server's "queued" reply to the moment the message shows up over IMAP.
type Measure struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// Note is a named fact a prober learned from the server, shown to people but never scored:
// a round trip's queue id, so that a lost message can be found in the mail server's log.
type Note struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NewTrace starts a trace at the current time.
func NewTrace() *Trace { return newTraceAt(time.Now) }

func newTraceAt(now func() time.Time) *Trace {
	t := now()
	return &Trace{start: t, phaseAt: t, now: now}
}

// Begin ends the current phase (if any) and starts the named one.
func (t *Trace) Begin(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.endLocked(now)
	t.current = name
	t.phaseAt = now
}

// BeginBanner starts the "banner" phase. Unlike other phases, the banner phase ends at the
// first byte the server sends (recorded by the conn wrapper), not when a library has
// finished parsing the greeting: that is the server's latency, not ours.
func (t *Trace) BeginBanner() {
	t.Begin("banner")
	t.mu.Lock()
	t.firstByte = time.Time{}
	t.mu.Unlock()
}

// Finish ends the current phase. The trace may still be read afterwards.
func (t *Trace) Finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.endLocked(now)
	t.current = ""
	if t.end.IsZero() {
		t.end = now
	}
}

func (t *Trace) endLocked(now time.Time) {
	if t.current == "" {
		return
	}
	end := now
	if t.current == "banner" && !t.firstByte.IsZero() && t.firstByte.Before(now) {
		end = t.firstByte
	}
	t.phases = append(t.phases, Phase{Name: t.current, Duration: end.Sub(t.phaseAt)})
}

// markFirstByte is called by the conn wrapper when bytes arrive for the first time after
// BeginBanner.
func (t *Trace) markFirstByte() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == "banner" && t.firstByte.IsZero() {
		t.firstByte = t.now()
	}
}

// Current returns the name of the phase in progress, or of the last phase once finished.
func (t *Trace) Current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current != "" {
		return t.current
	}
	if n := len(t.phases); n > 0 {
		return t.phases[n-1].Name
	}
	return "start"
}

// Elapsed is the time since the trace started until now, or until Finish once it has been
// called: a finished trace reports the probe's length however late it is read (the daemon
// reads it after its results queue, the metrics later still).
func (t *Trace) Elapsed() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.end.IsZero() {
		return t.end.Sub(t.start)
	}
	return t.now().Sub(t.start)
}

// Phases returns a copy of the completed phases in order.
func (t *Trace) Phases() []Phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Phase(nil), t.phases...)
}

// SetTLS records the state of a TLS connection, including the peer certificate's expiry
// when the handshake got far enough to see it.
func (t *Trace) SetTLS(state tls.ConnectionState, verified bool) {
	info := &TLSInfo{Version: tls.VersionName(state.Version), Verified: verified, Resumed: state.DidResume}
	if len(state.PeerCertificates) > 0 {
		leaf := state.PeerCertificates[0]
		info.CertNotAfter = leaf.NotAfter
		info.CertSubject = leaf.Subject.CommonName
	}
	t.mu.Lock()
	t.tlsInfo = info
	t.mu.Unlock()
}

// TLS returns what SetTLS recorded, or nil when the probe did not use TLS.
func (t *Trace) TLS() *TLSInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return clone(t.tlsInfo)
}

// SetMeasure records d under name, replacing an earlier value of the same name.
func (t *Trace) SetMeasure(name string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.measures = setNamed(t.measures, Measure{Name: name, Duration: d}, func(m Measure) bool { return m.Name == name })
}

// Measure returns the duration recorded under name, and whether there is one.
func (t *Trace) Measure(name string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.measures {
		if m.Name == name {
			return m.Duration, true
		}
	}
	return 0, false
}

// Measures returns a copy of the recorded measures in the order they were first set, or
// nil when there are none.
func (t *Trace) Measures() []Measure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Measure(nil), t.measures...)
}

// SetNote records value under name, replacing an earlier value of the same name. Probers
// put only what the server said in notes (truncated), never a credential.
func (t *Trace) SetNote(name, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = setNamed(t.notes, Note{Name: name, Value: value}, func(n Note) bool { return n.Name == name })
}

// setNamed replaces the entry of list that same picks out with v, or appends v when there
// is none: the first-set order of Measures and Notes.
func setNamed[T any](list []T, v T, same func(T) bool) []T {
	if i := slices.IndexFunc(list, same); i >= 0 {
		list[i] = v
		return list
	}
	return append(list, v)
}

// Notes returns a copy of the recorded notes in the order they were first set, or nil when
// there are none.
func (t *Trace) Notes() []Note {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Note(nil), t.notes...)
}

// EachPhase calls f with each completed phase in order, without copying them.
func (t *Trace) EachPhase(f func(Phase)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.phases {
		f(p)
	}
}

// CertNotAfter returns the leaf certificate expiry SetTLS recorded, or the zero time.
func (t *Trace) CertNotAfter() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tlsInfo == nil {
		return time.Time{}
	}
	return t.tlsInfo.CertNotAfter
}

// Degrade marks a successful probe as degraded: it worked, but what it found is worth a
// warning (a mail queue above its threshold, storage running low). reason is a short
// code ("threshold", "growth", "storage_low"), detail the human explanation. The first call
// wins: probers grade their worst finding first.
func (t *Trace) Degrade(reason, detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.degraded == "" {
		t.degraded, t.degradedDetail = reason, detail
	}
}

// Degraded returns what Degrade recorded: the reason ("" when the probe did not degrade
// itself) and its detail.
func (t *Trace) Degraded() (reason, detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.degraded, t.degradedDetail
}

// SeriesValue is one series a metrics check graded: its value in the last scrape and, once
// two scrapes are known, its growth per minute over the check's window.
type SeriesValue struct {
	Name      string  `json:"name"` // as configured: queue_size, users_count{domain="example.com"}
	Value     float64 `json:"value"`
	Growth    float64 `json:"growth_per_minute"`
	HasGrowth bool    `json:"has_growth"`
	Limits    []Limit `json:"limits,omitempty"` // the thresholds it is graded against
}

// Limit is one configured threshold of a graded series: Level is degraded_above,
// failed_above, degraded_below, failed_below, growth_degraded_above or growth_failed_above.
type Limit struct {
	Level string  `json:"level"`
	Value float64 `json:"value"`
}

// SetSeries records one graded series, replacing an earlier value of the same name.
func (t *Trace) SetSeries(v SeriesValue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.series {
		if t.series[i].Name == v.Name {
			t.series[i] = v
			return
		}
	}
	t.series = append(t.series, v)
}

// Series returns a copy of the recorded series in the order they were first set, or nil.
func (t *Trace) Series() []SeriesValue {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]SeriesValue(nil), t.series...)
}

// Capacity is what the storage gate found about the filesystem of the domain storage.
// Inodes is 0 on filesystems that do not report inodes (btrfs, some NFS servers).
type Capacity struct {
	SizeBytes  uint64 `json:"size_bytes"`
	FreeBytes  uint64 `json:"free_bytes"` // available to unprivileged users (Axigen runs as axigen)
	Inodes     uint64 `json:"inodes"`
	FreeInodes uint64 `json:"free_inodes"`
	// The gate's thresholds, in percent of free space or inodes; 0 when disabled.
	DegradedFreePercent float64 `json:"degraded_free_percent,omitempty"`
	FailedFreePercent   float64 `json:"failed_free_percent,omitempty"`
}

// SetCapacity records the storage capacity the probe measured.
func (t *Trace) SetCapacity(c Capacity) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.capacity = &c
}

// Capacity returns what SetCapacity recorded, or nil.
func (t *Trace) Capacity() *Capacity {
	t.mu.Lock()
	defer t.mu.Unlock()
	return clone(t.capacity)
}

// clone returns a pointer to a copy of *p, or nil for nil: what the getters of the
// optional records hand out, so that callers never share the trace's own.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
