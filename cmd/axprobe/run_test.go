package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the daemon runs at daemonGCPercent, unless the operator set GOGC.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	for _, tc := range []struct {
		env  []string
		want int
	}{
		{nil, daemonGCPercent},
		{[]string{"PATH=/bin", "GOGC=100"}, 100},
		{[]string{"GOGC=off"}, 100}, // kept as the runtime read it (here: the 100 set above)
	} {
		debug.SetGCPercent(100)
		tuneGC(tc.env)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("env %q: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
}
