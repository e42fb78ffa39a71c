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

	due     time.Time
	index   int  // position in its heap; -1 while the job runs
	running bool // a probe of this job is in flight
	again   bool // poked while running: probe again as soon as this probe ends
}

// finished is a job coming back to the scheduler after its probe.
type finished struct {
	job    *job
	failed bool
	at     time.Time
}

// scheduler runs the jobs of one generation of targets: one goroutine that keeps every job
// in a heap by due time and starts the due ones, a fixed pool of maxConcurrent workers for
// the network checks, and a short-lived goroutine per gate probe.
//
// It replaced a goroutine per check and gate (docs/BENCHMARKS.md, "Footprint at scale"):
// memory no longer grows by a goroutine stack per check, and checks that are due while
// every worker is busy start in the order they fell due.
//
// Gates never wait for a network worker: a gate probe takes microseconds (the storage
// write is bounded by its timeout), and a fact that moves during a failover must not wait
// behind a hung IMAP probe. So gates have their own heap and start the moment they are due
// or poked (a kernel event or a failed answer-time read, live.go).
type scheduler struct {
	d   *Daemon
	gen int

	checks, gates jobHeap
	byGate        map[*liveGate]*job
	pokes         *pokeQueue

	work     chan *job     // due network checks, to the pool
	finished chan finished // jobs back from the pool and from gate probes
	inFlight int           // network checks handed to the pool and not yet back
	max      int
}

// newScheduler builds the jobs of targets, each first due within one fast interval of
// now so that the starting state ends quickly and probes do not start in step. A check
// whose prober cannot be built is logged and left out (New validated them already).
func newScheduler(d *Daemon, gen int, targets []TargetSpec, set *liveSet, now time.Time) *scheduler {
	checks := 0
	for _, t := range targets {
		checks += len(t.Checks)
	}
	// A node with six checks needs six workers, not max_concurrent_probes idle ones, each
	// keeping the stack its probes grew.
	pool := max(min(d.opts.MaxConcurrent, checks), 1)
	s := &scheduler{
		d: d, gen: gen, byGate: map[*liveGate]*job{}, pokes: set.pokes,
		work: make(chan *job, pool), finished: make(chan finished, pool), max: pool,
	}
	add := func(t *TargetSpec, c *CheckSpec, gate *liveGate) {
		p, err := probe.New(c.Probe)
		if err != nil { // validated in New; kept as a guard
			d.log.Error("cannot build prober", "target", t.Name, "check", c.Name, "err", err)
			return
		}
		interval := t.IntervalOf(c)
		j := &job{target: t, check: c.Name, gate: gate, prober: p, timeout: t.TimeoutOf(c),
			pace: cadence{interval: interval, fast: t.FastIntervalOf(c), rise: t.Rise},
			due:  now.Add(jitter(min(t.FastInterval, interval), 1.0))}
		if gate == nil {
			heap.Push(&s.checks, j)
			return
		}
		s.byGate[gate] = j
		heap.Push(&s.gates, j)
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

// start starts the scheduler and its pool under wg; they stop when ctx ends.
func (s *scheduler) start(ctx context.Context, wg *sync.WaitGroup) {
	for range s.max {
		wg.Go(func() {
			for {
				select {
				case j := <-s.work:
					if !s.probe(ctx, j) {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() { s.run(ctx, wg) })
}

// run starts due jobs and takes finished ones back until ctx ends.
func (s *scheduler) run(ctx context.Context, wg *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		s.startDue(ctx, wg, now)
		timer.Reset(s.next(now))
		select {
		case <-ctx.Done():
			return
		case f := <-s.finished:
			s.reschedule(f)
		case <-s.pokes.wake:
			s.takePokes(time.Now())
		case <-timer.C:
		}
	}
}

// startDue starts every gate that is due and as many due checks as the pool has room for,
// the longest overdue first.
func (s *scheduler) startDue(ctx context.Context, wg *sync.WaitGroup, now time.Time) {
	for len(s.gates) > 0 && !s.gates[0].due.After(now) {
		j := s.pop(&s.gates)
		wg.Go(func() { s.probe(ctx, j) })
	}
	for s.inFlight < s.max && len(s.checks) > 0 && !s.checks[0].due.After(now) {
		s.inFlight++
		s.work <- s.pop(&s.checks) // never blocks: the buffer holds max jobs
	}
}

func (s *scheduler) pop(h *jobHeap) *job {
	j := heap.Pop(h).(*job)
	j.running = true
	return j
}

// next returns how long the scheduler may sleep before a job falls due. Checks count only
// while the pool has room: a finished check wakes the scheduler anyway.
func (s *scheduler) next(now time.Time) time.Duration {
	wake := now.Add(time.Hour)
	if len(s.gates) > 0 {
		wake = s.gates[0].due
	}
	if s.inFlight < s.max && len(s.checks) > 0 && s.checks[0].due.Before(wake) {
		wake = s.checks[0].due
	}
	return max(wake.Sub(now), 0)
}

// probe runs one probe of j, sends its result to the daemon's loop and j back to the
// scheduler. It returns false when ctx ended: a probe stopped mid-way reports our
// cancellation, not the server's state, so nothing is sent.
func (s *scheduler) probe(ctx context.Context, j *job) bool {
	trace, err := probe.Run(ctx, j.prober, j.timeout)
	if ctx.Err() != nil {
		return false
	}
	at := time.Now()
	r := result{gen: s.gen, target: j.target.Name, check: j.check, gate: j.gate != nil, trace: trace, err: err, at: at}
	select {
	case s.d.results <- r:
	case <-ctx.Done():
		return false
	}
	select {
	case s.finished <- finished{job: j, failed: err != nil, at: at}:
		return true
	case <-ctx.Done():
		return false
	}
}

// reschedule puts a finished job back in its heap, due at the pace its cadence sets after
// this result, or at once if it was poked while it ran.
func (s *scheduler) reschedule(f finished) {
	j := f.job
	j.running = false
	j.due = f.at.Add(j.pace.next(f.failed))
	if j.again {
		j.again, j.due = false, f.at
	}
	if j.gate == nil {
		s.inFlight--
		heap.Push(&s.checks, j)
		return
	}
	heap.Push(&s.gates, j)
}

// takePokes makes every poked gate due now; one that is running probes again when it ends.
func (s *scheduler) takePokes(now time.Time) {
	for _, g := range s.pokes.take() {
		j := s.byGate[g]
		switch {
		case j == nil:
		case j.running:
			j.again = true
		case j.due.After(now):
			j.due = now
			heap.Fix(&s.gates, j.index)
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
