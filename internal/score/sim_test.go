package score

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// failRate is the yardstick of the package documentation: every check of a healthy node
// fails 10 % of the time, independently.
const failRate = 0.1

// sim drives a target in cycles, as the daemon would: each cycle observes every gate
// passing, then one result per check. It counts transitions into Offline and Online.
type sim struct {
	t        *testing.T
	tg       *Target
	cfg      Config
	rng      *rand.Rand
	now      time.Time
	seen     int // Decision().Transitions already counted
	offlines int
	onlines  int
	why      Reason // of the last offline transition
}

func newSim(t *testing.T, c Config, seed uint64) *sim {
	t.Helper()
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, tg: tg, cfg: c, rng: rand.New(rand.NewPCG(seed, 0x5eed)), now: epoch}
}

// noisy returns OK, or Failed with probability failRate.
func (s *sim) noisy() Outcome {
	if s.rng.Float64() < failRate {
		return Failed
	}
	return OK
}

// observe records one result and counts the transition it caused, if any.
func (s *sim) observe(i int, o Outcome) Decision {
	s.t.Helper()
	s.now = s.now.Add(100 * time.Millisecond)
	if err := s.tg.ObserveCheck(i, Result{Outcome: o, Reason: "timeout", Phase: "banner", At: s.now}); err != nil {
		s.t.Fatal(err)
	}
	return s.count()
}

func (s *sim) count() Decision {
	d := s.tg.Decision()
	if d.Transitions != s.seen {
		s.seen = d.Transitions
		switch d.Last.To {
		case Offline:
			s.offlines++
			s.why = d.Last.Reason
		case Online:
			s.onlines++
		}
	}
	return d
}

// cycle observes every gate passing, then check i's outcome(i) for every check.
func (s *sim) cycle(outcome func(i int) Outcome) {
	s.t.Helper()
	for i := range s.cfg.Gates {
		s.now = s.now.Add(100 * time.Millisecond)
		if err := s.tg.ObserveGate(i, true, "", s.now); err != nil {
			s.t.Fatal(err)
		}
		s.count()
	}
	for i := range s.cfg.Checks {
		s.observe(i, outcome(i))
	}
}

// TestSimulationHealthyNodeNeverFails is the requirement behind DefaultFall: 10,000 cycles
// of a healthy Axigen node whose every check fails 10 % of the time give no false offline.
// The expected count is 0.0027 (package documentation), so the seed is not lucky; the
// seeds are varied to show it.
func TestSimulationHealthyNodeNeverFails(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		s := newSim(t, axigenConfig(), seed)
		for range 10_000 {
			s.cycle(func(int) Outcome { return s.noisy() })
		}
		if s.offlines != 0 || s.onlines != 1 || s.tg.Decision().State != Online {
			t.Errorf("seed %d: %d offline and %d online transitions (now %s, last offline: %s), want 0 and 1",
				seed, s.offlines, s.onlines, s.tg.Decision().State, s.why)
		}
	}
}

// TestSimulationFallArithmetic checks the table of the package documentation against the
// implementation where false offlines are frequent enough to count: with Fall 3 and 4 the
// count over ten seeds must match 3 × (p^F + (n−F)(1−p)p^F) per run within statistical
// noise (Poisson, ±3 standard deviations).
func TestSimulationFallArithmetic(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 simulated rounds")
	}
	const cycles, seeds = 10_000, 10
	for _, fall := range []int{3, 4} {
		c := axigenConfig()
		c.Fall = fall
		total := 0
		for seed := range uint64(seeds) {
			s := newSim(t, c, 100+seed)
			for range cycles {
				s.cycle(func(int) Outcome { return s.noisy() })
			}
			total += s.offlines
		}
		p, f := failRate, float64(fall)
		want := seeds * 3 * (math.Pow(p, f) + (cycles-f)*(1-p)*math.Pow(p, f))
		t.Logf("fall %d: %d false offlines in %d runs of %d cycles, formula %.1f", fall, total, seeds, cycles, want)
		if slack := 3 * math.Sqrt(want); math.Abs(float64(total)-want) > slack {
			t.Errorf("fall %d: %d false offlines in %d runs, want %.1f ± %.1f", fall, total, seeds, want, slack)
		}
	}
}

// TestSimulationOutage: imap really goes down at cycle 100 while every check keeps its
// 10 % noise. The target goes offline at exactly the Fall-th failure in a row of imap, and
// comes back once imap has recovered with Rise successes in a row.
func TestSimulationOutage(t *testing.T) {
	const imap, downAt, upAt = 1, 100, 200
	c := axigenConfig()
	s := newSim(t, c, 7)
	for range downAt {
		s.cycle(func(int) Outcome { return s.noisy() })
	}
	if s.offlines != 0 {
		t.Fatalf("offline before the outage")
	}

	// The outage: count imap's failed results until the target goes offline. A random
	// failure just before the outage already counts towards the streak.
	before := view(t, s.tg, imap).ConsecutiveFailures
	downResults := 0
	for cycle := downAt; cycle < upAt; cycle++ {
		s.cycle(func(i int) Outcome {
			if i == imap {
				if s.offlines == 0 {
					downResults++
				}
				return Failed
			}
			return s.noisy()
		})
	}
	d := s.tg.Decision()
	if s.offlines != 1 || d.State != Offline {
		t.Fatalf("outage: %d offline transitions, state %s; want 1, offline", s.offlines, d.State)
	}
	if downResults != c.Fall-before {
		t.Errorf("offline after %d failed imap results (with %d before), want %d", downResults, before, c.Fall-before)
	}
	if r := d.Last.Reason; r.Cause != CauseCritical || r.Name != "imap" || r.Count != c.Fall {
		t.Errorf("offline because %s, want imap's %d failures", r, c.Fall)
	}

	// Recovery, noise included: never online before imap has Rise successes in a row, and
	// online within a few cycles.
	recovered := -1
	for cycle := upAt; cycle < upAt+50 && recovered < 0; cycle++ {
		for i := range c.Checks {
			d := s.observe(i, s.noisy())
			if s.onlines == 2 {
				if v := view(t, s.tg, imap); v.ConsecutiveSuccesses < c.Rise {
					t.Fatalf("online with imap at %d successes in a row, want >= %d", v.ConsecutiveSuccesses, c.Rise)
				}
				if d.State != Online {
					t.Fatalf("state %s after an online transition", d.State)
				}
				recovered = cycle
				break
			}
		}
	}
	if recovered < 0 || recovered-upAt > 10 {
		t.Errorf("back online at cycle %d, want within 10 cycles of %d", recovered, upAt)
	}
	if s.offlines != 1 {
		t.Errorf("%d offline transitions, want 1", s.offlines)
	}
}

// TestSimulationOneCheckTarget measures how exposed a target of a single check is to the
// low-confidence rule: its confidence is that check's last Window results alone, so a bad
// stretch counts against it round after round. With the defaults, 10,000 rounds at 10 %
// random failures go offline in a sizeable share of runs; at 5 % almost never
// (docs/SCORING.md, "One-check targets"; test/faults TestSoak runs at 5 % for this reason).
// The seeds are fixed: the counts are exact, not a sample that may move.
func TestSimulationOneCheckTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("8 million simulated rounds")
	}
	c := DefaultConfig()
	c.Checks = []CheckConfig{{Name: "pop3", Critical: true, Weight: 1}}
	const runs, cycles = 400, 10_000
	for _, tc := range []struct {
		rate     float64
		min, max int // runs with a false offline
	}{{0.10, 10, runs}, {0.05, 0, 2}} {
		offline := 0
		for seed := range uint64(runs) {
			s := newSim(t, c, 1000+seed)
			for range cycles {
				s.cycle(func(int) Outcome {
					if s.rng.Float64() < tc.rate {
						return Failed
					}
					return OK
				})
			}
			if s.offlines > 0 {
				offline++
			}
		}
		t.Logf("one critical check, %.0f %% random failures: %d of %d runs of %d rounds went offline", tc.rate*100, offline, runs, cycles)
		if offline < tc.min || offline > tc.max {
			t.Errorf("%.0f %%: %d of %d runs went offline, want %d–%d", tc.rate*100, offline, runs, tc.min, tc.max)
		}
	}
}
