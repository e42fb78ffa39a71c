package score

import (
	"fmt"
	"slices"
	"time"
)

// Target is the state machine of one monitored service: the history of its checks, the last
// observation of its gates, and the state the history has led to.
//
// A Target is not safe for concurrent use: one goroutine owns it and publishes Decision
// values, which are plain values that share nothing mutable with the Target.
type Target struct {
	cfg     Config    // a deep copy; never changes
	names   *names    // the names in cfg, for reasons; never changes
	weights []float64 // cfg.Checks' weights divided by the largest, so sums cannot overflow

	checks []check // parallel to cfg.Checks
	gates  []gate  // parallel to cfg.Gates

	state       State
	last        Transition
	transitions int
	lowStreak   int     // consecutive check results with confidence below OfflineBelow
	riseStreak  int     // consecutive good updates (see verdict fine)
	confidence  float64 // weighted mean health of the checks with results; 0 if none
	scored      bool    // some check has results, so confidence means something
}

// Transition is a change of state: from, to, when (the time of the update, or of the
// SetMaintenance call, that caused it) and why.
type Transition struct {
	From, To State
	At       time.Time
	Reason   Reason
}

// Decision is a target's answer at one moment.
type Decision struct {
	State      State
	Code       int     // the VCS exit code: Code(State, Confidence, IntentionalOffline)
	Confidence float64 // 0..1: weighted mean health of the checks that have results; 0 when none has
	Reason     Reason  // why the state is what it is now, or what it is waiting for

	Since       time.Time  // when State began (Last.At); zero before the first transition
	Last        Transition // the last transition; zero before the first one
	Transitions int        // transitions since New, carried across Reconfigure
}

// New returns a Target in state Starting with no history. It fails with c.Validate's error
// if c is not valid. The Target keeps its own copy of c.
func New(c Config) (*Target, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("score: invalid config: %w", err)
	}
	c.Checks = slices.Clone(c.Checks)
	c.Gates = slices.Clone(c.Gates)

	t := &Target{
		cfg:     c,
		names:   &names{checks: make([]string, len(c.Checks)), gates: c.Gates},
		weights: make([]float64, len(c.Checks)),
		checks:  make([]check, len(c.Checks)),
		gates:   make([]gate, len(c.Gates)),
		state:   Starting,
	}
	heaviest := 0.0
	for _, ck := range c.Checks {
		heaviest = max(heaviest, ck.Weight)
	}
	for i, ck := range c.Checks {
		t.names.checks[i] = ck.Name
		t.weights[i] = ck.Weight / heaviest
		t.checks[i] = newCheck(c.Window)
	}
	return t, nil
}

// ObserveCheck records the result of check i (an index into Config.Checks) and updates the
// state machine: it is one update. It returns an error, and changes nothing, if i is out of
// range or r.Outcome is not Failed, Degraded or OK. It never allocates when it succeeds.
func (t *Target) ObserveCheck(i int, r Result) error {
	if i < 0 || i >= len(t.checks) {
		return fmt.Errorf("score: check index %d out of range [0, %d)", i, len(t.checks))
	}
	if r.Outcome > OK {
		return fmt.Errorf("score: check %q: invalid outcome %d", t.cfg.Checks[i].Name, r.Outcome)
	}
	c := &t.checks[i]
	c.add(r)
	c.settle(t.cfg.Checks[i].Critical, t.cfg.Fall, t.cfg.Rise)
	// Only a check result can change the confidence, so only check results move the
	// low-confidence count.
	t.confidence, t.scored = t.score()
	if t.scored && t.confidence < t.cfg.OfflineBelow {
		t.lowStreak++
	} else {
		t.lowStreak = 0
	}
	t.update(r.At)
	return nil
}

// ObserveGate records an observation of gate i (an index into Config.Gates) made at time
// at, with a detail for people ("10.0.0.5 is not on a local interface"), and updates the
// state machine: it is one update. It returns an error, and changes nothing, if i is out of
// range. It never allocates when it succeeds.
func (t *Target) ObserveGate(i int, ok bool, detail string, at time.Time) error {
	if i < 0 || i >= len(t.gates) {
		return fmt.Errorf("score: gate index %d out of range [0, %d)", i, len(t.gates))
	}
	t.gates[i] = gate{observed: true, ok: ok, detail: detail, at: at}
	t.update(at)
	return nil
}

// SetMaintenance puts the target into state Maintenance (on) or takes it out (off) at time
// at. It is not an update: no count moves. Calls that change nothing (on while already in
// maintenance, off while not) are ignored.
//
// In maintenance, updates go on recording history, but the state stays Maintenance. Leaving
// maintenance re-enters the state machine at Offline: the target is offline if anything
// demands it, online at once if the last Rise updates were good, otherwise offline until
// they are.
func (t *Target) SetMaintenance(on bool, at time.Time) {
	switch {
	case on && t.state != Maintenance:
		t.moveTo(Maintenance, at)
	case !on && t.state == Maintenance:
		v, _ := t.assess()
		t.moveTo(t.next(Offline, v), at)
	}
}

// Decision returns the target's current answer. It never allocates.
func (t *Target) Decision() Decision {
	return Decision{
		State:       t.state,
		Code:        Code(t.state, t.confidence, t.cfg.IntentionalOffline),
		Confidence:  t.confidence,
		Reason:      t.explain(),
		Since:       t.last.At,
		Last:        t.last,
		Transitions: t.transitions,
	}
}

// Check returns a copy of check i's history, or false if i is out of range.
func (t *Target) Check(i int) (CheckView, bool) {
	if i < 0 || i >= len(t.checks) {
		return CheckView{}, false
	}
	return t.checks[i].view(t.cfg.Checks[i]), true
}

// Gate returns gate i's last observation, or false if i is out of range.
func (t *Target) Gate(i int) (GateView, bool) {
	if i < 0 || i >= len(t.gates) {
		return GateView{}, false
	}
	g := t.gates[i]
	return GateView{Name: t.cfg.Gates[i], Observed: g.observed, OK: g.ok, Detail: g.detail, At: g.at}, true
}

// Reconfigure returns a new Target for config c that carries over t's history; t itself is
// unchanged. It fails with c.Validate's error if c is not valid.
//
// A check keeps its window and streaks if c has a check of the same Name and the same
// window size (Config.Window); otherwise (a new check, or the window size changed) it starts
// with no results. Its weight and criticality may change. A gate keeps its last observation
// if c has a gate of the same name. Checks and gates c no longer names are dropped. The
// state machine keeps its state, last transition and counts; the new config judges from
// the next update on (Reconfigure itself is not an update, so a target may stay online
// until then under rules that would now take it offline).
func (t *Target) Reconfigure(c Config) (*Target, error) {
	n, err := New(c)
	if err != nil {
		return nil, err
	}
	for j, ck := range n.cfg.Checks {
		i := slices.Index(t.names.checks, ck.Name)
		if i < 0 || t.cfg.Window != n.cfg.Window {
			continue
		}
		ring := n.checks[j].ring
		copy(ring, t.checks[i].ring)
		n.checks[j] = t.checks[i]
		n.checks[j].ring = ring
		n.checks[j].settle(ck.Critical, n.cfg.Fall, n.cfg.Rise)
	}
	for j, name := range n.cfg.Gates {
		if i := slices.Index(t.names.gates, name); i >= 0 {
			n.gates[j] = t.gates[i]
		}
	}
	n.state = t.state
	n.last = t.last
	n.transitions = t.transitions
	n.lowStreak = t.lowStreak
	n.riseStreak = t.riseStreak
	n.confidence, n.scored = n.score()
	return n, nil
}

// verdict is what the current facts say about the state the target should be in.
type verdict uint8

const (
	fine     verdict = iota // every condition for online holds: a good update
	hold                    // not good enough to rise, not bad enough to fall
	mustFall                // the target must be offline
)

// update runs the state machine after an observation made at time at.
func (t *Target) update(at time.Time) {
	v, _ := t.assess()
	if v == fine {
		t.riseStreak++
	} else {
		t.riseStreak = 0
	}
	t.moveTo(t.next(t.state, v), at)
}

// next returns the state that follows from, given the verdict on the current facts.
func (t *Target) next(from State, v verdict) State {
	switch {
	case from == Maintenance:
		return Maintenance
	case v == mustFall:
		return Offline
	case from == Starting && v == fine && t.down() < 0:
		return Online // nothing to recover from: no rise count
	case from == Offline && t.riseStreak >= t.cfg.Rise && t.down() < 0:
		return Online // riseStreak > 0 implies v == fine
	}
	return from
}

// assess judges the current facts, and names the first problem it finds, in this order.
// mustFall: a gate failed; a critical check has failed Fall times in a row; confidence has
// been below OfflineBelow for Fall rounds of check results. hold: a check or gate has never been observed; a
// critical check's last result failed; confidence is below OfflineBelow. Otherwise the
// update is good: fine.
//
// A critical check that is down but has succeeded since does not make an update bad; it
// keeps the target from going online (see next) until it has succeeded Rise times.
func (t *Target) assess() (verdict, Reason) {
	for i, g := range t.gates {
		if g.observed && !g.ok {
			return mustFall, Reason{Cause: CauseGate, Name: t.cfg.Gates[i], Detail: g.detail}
		}
	}
	for i := range t.checks {
		if c := &t.checks[i]; t.cfg.Checks[i].Critical && c.fails >= t.cfg.Fall {
			return mustFall, t.failing(CauseCritical, i)
		}
	}
	if t.lowStreak >= t.lowNeed() {
		return mustFall, t.lowConfidence()
	}

	var waitChecks, waitGates uint64
	for i := range t.checks {
		if t.checks[i].n == 0 {
			waitChecks |= 1 << i
		}
	}
	for i := range t.gates {
		if !t.gates[i].observed {
			waitGates |= 1 << i
		}
	}
	if waitChecks|waitGates != 0 {
		return hold, Reason{Cause: CauseWaiting, names: t.names, waitChecks: waitChecks, waitGates: waitGates}
	}
	for i := range t.checks {
		if t.cfg.Checks[i].Critical && t.checks[i].fails > 0 {
			return hold, t.failing(CauseFailing, i)
		}
	}
	if t.confidence < t.cfg.OfflineBelow {
		return hold, t.lowConfidence()
	}
	return fine, Reason{}
}

// down returns the index of the first check that is down, or -1.
func (t *Target) down() int {
	for i := range t.checks {
		if t.checks[i].down {
			return i
		}
	}
	return -1
}

func (t *Target) failing(cause Cause, i int) Reason {
	c := &t.checks[i]
	return Reason{Cause: cause, Name: t.cfg.Checks[i].Name, Count: c.fails, Detail: c.last.Reason, Phase: c.last.Phase}
}

func (t *Target) lowConfidence() Reason {
	return Reason{Cause: CauseLowConfidence, Confidence: t.confidence, Threshold: t.cfg.OfflineBelow,
		Count: t.lowStreak, Need: t.lowNeed()}
}

// lowNeed is how many check results in a row with low confidence take the target offline:
// Fall rounds of results (see the package documentation).
func (t *Target) lowNeed() int { return t.cfg.Fall * len(t.checks) }

// explain says why the target is in its state now.
func (t *Target) explain() Reason {
	if t.state == Maintenance {
		return Reason{Cause: CauseMaintenance}
	}
	v, r := t.assess()
	switch {
	case v != fine:
		return r
	case t.state != Offline:
	case t.down() >= 0:
		i := t.down()
		return Reason{Cause: CauseRecovering, Name: t.cfg.Checks[i].Name, Count: t.checks[i].succs, Need: t.cfg.Rise}
	default:
		return Reason{Cause: CauseRecovering, Count: t.riseStreak, Need: t.cfg.Rise}
	}
	weakest := -1
	for i := range t.checks {
		if h := t.checks[i].health(); h < 1 && (weakest < 0 || h < t.checks[weakest].health()) {
			weakest = i
		}
	}
	if weakest < 0 {
		return Reason{Cause: CauseHealthy}
	}
	c := &t.checks[weakest]
	r = Reason{Cause: CauseDegraded, Confidence: t.confidence, Name: t.cfg.Checks[weakest].Name, Health: c.health()}
	if c.last.Outcome != OK {
		r.Detail, r.Phase = c.last.Reason, c.last.Phase
	}
	return r
}

// moveTo changes state, recording the transition, unless the state is already to.
func (t *Target) moveTo(to State, at time.Time) {
	if to == t.state {
		return
	}
	from := t.state
	t.state = to
	t.transitions++
	t.last = Transition{From: from, To: to, At: at, Reason: t.explain()}
}

// score returns the weighted mean health of the checks that have results, and whether any
// has.
func (t *Target) score() (float64, bool) {
	var sum, weights float64
	for i := range t.checks {
		if t.checks[i].n > 0 {
			sum += t.weights[i] * t.checks[i].health()
			weights += t.weights[i]
		}
	}
	if weights == 0 {
		return 0, false
	}
	return min(max(sum/weights, 0), 1), true
}
