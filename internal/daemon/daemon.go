// Package daemon runs the probes on their schedules, folds every result into the target's
// score, and publishes an immutable Snapshot after each one.
//
// Concurrency model: every check and gate has a runtime timer that starts its probe when
// it falls due, in a goroutine that lives as long as the probe; network checks share
// max_concurrent_probes worker slots and wait for one in due order, gates never wait
// (schedule.go). One loop goroutine owns every score.Target. Results reach the loop over
// a channel, so the scoring state is never shared; readers (socket, web, metrics) only
// load the latest Snapshot through an atomic pointer.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// Observer receives every probe result and state change, e.g. to update metrics. Its methods
// are called from the daemon's loop goroutine and must not block.
type Observer interface {
	ProbeDone(target, check string, gate bool, trace *probe.Trace, err error)
	Transition(target string, tr Transition)
	Published(s *Snapshot)
}

// Options configure a Daemon.
type Options struct {
	Targets       []TargetSpec
	MaxConcurrent int // probes in flight at once across all targets; 16 when 0
	Logger        *slog.Logger
	Observer      Observer // optional
	Version       string
	// HistoryEvery is how often a confidence sample is kept for the sparkline (10s when 0);
	// HistoryLen bounds the samples (360 when 0: one hour at 10s).
	HistoryEvery time.Duration
	HistoryLen   int
}

// Daemon schedules probes and publishes snapshots. Create it with New, start it with Run.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	results chan result
	reloads chan reloadRequest
	ready   chan struct{}

	snap atomic.Pointer[Snapshot]
	// liveGates are the current workers' gates: their answer-time reads and the channels
	// that make them probe at once (live.go).
	liveGates atomic.Pointer[liveSet]
	noEvents  bool // tests: no kernel event sources, only the periodic gate probes

	health      *healthPusher          // node-health attributes (targets with NodeHealth)
	hooks       sync.WaitGroup         // on_transition runners in flight
	hookRunners map[string]*hookRunner // by target name; the loop goroutine's alone
	runCtx      context.Context        // Run's context, for the hook runners
}

// result is one finished probe, tagged with the generation of the schedule that ran it so
// that results from before a reload are recognised.
type result struct {
	gen    int
	target string
	check  string
	gate   bool
	trace  *probe.Trace
	err    error
	at     time.Time
}

type reloadRequest struct {
	targets []TargetSpec
	done    chan error
}

// New validates the targets and returns a daemon that has not started probing.
func New(opts Options) (*Daemon, error) {
	if len(opts.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	if err := validateTargets(opts.Targets); err != nil {
		return nil, err
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HistoryEvery <= 0 {
		opts.HistoryEvery = 10 * time.Second
	}
	if opts.HistoryLen <= 0 {
		opts.HistoryLen = 360
	}
	d := &Daemon{
		opts:    opts,
		log:     opts.Logger,
		results: make(chan result, 64),
		reloads: make(chan reloadRequest),
		ready:   make(chan struct{}),
		health:  newHealthPusher(opts.Logger),

		hookRunners: map[string]*hookRunner{},
		runCtx:      context.Background(),
	}
	d.snap.Store(&Snapshot{Version: opts.Version, Published: time.Now()})
	return d, nil
}

func validateTargets(targets []TargetSpec) error {
	var errs []error
	seen := map[string]bool{}
	for i := range targets {
		if seen[targets[i].Name] {
			errs = append(errs, fmt.Errorf("target %q defined twice", targets[i].Name))
		}
		seen[targets[i].Name] = true
		errs = append(errs, validateSpec(&targets[i]))
	}
	return errors.Join(errs...)
}

// Snapshot returns the latest published snapshot. It never returns nil.
func (d *Daemon) Snapshot() *Snapshot { return d.snap.Load() }

// Ready is closed once every target has left the starting state (its first full round of
// checks and gates is in).
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Reload replaces the targets. Checks and gates that keep their name keep their history
// and the target keeps its state; the schedules restart with the new settings. A target
// list that does not validate is rejected and the running one kept. Reload must be called
// while Run is running.
func (d *Daemon) Reload(ctx context.Context, targets []TargetSpec) error {
	if err := validateTargets(targets); err != nil {
		return err
	}
	req := reloadRequest{targets: targets, done: make(chan error, 1)}
	select {
	case d.reloads <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run probes until ctx ends, then cancels in-flight probes, waits for every goroutine it
// started and returns nil. An error is returned only if the daemon cannot start.
func (d *Daemon) Run(ctx context.Context) error {
	state, err := newLoopState(d.opts.Targets, d.opts.HistoryLen)
	if err != nil {
		return err
	}
	d.runCtx = ctx
	var workers sync.WaitGroup
	gen := 0
	stopWorkers := d.startWorkers(ctx, &workers, gen, d.opts.Targets)

	historyTick := time.NewTicker(d.opts.HistoryEvery)
	defer historyTick.Stop()
	maintTick := time.NewTicker(time.Second)
	defer maintTick.Stop()
	watchdog := newWatchdog()

	d.health.configure(d.opts.Targets)
	var pusher sync.WaitGroup
	pusher.Go(func() { d.health.run(ctx) })
	defer pusher.Wait() // after the loop and the workers: it deletes what it set
	var pub publisher
	defer pub.stop()
	d.publish(state, time.Now())
	defer func() {
		stopWorkers()
		// Drain results so workers blocked on send can exit, then wait for them.
		done := make(chan struct{})
		go func() { workers.Wait(); close(done) }()
		for {
			select {
			case <-d.results:
			case <-done:
				d.hooks.Wait()
				return
			}
		}
	}()

	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-d.results:
			// Fold this result and every one already queued (a bounded batch), then
			// publish once: the snapshot's cost is paid per batch, not per result.
			for n := 0; ; n++ {
				if r.gen == gen { // else from a schedule replaced by a reload
					if i := d.fold(state, r); i >= 0 {
						pub.mark(i)
					}
				}
				if n == maxBatch {
					break
				}
				var more bool
				select {
				case r, more = <-d.results:
				default:
				}
				if !more {
					break
				}
			}
			pub.publishSoon(d, state)
		case now := <-pub.due():
			pub.fire()
			d.publishDirty(state, &pub, now)
		case req := <-d.reloads:
			next, err := state.reconfigure(req.targets)
			if err != nil {
				req.done <- err
				continue
			}
			stopWorkers()
			gen++
			state = next
			d.opts.Targets = req.targets
			d.health.configure(req.targets)
			stopWorkers = d.startWorkers(ctx, &workers, gen, req.targets)
			pub.clear()
			d.publish(state, time.Now())
			req.done <- nil
		case now := <-maintTick.C:
			watchdog.ping()
			if d.checkMaintenance(state, now) {
				pub.clear()
				d.publish(state, now)
			}
		case now := <-historyTick.C:
			state.sample(now)
			pub.clear()
			d.publish(state, now)
		}
	}
}

// startWorkers starts the scheduler of targets (schedule.go) and the kernel event sources
// that poke the gates, and returns the function that stops them (it does not wait; the
// caller's WaitGroup does).
func (d *Daemon) startWorkers(ctx context.Context, wg *sync.WaitGroup, gen int, targets []TargetSpec) context.CancelFunc {
	ctx, cancel := context.WithCancel(ctx)
	set := newLiveSet(targets)
	d.liveGates.Store(set)
	newScheduler(d, gen, targets, set, time.Now()).start(ctx, wg)
	d.startEvents(ctx, wg, targets, set)
	return cancel
}

// cadence decides when a check is probed next: at its interval (spread ±10 % so that checks
// do not march in step) while healthy; at the fast interval after a failure, until the
// failure is confirmed (fall failures) or the recovery is (rise successes in a row), so that
// both take seconds rather than intervals.
type cadence struct {
	interval, fast time.Duration
	rise           int
	fastLeft       int // successes still to probe fast after the last failure
}

// next returns the delay before the next probe, given whether the last one failed.
func (c *cadence) next(failed bool) time.Duration {
	switch {
	case failed:
		c.fastLeft = max(c.rise, 1)
		return c.fast
	case c.fastLeft > 1:
		c.fastLeft--
		return c.fast
	}
	c.fastLeft = 0
	return spread(c.interval, 0.1)
}

// jitter returns a duration in [d×(1-frac), d] for frac ≤ 1.
func jitter(d time.Duration, frac float64) time.Duration {
	return d - time.Duration(rand.Float64()*frac*float64(d))
}

// spread returns a duration in [d×(1-frac), d×(1+frac)] whose mean is d, for frac ≤ 1: a
// check probed at spread(interval, 0.1) is probed once per interval on average, as
// configured, while its probes drift apart from other checks'. (jitter(interval, 0.1)
// made every check run about 5 % more often than its interval says.)
func spread(d time.Duration, frac float64) time.Duration {
	return d + time.Duration((2*rand.Float64()-1)*frac*float64(d))
}

// fold applies one result to its target's score and reports it to the observer.
func (d *Daemon) fold(state *loopState, r result) int {
	i, ok := state.byName[r.target]
	if !ok {
		return -1
	}
	ts := state.targets[i]
	before := ts.score.Decision()
	ts.apply(r)
	after := ts.score.Decision()
	if d.opts.Observer != nil {
		d.opts.Observer.ProbeDone(r.target, r.check, r.gate, r.trace, r.err)
	}
	if r.err != nil && d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug("probe failed", "target", r.target, "check", r.check, "err", r.err)
	}
	if before.State != after.State {
		state.changed(before.State, after.State)
		d.transition(ts, Transition{At: r.at, From: string(before.State), To: string(after.State), Reason: after.Reason.String()})
	}
	if !state.ready && state.allStarted() {
		state.ready = true
		close(d.ready)
	}
	return i
}

// transition records a state change, logs it and runs the target's on_transition command.
func (d *Daemon) transition(ts *targetState, tr Transition) {
	ts.addTransition(tr)
	d.log.Info("state change", "target", ts.spec.Name, "from", tr.From, "to", tr.To, "reason", tr.Reason)
	if d.opts.Observer != nil {
		d.opts.Observer.Transition(ts.spec.Name, tr)
	}
	if len(ts.spec.OnTransition) > 0 {
		h := d.hookRunners[ts.spec.Name]
		if h == nil {
			h = newHookRunner(d.log)
			d.hookRunners[ts.spec.Name] = h
		}
		h.submit(d.runCtx, &d.hooks, ts.spec, tr)
	}
}

// checkMaintenance looks for each target's maintenance marker and reports whether any
// target's maintenance flag changed.
func (d *Daemon) checkMaintenance(state *loopState, now time.Time) bool {
	changed := false
	for _, ts := range state.targets {
		if ts.spec.MaintenanceFile == "" {
			continue
		}
		_, err := os.Stat(ts.spec.MaintenanceFile)
		on := err == nil
		if on == ts.maintenance {
			continue
		}
		before := ts.score.Decision()
		ts.maintenance = on
		ts.score.SetMaintenance(on, now)
		after := ts.score.Decision()
		if before.State != after.State {
			state.changed(before.State, after.State)
			d.transition(ts, Transition{At: now, From: string(before.State), To: string(after.State), Reason: after.Reason.String()})
		}
		changed = true
	}
	return changed
}

// maxBatch bounds how many queued results the loop folds before it publishes.
const maxBatch = 256

// publishDirty publishes a snapshot in which only the targets with new results are
// rebuilt; the others are the previous snapshot's, which are immutable and still true,
// since a result changes only its own target. Rebuilding every target after every result
// made the loop's cost grow with the square of the number of targets (docs/BENCHMARKS.md,
// "Profiling and fixes"). Every other change (start, reload, maintenance, history) goes
// through publish, so the previous snapshot always lists state's targets in state's order.
func (d *Daemon) publishDirty(state *loopState, pub *publisher, now time.Time) {
	if len(pub.dirty) == 0 {
		return
	}
	start := time.Now()
	prev := d.snap.Load()
	if prev == nil || len(prev.Targets) != len(state.targets) {
		d.publish(state, now)
	} else {
		s := &Snapshot{Version: d.opts.Version, Published: now, Targets: slices.Clone(prev.Targets)}
		for _, i := range pub.dirty {
			if i < len(state.targets) {
				s.Targets[i] = state.targets[i].snapshot()
			}
		}
		d.store(s)
	}
	pub.done(time.Since(start))
}

// publisher paces the snapshots that results cause. A snapshot copies every target's
// (immutable) summary, so its cost grows with the number of targets; publishing after
// every result made 10,000 targets run at 7.5 probes/s. The publisher waits ten times the
// last publication's cost (at most maxPublishDelay) before the next one, so publishing
// takes at most about a tenth of the loop's time: with a few targets that wait is
// microseconds, with thousands a few milliseconds, while each snapshot carries every
// result folded meanwhile.
type publisher struct {
	dirty   []int  // indices of the targets to rebuild
	isDirty []bool // by target index
	next    time.Time
	timer   *time.Timer
	armed   bool
}

// maxPublishDelay bounds how long a result waits to be published.
const maxPublishDelay = 100 * time.Millisecond

func (p *publisher) mark(i int) {
	if i >= len(p.isDirty) {
		p.isDirty = append(p.isDirty, make([]bool, i+1-len(p.isDirty))...)
	}
	if !p.isDirty[i] {
		p.isDirty[i] = true
		p.dirty = append(p.dirty, i)
	}
}

// publishSoon publishes the marked targets now if the pace allows, else arms the timer.
func (p *publisher) publishSoon(d *Daemon, state *loopState) {
	if len(p.dirty) == 0 || p.armed {
		return
	}
	now := time.Now()
	if wait := p.next.Sub(now); wait > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(wait)
		} else {
			p.timer.Reset(wait)
		}
		p.armed = true
		return
	}
	d.publishDirty(state, p, now)
}

// due is the timer's channel while it is armed, else nil (never ready).
func (p *publisher) due() <-chan time.Time {
	if !p.armed {
		return nil
	}
	return p.timer.C
}

func (p *publisher) fire() { p.armed = false }

// done records a publication that took cost and clears the marks.
func (p *publisher) done(cost time.Duration) {
	p.next = time.Now().Add(min(10*cost, maxPublishDelay))
	p.clear()
}

// clear forgets the marks (a full publication covers them) and disarms the timer.
func (p *publisher) clear() {
	for _, i := range p.dirty {
		p.isDirty[i] = false
	}
	p.dirty = p.dirty[:0]
	if p.armed {
		p.timer.Stop()
		p.armed = false
	}
}

func (p *publisher) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

// publish builds and stores a fresh immutable snapshot of every target.
func (d *Daemon) publish(state *loopState, now time.Time) {
	s := &Snapshot{Version: d.opts.Version, Published: now, Targets: make([]TargetSnapshot, len(state.targets))}
	for i, ts := range state.targets {
		s.Targets[i] = ts.snapshot()
	}
	d.store(s)
}

// store makes s the current snapshot and tells the observer.
func (d *Daemon) store(s *Snapshot) {
	d.snap.Store(s)
	d.health.observe(s)
	if d.opts.Observer != nil {
		d.opts.Observer.Published(s)
	}
}
