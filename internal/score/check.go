package score

import (
	"fmt"
	"time"
)

// Outcome is the verdict on one probe run.
type Outcome uint8

// The outcomes, worst first. The zero value is Failed, so a Result nobody filled in never
// counts as good.
const (
	Failed   Outcome = iota // the probe failed; scores 0
	Degraded                // the probe passed, but slowly or with a certificate near expiry; scores 0.5
	OK                      // the probe passed; scores 1
)

// String returns "failed", "degraded" or "ok" (or "outcome(N)" for an invalid value).
func (o Outcome) String() string {
	switch o {
	case Failed:
		return "failed"
	case Degraded:
		return "degraded"
	case OK:
		return "ok"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// success reports whether o counts towards a success streak: OK and Degraded do.
func (o Outcome) success() bool { return o == OK || o == Degraded }

// halves is o's score in half points: OK 2, Degraded 1, Failed 0. Sums of halves are exact.
func (o Outcome) halves() int { return int(o) }

// Result is one probe run of a check, as the caller judged it.
type Result struct {
	Outcome Outcome
	Reason  string    // why it failed or degraded, e.g. "timeout"; empty when OK
	Phase   string    // the probe phase it happened in, e.g. "banner"
	At      time.Time // when the probe finished; the time of the update
}

// check is the history of one check: a ring of its last results and its streaks.
type check struct {
	ring  []Outcome // len = Window, allocated once
	next  int       // ring index the next result goes to
	n     int       // results in the ring, <= len(ring)
	sum   int       // sum of halves over the ring
	last  Result
	fails int  // consecutive failures up to the last result
	succs int  // consecutive successes (OK or Degraded) up to the last result
	down  bool // critical only: failed Fall in a row, and not yet Rise successes since
}

func newCheck(window int) check { return check{ring: make([]Outcome, window)} }

// add records r; the oldest result leaves the ring when it is full.
func (c *check) add(r Result) {
	if c.n == len(c.ring) {
		c.sum -= c.ring[c.next].halves()
	} else {
		c.n++
	}
	c.ring[c.next] = r.Outcome
	c.sum += r.Outcome.halves()
	c.next = (c.next + 1) % len(c.ring)
	c.last = r
	if r.Outcome.success() {
		c.succs++
		c.fails = 0
	} else {
		c.fails++
		c.succs = 0
	}
}

// settle updates the down flag of a critical check under fall and rise.
func (c *check) settle(critical bool, fall, rise int) {
	switch {
	case !critical:
		c.down = false
	case c.fails >= fall:
		c.down = true
	case c.succs >= rise:
		c.down = false
	}
}

// health is the mean score of the ring; 0 when there are no results.
func (c *check) health() float64 {
	if c.n == 0 {
		return 0
	}
	return float64(c.sum) / float64(2*c.n)
}

// CheckView is a copy of one check's history, for status pages and tests.
type CheckView struct {
	Name     string
	Weight   float64
	Critical bool

	Health               float64 // mean score of the window, 0..1; 0 when Len is 0
	Size                 int     // the window's size
	Len                  int     // results in the window so far, 0..Size
	ConsecutiveFailures  int     // failures in a row up to the last result
	ConsecutiveSuccesses int     // successes (OK or Degraded) in a row up to the last result
	Down                 bool    // critical check that failed Fall in a row and has not yet had Rise successes
	Last                 Result  // the last result; zero when Len is 0

	// Window holds the results in the window, oldest first, in Window[:Len].
	Window [MaxWindow]Outcome
}

// HasResults reports whether the check has any result, and so a health.
func (v CheckView) HasResults() bool { return v.Len > 0 }

func (c *check) view(cfg CheckConfig) CheckView {
	v := CheckView{
		Name:                 cfg.Name,
		Weight:               cfg.Weight,
		Critical:             cfg.Critical,
		Health:               c.health(),
		Size:                 len(c.ring),
		Len:                  c.n,
		ConsecutiveFailures:  c.fails,
		ConsecutiveSuccesses: c.succs,
		Down:                 c.down,
		Last:                 c.last,
	}
	oldest := (c.next - c.n + len(c.ring)) % len(c.ring)
	for k := range c.n {
		v.Window[k] = c.ring[(oldest+k)%len(c.ring)]
	}
	return v
}

// gate is the last observation of one local fact.
type gate struct {
	observed bool
	ok       bool
	detail   string
	at       time.Time
}

// GateView is a copy of one gate's last observation.
type GateView struct {
	Name     string
	Observed bool      // false until the first observation
	OK       bool      // the last observation passed
	Detail   string    // the detail given with the last observation
	At       time.Time // time of the last observation
}
