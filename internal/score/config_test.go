package score

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Window != 5 || c.Rise != 2 || c.Fall != 7 || c.OfflineBelow != 0.5 || c.IntentionalOffline {
		t.Errorf("DefaultConfig() = %+v", c)
	}
	if err := axigenConfig().Validate(); err != nil {
		t.Errorf("axigen config: %v", err)
	}
}

func TestValidate(t *testing.T) {
	many := func(n int, prefix string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return s
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // every line of the error, in order
	}{
		{"window zero", func(c *Config) { c.Window = 0 }, []string{"window: must be 1-64, got 0"}},
		{"window too large", func(c *Config) { c.Window = 65 }, []string{"window: must be 1-64, got 65"}},
		{"rise", func(c *Config) { c.Rise = 0 }, []string{"rise: must be >= 1, got 0"}},
		{"fall", func(c *Config) { c.Fall = -3 }, []string{"fall: must be >= 1, got -3"}},
		{"offline_below negative", func(c *Config) { c.OfflineBelow = -0.1 }, []string{"offline_below: must be 0-1, got -0.1"}},
		{"offline_below above one", func(c *Config) { c.OfflineBelow = 1.5 }, []string{"offline_below: must be 0-1, got 1.5"}},
		{"offline_below NaN", func(c *Config) { c.OfflineBelow = math.NaN() }, []string{"offline_below: must be 0-1, got NaN"}},
		{"no checks", func(c *Config) { c.Checks = nil }, []string{"checks: at least one check is needed"}},
		{"weight zero", func(c *Config) { c.Checks[1].Weight = 0 }, []string{"checks[1].weight: must be a finite number > 0, got 0"}},
		{"weight negative", func(c *Config) { c.Checks[1].Weight = -1 }, []string{"checks[1].weight: must be a finite number > 0, got -1"}},
		{"weight NaN", func(c *Config) { c.Checks[2].Weight = math.NaN() }, []string{"checks[2].weight: must be a finite number > 0, got NaN"}},
		{"weight infinite", func(c *Config) { c.Checks[0].Weight = math.Inf(1) }, []string{"checks[0].weight: must be a finite number > 0, got +Inf"}},
		{"empty check name", func(c *Config) { c.Checks[3].Name = "" }, []string{"checks[3].name: must not be empty"}},
		{"duplicate check", func(c *Config) { c.Checks[4].Name = "imap" }, []string{`checks[4].name: "imap" is already the name of checks[1].name`}},
		{"gate named like a check", func(c *Config) { c.Gates[1] = "smtp" }, []string{`gates[1]: "smtp" is already the name of checks[0].name`}},
		{"empty gate", func(c *Config) { c.Gates[2] = "" }, []string{"gates[2]: must not be empty"}},
		{"too many gates", func(c *Config) { c.Gates = many(65, "g") }, []string{"gates: at most 64, got 65"}},
		{"too many checks", func(c *Config) {
			c.Checks = nil
			for _, n := range many(65, "c") {
				c.Checks = append(c.Checks, CheckConfig{Name: n, Weight: 1})
			}
		}, []string{"checks: at most 64, got 65"}},
		{"every problem at once", func(c *Config) {
			c.Window, c.Rise, c.Fall = 0, 0, 0
			c.Checks[0].Weight = 0
			c.Checks[1].Name = "smtp"
		}, []string{
			"window: must be 1-64, got 0",
			"rise: must be >= 1, got 0",
			"fall: must be >= 1, got 0",
			"checks[0].weight: must be a finite number > 0, got 0",
			`checks[1].name: "smtp" is already the name of checks[0].name`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := axigenConfig()
			tc.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Validate() =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	c := DefaultConfig()
	c.Window, c.Rise, c.Fall, c.OfflineBelow = MaxWindow, 1, 1, 0
	for i := range MaxChecks {
		c.Checks = append(c.Checks, CheckConfig{Name: fmt.Sprintf("c%d", i), Weight: math.MaxFloat64})
	}
	for i := range MaxGates {
		c.Gates = append(c.Gates, fmt.Sprintf("g%d", i))
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	// The largest config works end to end: huge weights do not overflow, the last check and
	// gate (bit 63 of the waiting masks) are named.
	tg, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_ = tg.ObserveCheck(0, Result{Outcome: OK})
	if got := tg.Decision().Confidence; got != 1 {
		t.Errorf("confidence %v, want 1", got)
	}
	if r := tg.Decision().Reason.String(); !strings.Contains(r, "waiting for c1, c2,") || !strings.Contains(r, ", c63, g0, g1,") || !strings.HasSuffix(r, ", g63") {
		t.Errorf("reason %q", r)
	}
}
