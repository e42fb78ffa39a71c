package daemon

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// A job is one check or gate of one target, as the scheduler keeps it between probes.
type job struct {
	target  *TargetSpec
	check   string
	gate    *liveGate // nil for a network check
	prober  probe.Prober
	timeout time.Duration
	pace    cadence

	// Guarded by the scheduler's mu.
	timer   *time.Timer // runs fire(j) when j falls due; nil until the scheduler starts
	due     time.Time
	index   int  // position in the heap of checks waiting for a worker slot; -1 if not there
	running bool // a probe of this job is in flight
	again   bool // poked while running: probe again as soon as this probe ends
}

// scheduler runs the jobs of one generation of targets. Each job has a runtime timer
// (time.AfterFunc) that starts its probe when it falls due, in a goroutine that lives as
// long as the probe: no goroutine waits between probes, and a probe costs the wake-ups of
// its own timer and result, as with a goroutine per check.
//
// Network checks run on at most maxConcurrent worker slots. A check that falls due while
// every slot is taken waits in a heap by due time; a probe that ends hands its slot, in the
// same goroutine, to the longest overdue waiting check. It replaced a goroutine per check
// and gate (docs/BENCHMARKS.md, "Footprint at scale"): memory no longer grows by a goroutine
// stack per check, and checks that are due while every slot is busy start in the order they
// fell due.
//
// Gates never wait for a slot: a gate probe takes microseconds (the storage write is
// bounded by its timeout), and a fact that moves during a failover must not wait behind a
// hung IMAP probe. A poked gate (a kernel event or a failed answer-time read, live.go) is
// due at once.
type scheduler struct {
	d     *Daemon
	gen   int
	ctx   context.Context
	wg    *sync.WaitGroup
	jobs  []*job
	pokes *pokeQueue

	mu      sync.Mutex
	ticking bool // timers armed: set by start, cleared when ctx ends
	byGate  map[*liveGate]*job
	waiting jobHeap // due checks waiting for a slot, the longest overdue first
	free    int     // worker slots free
}

// newScheduler builds the jobs of targets, each first due within one fast interval of
// now so that the starting state ends quickly and probes do not start in step. A check
// whose prober cannot be built is logged and left out (New validated them already).
func newScheduler(d *Daemon, gen int, targets []TargetSpec, set *liveSet, now time.Time) *scheduler {
	s := &scheduler{d: d, gen: gen, byGate: map[*liveGate]*job{}, pokes: set.pokes, free: max(d.opts.MaxConcurrent, 1)}
	add := func(t *TargetSpec, c *CheckSpec, gate *liveGate) {
		p, err := probe.New(c.Probe)
		if err != nil { // validated in New; kept as a guard
			d.log.Error("cannot build prober", "target", t.Name, "check", c.Name, "err", err)
			return
		}
		interval := t.IntervalOf(c)
		j := &job{target: t, check: c.Name, gate: gate, prober: p, timeout: t.TimeoutOf(c), index: -1,
			pace: cadence{interval: interval, fast: t.FastIntervalOf(c), rise: t.Rise},
			due:  now.Add(jitter(min(t.FastInterval, interval), 1.0))}
		s.jobs = append(s.jobs, j)
		if gate != nil {
			s.byGate[gate] = j
		}
	}
	for ti := range targets {
		t := &targets[ti]
		for ci := range t.Checks {
			add(t, &t.Checks[ci], nil)
		}
		for ci := range t.Gates {
			add(t, &t.Gates[ci], set.gate(t.Name, t.Gates[ci].Name))
		}
	}
	return s
}

// start arms every job's timer; the probes run under wg and stop when ctx ends, and so do
// the timers.
func (s *scheduler) start(ctx context.Context, wg *sync.WaitGroup) {
	s.ctx, s.wg = ctx, wg
	s.mu.Lock()
	s.ticking = true
	now := time.Now()
	for _, j := range s.jobs {
		s.arm(j, now)
	}
	s.mu.Unlock()
	// This goroutine is in wg until the timers are stopped, so a timer that fires before
	// that adds its probe to a WaitGroup that cannot have reached zero.
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				s.stop()
				return
			case <-s.pokes.wake:
				s.takePokes(time.Now())
			}
		}
	})
}

// stop disarms every timer; probes in flight end with ctx.
func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ticking = false
	for _, j := range s.jobs {
		if j.timer != nil {
			j.timer.Stop()
		}
	}
}

// arm sets j's timer to fire at j.due. Called with mu held; a no-op unless ticking.
func (s *scheduler) arm(j *job, now time.Time) {
	if !s.ticking {
		return
	}
	wait := max(j.due.Sub(now), 0)
	if j.timer == nil {
		j.timer = time.AfterFunc(wait, func() { s.fire(j) })
		return
	}
	j.timer.Reset(wait)
}

// fire runs in the goroutine of j's timer: it probes j if j may start now, then every
// waiting check that the freed slot passes to, and returns.
func (s *scheduler) fire(j *job) {
	s.mu.Lock()
	run := s.ticking && s.startLocked(j)
	if run {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if !run {
		return
	}
	defer s.wg.Done()
	for j != nil {
		failed, at, ok := s.probe(j)
		if !ok {
			return
		}
		s.mu.Lock()
		j = s.doneLocked(j, failed, at)
		s.mu.Unlock()
	}
}

// startLocked is called when j falls due; it reports whether j starts now: a gate always,
// a check when a worker slot is free. A check that finds none waits for one.
func (s *scheduler) startLocked(j *job) bool {
	switch {
	case j.running || j.index >= 0: // already running or waiting: a late or repeated timer
		return false
	case j.gate != nil:
	case s.free == 0:
		heap.Push(&s.waiting, j)
		return false
	default:
		s.free--
	}
	j.running = true
	return true
}

// doneLocked puts j back on its timer after a probe that ended at, due at the pace its
// cadence sets after this result, or at once if it was poked while it ran. A check passes
// its worker slot to the longest overdue waiting check, which doneLocked returns and marks
// running (nil if none waits).
func (s *scheduler) doneLocked(j *job, failed bool, at time.Time) *job {
	j.running = false
	j.due = at.Add(j.pace.next(failed))
	if j.again {
		j.again, j.due = false, at
	}
	s.arm(j, at)
	if j.gate != nil {
		return nil
	}
	if len(s.waiting) == 0 {
		s.free++
		return nil
	}
	next := heap.Pop(&s.waiting).(*job)
	next.running = true
	return next
}

// probe runs one probe of j and sends its result to the daemon's loop. ok is false when
// ctx ended: a probe stopped mid-way reports our cancellation, not the server's state, so
// nothing is sent.
func (s *scheduler) probe(j *job) (failed bool, at time.Time, ok bool) {
	trace, err := probe.Run(s.ctx, j.prober, j.timeout)
	if s.ctx.Err() != nil {
		return false, at, false
	}
	at = time.Now()
	r := result{gen: s.gen, target: j.target.Name, check: j.check, gate: j.gate != nil, trace: trace, err: err, at: at}
	select {
	case s.d.results <- r:
		return err != nil, at, true
	case <-s.ctx.Done():
		return false, at, false
	}
}

// takePokes makes every poked gate due now; one that is running probes again when it ends.
func (s *scheduler) takePokes(now time.Time) {
	gates := s.pokes.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range gates {
		j := s.byGate[g]
		switch {
		case j == nil:
		case j.running:
			j.again = true
		case j.due.After(now):
			j.due = now
			s.arm(j, now)
		}
	}
}

// pokeQueue collects the gates poked since the scheduler last looked. Poking never
// blocks and a gate is queued once however often it is poked before the scheduler takes
// it.
type pokeQueue struct {
	mu    sync.Mutex
	gates []*liveGate
	wake  chan struct{} // one pending wake-up is enough
}

func newPokeQueue() *pokeQueue { return &pokeQueue{wake: make(chan struct{}, 1)} }

func (q *pokeQueue) add(g *liveGate) {
	q.mu.Lock()
	if !g.poked {
		g.poked = true
		q.gates = append(q.gates, g)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *pokeQueue) take() []*liveGate {
	q.mu.Lock()
	defer q.mu.Unlock()
	gates := q.gates
	q.gates = nil
	for _, g := range gates {
		g.poked = false
	}
	return gates
}

// jobHeap orders jobs by due time (container/heap).
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, k int) bool { return h[i].due.Before(h[k].due) }
func (h jobHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index, h[k].index = i, k
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}
