package score

import (
	"math"
	"testing"
)

func TestCodeOnlineBoundaries(t *testing.T) {
	tests := []struct {
		confidence float64
		want       int
	}{
		{0, 101},
		{0.01, 101},
		{0.1, 101},
		{0.10000001, 102},
		{0.2, 102},
		{0.3, 103}, // 10 × 0.3 = 3.0000000000000004 in float64
		{0.5, 105},
		{0.7, 107}, // 10 × 0.7 = 7.000000000000001
		{0.9, 109},
		{0.1 + 0.2 + 0.6, 109}, // 0.9000000000000001
		{0.9000001, 110},
		{0.91, 110},
		{0.99, 110},
		{1.0, 110},
		{math.NaN(), 101},
		{-0.5, 101},
		{math.Inf(-1), 101},
		{1.5, 110},
		{math.Inf(1), 110},
	}
	for _, tc := range tests {
		if got := Code(Online, tc.confidence, false); got != tc.want {
			t.Errorf("Code(online, %v) = %d, want %d", tc.confidence, got, tc.want)
		}
		if got := Code(Online, tc.confidence, true); got != tc.want {
			t.Errorf("Code(online, %v, intentional) = %d, want %d", tc.confidence, got, tc.want)
		}
	}
}

// TestCodeEveryTenth checks every boundary k/10 and its neighbours one step up, where the
// rounding before the ceiling matters.
func TestCodeEveryTenth(t *testing.T) {
	for k := 1; k <= 10; k++ {
		at := float64(k) / 10
		if got := Code(Online, at, false); got != 100+k {
			t.Errorf("Code(online, %v) = %d, want %d", at, got, 100+k)
		}
		above := at + 1e-6
		if want := min(100+k+1, 110); Code(Online, above, false) != want {
			t.Errorf("Code(online, %v) = %d, want %d", above, Code(Online, above, false), want)
		}
	}
}

func TestCodeStates(t *testing.T) {
	tests := []struct {
		state       State
		intentional bool
		want        int
	}{
		{Starting, false, 100},
		{Starting, true, 100},
		{Offline, false, 100},
		{Offline, true, 100},
		{Maintenance, false, 100},
		{Maintenance, true, 200},
		{State("bogus"), true, 100},
		{State(""), false, 100},
	}
	for _, tc := range tests {
		for _, c := range []float64{0, 0.5, 1} {
			if got := Code(tc.state, c, tc.intentional); got != tc.want {
				t.Errorf("Code(%q, %v, %v) = %d, want %d", tc.state, c, tc.intentional, got, tc.want)
			}
		}
	}
}
