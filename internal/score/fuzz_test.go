package score

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/vcs"
)

// fuzzConfig builds a small valid config from the first bytes of data and returns the rest.
func fuzzConfig(data []byte) (Config, []byte) {
	for len(data) < 5 {
		data = append(data, 0)
	}
	c := DefaultConfig()
	c.Window = int(data[0]%8) + 1
	c.Rise = int(data[1]%4) + 1
	c.Fall = int(data[2]%8) + 1
	c.OfflineBelow = float64(data[3]) / 255
	c.IntentionalOffline = data[4]&1 == 1
	checks, gates := int(data[4]>>1)%6+1, int(data[4]>>4)%4
	data = data[5:]
	for i := range checks {
		var b byte
		if len(data) > 0 {
			b, data = data[0], data[1:]
		}
		c.Checks = append(c.Checks, CheckConfig{Name: fmt.Sprintf("c%d", i), Weight: float64(b>>1+1) / 8, Critical: b&1 == 1})
	}
	for i := range gates {
		c.Gates = append(c.Gates, fmt.Sprintf("g%d", i))
	}
	return c, data
}

// FuzzTarget plays random sequences of results, gate observations, maintenance and reloads
// (out-of-range indexes and invalid outcomes included) and checks the invariants of the
// contract after every step.
func FuzzTarget(f *testing.F) {
	f.Add([]byte{4, 1, 6, 128, 0x5b, 3, 3, 2, 2, 1, 1, 0, 9, 0, 1, 1, 2, 2, 3, 3, 4, 1, 5, 0})
	f.Add([]byte{0, 0, 0, 255, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 4, 1, 6, 1, 6, 0, 7, 3})
	f.Add([]byte{7, 3, 2, 0, 0x30, 0, 0, 2, 0, 2, 12, 1, 12, 0, 14, 1, 15, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ops := fuzzConfig(data)
		tg, err := New(c)
		if err != nil {
			t.Fatalf("New(%+v): %v", c, err)
		}
		at := epoch
		transitions := 0
		for n := 0; n+1 < len(ops) && n < 4000; n += 2 {
			op, arg := ops[n], ops[n+1]
			at = at.Add(time.Second)
			updated := false // a successful Observe: the state machine has judged the facts
			switch op % 8 {
			case 0, 1, 2, 3:
				i := int(op>>3)%(len(c.Checks)+2) - 1
				o := Outcome(arg % 5)
				err := tg.ObserveCheck(i, Result{Outcome: o, Reason: "r", Phase: "p", At: at})
				if valid := i >= 0 && i < len(c.Checks) && o <= OK; valid != (err == nil) {
					t.Fatalf("ObserveCheck(%d, %v) = %v", i, o, err)
				}
				updated = err == nil
			case 4, 5:
				i := int(op>>3)%(len(c.Gates)+2) - 1
				err := tg.ObserveGate(i, arg&1 == 1, "d", at)
				if valid := i >= 0 && i < len(c.Gates); valid != (err == nil) {
					t.Fatalf("ObserveGate(%d) = %v", i, err)
				}
				updated = err == nil
			case 6:
				tg.SetMaintenance(arg&1 == 1, at)
			case 7:
				// Reload: flip one check's criticality, maybe change the window.
				next := c
				next.Checks = append([]CheckConfig(nil), c.Checks...)
				k := int(op>>3) % len(next.Checks)
				next.Checks[k].Critical = !next.Checks[k].Critical
				if arg%4 == 0 {
					next.Window = int(arg/4%8) + 1
				}
				n, err := tg.Reconfigure(next)
				if err != nil {
					t.Fatalf("Reconfigure: %v", err)
				}
				tg, c = n, next
			}
			transitions = checkInvariants(t, tg, c, transitions, updated)
		}
	})
}

// checkInvariants fails t if the target breaks the contract, and returns the transition
// count. strict adds the rules that hold right after an update, but may lag a Reconfigure
// until the next one.
func checkInvariants(t *testing.T, tg *Target, c Config, transitions int, strict bool) int {
	t.Helper()
	d := tg.Decision()
	if math.IsNaN(d.Confidence) || d.Confidence < 0 || d.Confidence > 1 {
		t.Fatalf("confidence %v outside [0,1]", d.Confidence)
	}
	switch {
	case d.Code == vcs.CodeOffline, vcs.IsOnline(d.Code):
	case d.Code == vcs.CodeIntentionalOffline && d.State == Maintenance && c.IntentionalOffline:
	default:
		t.Fatalf("code %d in state %s (intentional %v)", d.Code, d.State, c.IntentionalOffline)
	}
	if want := Code(d.State, d.Confidence, c.IntentionalOffline); d.Code != want {
		t.Fatalf("code %d, Code() says %d", d.Code, want)
	}
	switch d.State {
	case Starting, Online, Offline, Maintenance:
	default:
		t.Fatalf("state %q", d.State)
	}
	if d.Transitions < transitions {
		t.Fatalf("transitions went back from %d to %d", transitions, d.Transitions)
	}
	if d.Reason.String() == "" {
		t.Fatalf("empty reason in state %s", d.State)
	}
	for i := range c.Gates {
		if g, _ := tg.Gate(i); d.State == Online && g.Observed && !g.OK {
			t.Fatalf("online while gate %s failed", g.Name)
		}
	}
	for i := range c.Checks {
		v, _ := tg.Check(i)
		if v.Health < 0 || v.Health > 1 || v.Len > v.Size || v.Len < 0 {
			t.Fatalf("check view %+v", v)
		}
		if strict && d.State == Online && v.Critical && (v.Down || v.ConsecutiveFailures >= c.Fall) {
			t.Fatalf("online while critical %s is down: %+v", v.Name, v)
		}
	}
	return d.Transitions
}
