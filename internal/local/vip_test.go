package local

import (
	"os"
	"strings"
	"testing"
)

func TestVIPPresent(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true}, // a v4-mapped spelling of a local v4 address
		{"192.0.2.1", false},       // TEST-NET-1: never configured
		{"2001:db8::1", false},     // documentation prefix
	}
	for _, tc := range tests {
		got, err := VIPPresent(tc.ip)
		if err != nil {
			t.Errorf("VIPPresent(%q): %v", tc.ip, err)
			continue
		}
		if got != tc.want {
			t.Errorf("VIPPresent(%q) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func TestVIPPresentInvalid(t *testing.T) {
	for _, ip := range []string{"x", "", "10.0.0.256", "10.0.0.1/24"} {
		ok, err := VIPPresent(ip)
		if err == nil || ok {
			t.Errorf("VIPPresent(%q) = %v, %v; want an error", ip, ok, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+ip+`"`) {
			t.Errorf("VIPPresent(%q) error %q does not name the value", ip, err)
		}
	}
}

// TestVIPPresentIPv6Loopback: where the kernel lists ::1 on an interface, VIPPresent finds
// it (some containers run without IPv6).
func TestVIPPresentIPv6Loopback(t *testing.T) {
	b, err := os.ReadFile("/proc/net/if_inet6")
	if err != nil || !strings.Contains(string(b), "00000000000000000000000000000001") {
		t.Skip("skipped: ::1 is not configured here")
	}
	for _, ip := range []string{"::1", "0:0::1"} {
		if ok, err := VIPPresent(ip); err != nil || !ok {
			t.Errorf("VIPPresent(%q) = %v, %v; want true", ip, ok, err)
		}
	}
}
