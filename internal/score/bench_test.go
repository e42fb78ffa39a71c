package score

import (
	"testing"
	"time"
)

// steadyTarget returns an online Axigen target and a script of results for its checks
// that fails now and then without ever taking it offline.
func steadyTarget(tb testing.TB) (*Target, [16]Result) {
	tb.Helper()
	tg, err := New(axigenConfig())
	if err != nil {
		tb.Fatal(err)
	}
	var script [16]Result
	for k := range script {
		script[k] = Result{Outcome: OK, At: epoch}
		if k%5 == 3 {
			script[k] = Result{Outcome: Failed, Reason: "timeout", Phase: "banner", At: epoch}
		}
	}
	for i := range 3 {
		_ = tg.ObserveGate(i, true, "", epoch)
	}
	for i := range 6 {
		_ = tg.ObserveCheck(i, script[0])
	}
	return tg, script
}

// TestHotPathDoesNotAllocate is the contract of ObserveCheck, ObserveGate and Decision,
// transitions included.
func TestHotPathDoesNotAllocate(t *testing.T) {
	tg, script := steadyTarget(t)
	k := 0
	allocs := testing.AllocsPerRun(200, func() {
		k++
		_ = tg.ObserveCheck(k%6, script[k%len(script)])
		_ = tg.ObserveGate(k%3, k%50 != 0, "vip: not here", epoch) // a transition to offline and back now and then
		_ = tg.Decision()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per update", allocs)
	}
	if d := tg.Decision(); d.Transitions < 3 {
		t.Errorf("only %d transitions: the loop did not exercise them", d.Transitions)
	}
}

func BenchmarkObserve(b *testing.B) {
	tg, script := steadyTarget(b)
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		k++
		_ = tg.ObserveCheck(k%6, script[k%len(script)])
	}
	if tg.Decision().State != Online {
		b.Fatal("the benchmark took the target offline")
	}
}

func BenchmarkObserveGate(b *testing.B) {
	tg, _ := steadyTarget(b)
	b.ReportAllocs()
	at := epoch.Add(time.Second)
	k := 0
	for b.Loop() {
		k++
		_ = tg.ObserveGate(k%3, true, "", at)
	}
}

func BenchmarkDecision(b *testing.B) {
	tg, script := steadyTarget(b)
	_ = tg.ObserveCheck(1, script[3]) // a failing critical check: the longest reason search
	b.ReportAllocs()
	var d Decision
	for b.Loop() {
		d = tg.Decision()
	}
	if d.Reason.Cause != CauseFailing {
		b.Fatalf("reason %s", d.Reason)
	}
}

func BenchmarkReasonString(b *testing.B) {
	tg, script := steadyTarget(b)
	_ = tg.ObserveCheck(1, script[3])
	r := tg.Decision().Reason
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String()
	}
}
