package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary bytes as a config file, with one arbitrary environment entry.
// Load must never panic or hang; a config it accepts must validate, and its Redacted output
// must load back to the same config.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "../../deploy/axprobe.example.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "AXPROBE_TARGETS__0__VIP=10.0.0.9")
	}
	f.Add([]byte("targets: [{name: a, vip: 10.0.0.5, checks: [{name: c, protocol: tcp, port: 1}]}]"), "AXPROBE_TARGETS__0__CHECKS__0__PORT=70000")
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]"), "AXPROBE_LOG=x")
	f.Add([]byte("targets: {0: {name: a}}"), "AXPROBE_TARGETS__00__NAME=b")

	f.Fuzz(func(t *testing.T, text []byte, envEntry string) {
		env := []string{envEntry}
		c, err := Load(writeConfig(t, string(text)), env, nil)
		if err != nil {
			if c != nil {
				t.Fatal("Load returned a config with an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
		out, err := c.Redacted()
		if err != nil {
			t.Fatalf("Redacted: %v", err)
		}
		assertReloads(t, c, env, out)
	})
}
