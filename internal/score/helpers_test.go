package score

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// epoch is the time of the first update in every test; each step adds a second.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// axigenConfig is a real Axigen node: three critical mail protocols, three others, and the
// three local gates.
func axigenConfig() Config {
	c := DefaultConfig()
	c.Checks = []CheckConfig{
		{Name: "smtp", Weight: 2, Critical: true},
		{Name: "imap", Weight: 2, Critical: true},
		{Name: "pop3", Weight: 2, Critical: true},
		{Name: "webmail", Weight: 1},
		{Name: "webadmin", Weight: 0.5},
		{Name: "cli", Weight: 0.5},
	}
	c.Gates = []string{"vip", "process", "storage"}
	return c
}

// driver plays a script of steps against a target, one second apart.
type driver struct {
	t   *testing.T
	tg  *Target
	cfg Config
	now time.Time
}

func newDriver(t *testing.T, c Config) *driver {
	t.Helper()
	tg, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &driver{t: t, tg: tg, cfg: c, now: epoch}
}

// tick advances the clock by a second and returns the new time.
func (d *driver) tick() time.Time {
	d.now = d.now.Add(time.Second)
	return d.now
}

func (d *driver) check(name string, o Outcome) {
	d.t.Helper()
	i := slices.IndexFunc(d.cfg.Checks, func(c CheckConfig) bool { return c.Name == name })
	r := Result{Outcome: o, At: d.tick()}
	if o != OK {
		r.Reason, r.Phase = "timeout", "banner"
	}
	if err := d.tg.ObserveCheck(i, r); err != nil {
		d.t.Fatalf("ObserveCheck(%s): %v", name, err)
	}
}

func (d *driver) gate(name string, ok bool) {
	d.t.Helper()
	detail := ""
	if !ok {
		detail = name + " broken"
	}
	if err := d.tg.ObserveGate(slices.Index(d.cfg.Gates, name), ok, detail, d.tick()); err != nil {
		d.t.Fatalf("ObserveGate(%s): %v", name, err)
	}
}

// round observes every gate passing, then every check OK.
func (d *driver) round() {
	d.t.Helper()
	for _, g := range d.cfg.Gates {
		d.gate(g, true)
	}
	for _, c := range d.cfg.Checks {
		d.check(c.Name, OK)
	}
}

// play runs a script. Steps:
//
//	round                 every gate up, then every check OK
//	NAME:ok|degraded|fail a check result (fail: "timeout" in "banner")
//	NAME:up|down          a gate observation (down: detail "NAME broken")
//	maint:on|off          SetMaintenance
//	STEP*N                STEP N times
//	=STATE                assert the state
//	#CODE                 assert the code
func (d *driver) play(script ...string) {
	d.t.Helper()
	for n, step := range script {
		at := fmt.Sprintf("step %d %q", n, step)
		switch {
		case strings.HasPrefix(step, "="):
			if got := d.tg.Decision(); got.State != State(step[1:]) {
				d.t.Fatalf("%s: state %s (%s), want %s", at, got.State, got.Reason, step[1:])
			}
			continue
		case strings.HasPrefix(step, "#"):
			if got := d.tg.Decision(); strconv.Itoa(got.Code) != step[1:] {
				d.t.Fatalf("%s: code %d (%s, %s), want %s", at, got.Code, got.State, got.Reason, step[1:])
			}
			continue
		}
		times := 1
		if base, count, ok := strings.Cut(step, "*"); ok {
			var err error
			if times, err = strconv.Atoi(count); err != nil {
				d.t.Fatalf("%s: bad count", at)
			}
			step = base
		}
		for range times {
			d.do(at, step)
		}
	}
}

func (d *driver) do(at, step string) {
	d.t.Helper()
	if step == "round" {
		d.round()
		return
	}
	name, verb, _ := strings.Cut(step, ":")
	switch verb {
	case "ok":
		d.check(name, OK)
	case "degraded":
		d.check(name, Degraded)
	case "fail":
		d.check(name, Failed)
	case "up":
		d.gate(name, true)
	case "down":
		d.gate(name, false)
	case "on":
		d.tg.SetMaintenance(true, d.tick())
	case "off":
		d.tg.SetMaintenance(false, d.tick())
	default:
		d.t.Fatalf("%s: unknown step", at)
	}
}
