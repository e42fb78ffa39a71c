package daemon

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
)

// Monitor implements ipc.Source: the answer for target ("" = the first) from the latest
// snapshot, with the live facts of this moment applied (live.go): an online target whose
// VIP, process or storage mount is gone at this instant answers offline. Age is the time
// since the target's last result, so an answer from a daemon whose probes have stopped
// goes stale even though the socket still answers.
func (d *Daemon) Monitor(target string) (ipc.Answer, error) {
	s := d.Snapshot()
	t, ok := s.Target(target)
	if !ok {
		return ipc.Answer{}, fmt.Errorf("no target %q", target)
	}
	now := time.Now()
	lt, _ := d.live(t, now)
	return answerOf(s, &lt, now), nil
}

func answerFor(s *Snapshot, target string, now time.Time) (ipc.Answer, error) {
	t, ok := s.Target(target)
	if !ok {
		return ipc.Answer{}, fmt.Errorf("no target %q", target)
	}
	return answerOf(s, t, now), nil
}

func answerOf(s *Snapshot, t *TargetSnapshot, now time.Time) ipc.Answer {
	since := t.Updated
	if since.IsZero() {
		since = s.Published
	}
	return ipc.Answer{
		Target:     t.Name,
		Code:       t.Code,
		State:      t.State,
		Confidence: t.Confidence,
		Age:        max(now.Sub(since), 0),
		MaxAge:     time.Duration(t.MaxAge),
		Reason:     t.Reason,
	}
}

// Status implements ipc.Source: the snapshot with the live facts applied, as JSON, all
// targets or just one.
func (d *Daemon) Status(target string) ([]byte, error) {
	s := d.LiveSnapshot()
	if target == "" {
		return json.Marshal(s)
	}
	t, ok := s.Target(target)
	if !ok {
		return nil, fmt.Errorf("no target %q", target)
	}
	one := *s
	one.Targets = []TargetSnapshot{*t}
	return json.Marshal(&one)
}

// Version implements ipc.Versioner.
func (d *Daemon) Version() string { return d.opts.Version }
