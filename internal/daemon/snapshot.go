package daemon

import (
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// Snapshot is the daemon's answer at one moment: immutable once published, shared by the
// socket, the status page and /metrics without locks. Never modify a published Snapshot.
type Snapshot struct {
	Version   string           `json:"version"`
	Published time.Time        `json:"published"`
	Targets   []TargetSnapshot `json:"targets"`
}

// Target returns the named target, or the first when name is empty.
func (s *Snapshot) Target(name string) (*TargetSnapshot, bool) {
	for i := range s.Targets {
		if name == "" || s.Targets[i].Name == name {
			return &s.Targets[i], true
		}
	}
	return nil, false
}

// TargetSnapshot is one target's verdict and the evidence behind it.
type TargetSnapshot struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Code       int       `json:"code"`
	Confidence float64   `json:"confidence"`
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`       // last state change
	Updated    time.Time `json:"updated"`     // last result folded in
	Interval   Duration  `json:"interval"`    // the target's probe interval
	MaxAge     Duration  `json:"max_age"`     // a snapshot older than this is stale
	Maintained bool      `json:"maintenance"` // the maintenance marker is present

	Gates       []CheckSnapshot `json:"gates"`
	Checks      []CheckSnapshot `json:"checks"`
	Transitions []Transition    `json:"transitions"` // newest last, bounded
	History     []Point         `json:"history"`     // confidence samples, newest last, bounded

	// Stats counts the target's state changes for /metrics. Unlike the rest of the
	// snapshot it is live: every snapshot of the target shares it.
	Stats *TargetStats `json:"-"`
}

// CheckSnapshot is the last known state of one check or gate.
type CheckSnapshot struct {
	Name                string         `json:"name"`
	Protocol            string         `json:"protocol"`
	Address             string         `json:"address,omitempty"`
	Critical            bool           `json:"critical,omitempty"`
	Weight              float64        `json:"weight,omitempty"`
	Health              float64        `json:"health"`
	HasResult           bool           `json:"has_result"`
	OK                  bool           `json:"ok"`
	Outcome             string         `json:"outcome"` // ok|degraded|failed|pending
	ConsecutiveFailures int            `json:"consecutive_failures"`
	LastAt              time.Time      `json:"last_at,omitzero"`
	Duration            Duration       `json:"duration"`
	Reason              string         `json:"reason,omitempty"`
	Phase               string         `json:"phase,omitempty"`
	Error               string         `json:"error,omitempty"`
	Phases              []probe.Phase  `json:"phases,omitempty"`
	TLS                 *probe.TLSInfo `json:"tls,omitempty"`
	Notes               []probe.Note   `json:"notes,omitempty"`  // facts of the last run, e.g. a round trip's queue_id or the CLI's version
	Detail              string         `json:"detail,omitempty"` // why a degraded outcome is degraded, when the prober said (threshold, storage_low)

	// Series is what a metrics check graded in its last run: each series' value and growth.
	Series []probe.SeriesValue `json:"series,omitempty"`
	// AxigenVersion is the Axigen version a CLI check last saw (GET VERSION), kept while
	// later probes fail: a standby node goes on reporting the version it ran.
	AxigenVersion string `json:"axigen_version,omitempty"`
	// Capacity is the storage gate's last measure of the domain storage's free space and
	// inodes; nil until one succeeds.
	Capacity *probe.Capacity `json:"capacity,omitempty"`

	// DeliverySeconds is a mail round trip's delivery latency (from the SMTP server's
	// "queued" reply to the message seen over IMAP) in its last successful run; 0 until
	// one succeeds. A failed run leaves it as it was.
	DeliverySeconds float64 `json:"delivery_seconds,omitempty"`

	// Stats holds the check's cumulative figures for /metrics (failures by reason, phase
	// durations). Unlike the rest of the snapshot it is live: every snapshot shares it.
	Stats *CheckStats `json:"-"`
}

// AxigenVersion returns the Axigen version the target's CLI check last reported (its
// "version" note), or "" when no CLI check has answered GET VERSION.
func (t *TargetSnapshot) AxigenVersion() string {
	for _, c := range t.Checks {
		if c.AxigenVersion != "" {
			return c.AxigenVersion
		}
	}
	return ""
}

// Transition is one state change of a target.
type Transition struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`

	seq uint64 // set by the hook runner: the transition's number for AXPROBE_SEQ
}

// Point is one confidence sample for the status page's sparkline.
type Point struct {
	At         time.Time `json:"at"`
	Confidence float64   `json:"confidence"`
	Code       int       `json:"code"`
}

// Duration marshals as a Go duration string ("1.5s") in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
