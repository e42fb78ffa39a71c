package shim

import (
	"strings"
	"testing"
)

// FuzzParse: whatever arguments VCS or a person passes, Parse returns a valid Config or an
// error, and never panics.
func FuzzParse(f *testing.F) {
	f.Add("axigen_res ProbeSocket 1 /run/a.sock ProbeTarget 1 axigen AEPTimeout 1 60")
	f.Add("--target axigen --timeout 1s --on-unavailable offline")
	f.Add("res ProbeTimeout 1 99999999999999999999")
	f.Add("res X -1")
	f.Fuzz(func(t *testing.T, line string) {
		cfg, err := Parse(strings.Fields(line))
		if err != nil {
			return
		}
		if err := cfg.validate(); err != nil {
			t.Fatalf("Parse(%q) returned an invalid config %+v: %v", line, cfg, err)
		}
	})
}
