package probe

import (
	"crypto/tls"
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
	now       func() time.Time
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
	t.endLocked(t.now())
	t.current = ""
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

// Elapsed is the time since the trace started.
func (t *Trace) Elapsed() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
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
	info := &TLSInfo{Version: tls.VersionName(state.Version), Verified: verified}
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
	if t.tlsInfo == nil {
		return nil
	}
	c := *t.tlsInfo
	return &c
}
