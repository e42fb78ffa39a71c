package daemon

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/axprobe/axprobe/internal/local"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/score"
	"github.com/axprobe/axprobe/internal/vcs"
	"github.com/axprobe/axprobe/internal/watch"
)

// LiveBudget bounds the answer-time reads of one request (every live gate of a target
// together). The reads take microseconds; the bound matters only when one blocks in the
// kernel (a pidfile on a hung NFS mount), and then the answer is offline with the reason,
// as the scheduled gate's own timeout would make it. It is well inside the half of its
// --timeout (2 s) that the monitor shim gives the daemon.
const LiveBudget = 250 * time.Millisecond

// liveGate is the answer-time half of one gate (probe.LiveCheck), and the way to make the
// scheduler probe the gate at once (poke).
type liveGate struct {
	name  string
	read  func() error
	reads *local.Bounded
	pokes *pokeQueue
	poked bool // queued in pokes; guarded by pokes.mu
}

// liveSet holds the live gates of every target, for one generation of the schedule.
type liveSet struct {
	byTarget map[string][]*liveGate
	pokes    *pokeQueue // the gates poked since the scheduler last looked
}

// newLiveSet builds the live gates of every target, with the answer-time reads of those
// that have one.
func newLiveSet(targets []TargetSpec) *liveSet {
	set := &liveSet{byTarget: map[string][]*liveGate{}, pokes: newPokeQueue()}
	for _, t := range targets {
		for _, g := range t.Gates {
			set.byTarget[t.Name] = append(set.byTarget[t.Name], &liveGate{name: g.Name,
				read: probe.LiveCheck(g.Probe), reads: new(local.Bounded), pokes: set.pokes})
		}
	}
	return set
}

// poke asks the scheduler to probe the gate now. It never blocks: a pending poke is
// enough.
func (g *liveGate) poke() { g.pokes.add(g) }

// failure runs the target's live reads, bounded together by LiveBudget, and returns the
// first failing gate's reason, or the zero Reason when every fact holds. A failing gate's
// worker is poked, so that the loop folds the fact (transition, metrics, on_transition)
// within milliseconds, even though this answer already carries it.
func (s *liveSet) failure(target string) score.Reason {
	gates := s.byTarget[target]
	if len(gates) == 0 {
		return score.Reason{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), LiveBudget)
	defer cancel()
	for _, g := range gates {
		if g.read == nil {
			continue
		}
		if err := g.reads.Do(ctx, g.name+" gate", g.read); err != nil {
			g.poke()
			return score.Reason{Cause: score.CauseGate, Name: g.name, Detail: err.Error()}
		}
	}
	return score.Reason{}
}

// live applies the live facts to t: an online target whose live gate fails is offline now,
// with that gate as the reason. Live facts only ever take an answer down: coming back
// online is the score's decision (rise), made from the gates' and checks' results.
func (d *Daemon) live(t *TargetSnapshot, now time.Time) (TargetSnapshot, bool) {
	if t.State != string(score.Online) {
		return *t, false
	}
	set := d.liveGates.Load()
	if set == nil {
		return *t, false
	}
	r := set.failure(t.Name)
	if r.Cause == "" {
		return *t, false
	}
	out := *t
	out.State, out.Code, out.Reason = string(score.Offline), vcs.CodeOffline, r.String()
	out.Gates = slices.Clone(t.Gates)
	for i := range out.Gates {
		if out.Gates[i].Name == r.Name {
			g := &out.Gates[i]
			g.HasResult, g.OK, g.Outcome, g.Health = true, false, score.Failed.String(), 0
			g.Reason, g.Phase, g.Error, g.LastAt = string(probe.ReasonLocal), r.Name, r.Detail, now
		}
	}
	return out, true
}

// LiveSnapshot is the latest snapshot with the live facts of this moment applied (see
// live): what the socket's STATUS, /status.json and the status page show.
func (d *Daemon) LiveSnapshot() *Snapshot {
	s := d.Snapshot()
	now := time.Now()
	var out *Snapshot
	for i := range s.Targets {
		t, changed := d.live(&s.Targets[i], now)
		if !changed {
			continue
		}
		if out == nil {
			cp := *s
			cp.Targets = slices.Clone(s.Targets)
			out = &cp
		}
		out.Targets[i] = t
	}
	if out == nil {
		return s
	}
	return out
}

// startEvents starts the kernel event sources that poke the gates of set (package watch)
// and returns at once. Each source runs until ctx ends. A source that cannot start (no
// netlink in a sandbox, say) is logged; its gates keep their periodic probe.
func (d *Daemon) startEvents(ctx context.Context, wg interface{ Go(func()) }, targets []TargetSpec, set *liveSet) {
	var vips, mounts []*liveGate
	var mountPaths []string
	for _, t := range targets {
		for _, g := range t.Gates {
			lg := set.gate(t.Name, g.Name)
			switch g.Probe.Protocol {
			case "vip":
				vips = append(vips, lg)
			case "storage":
				if g.Probe.RequireMount {
					mounts = append(mounts, lg)
					mountPaths = append(mountPaths, g.Probe.StoragePath)
				}
			case "process":
				p := &watch.Process{PidFile: g.Probe.PidFile, Name: g.Probe.ProcessName, Changed: lg.poke}
				wg.Go(func() {
					d.eventSource(ctx, "process exit (pidfd)", func(ctx context.Context) error { return p.Run(ctx) })
				})
			}
		}
	}
	if len(vips) > 0 {
		wg.Go(func() {
			d.eventSource(ctx, "address changes (rtnetlink)", func(ctx context.Context) error {
				return watch.Addresses(ctx, func() { pokeAll(vips) })
			})
		})
	}
	if len(mounts) > 0 {
		wg.Go(func() {
			d.eventSource(ctx, "mount table changes", func(ctx context.Context) error {
				return watch.Mounts(ctx, mountPaths, 0, func() { pokeAll(mounts) })
			})
		})
	}
}

// eventSource runs one source and logs why it stopped, if it stopped before ctx ended.
func (d *Daemon) eventSource(ctx context.Context, what string, run func(context.Context) error) {
	if d.noEvents {
		return
	}
	err := run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		d.log.Warn("kernel event source stopped; its gates fall back to their periodic probe", "source", what, "err", err)
	}
}

func pokeAll(gates []*liveGate) {
	for _, g := range gates {
		g.poke()
	}
}

// gate returns the live gate name of target, or nil.
func (s *liveSet) gate(target, name string) *liveGate {
	for _, g := range s.byTarget[target] {
		if g.name == name {
			return g
		}
	}
	return nil
}
