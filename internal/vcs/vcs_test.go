package vcs

import "testing"

func TestCodes(t *testing.T) {
	for c := 0; c < 300; c++ {
		want := c == 99 || c == 200 || (c >= 100 && c <= 110)
		if ValidCode(c) != want {
			t.Errorf("ValidCode(%d) = %v, want %v", c, !want, want)
		}
		if IsOnline(c) != (c >= 101 && c <= 110) {
			t.Errorf("IsOnline(%d) = %v", c, IsOnline(c))
		}
	}
}
