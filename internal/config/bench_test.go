package config

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoadExample measures Load of deploy/axprobe.example.yaml, passwords included:
// what the daemon pays at start and on every SIGHUP.
func BenchmarkLoadExample(b *testing.B) {
	text, err := os.ReadFile("../../deploy/axprobe.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "axprobe.yaml")
	pwFile := filepath.Join(dir, "probe.pw")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	flags := map[string]any{
		"targets.0.checks.0.auth.password_file": pwFile,
		"targets.0.checks.1.auth.password_file": pwFile,
	}
	for b.Loop() {
		if _, err := Load(file, nil, flags); err != nil {
			b.Fatal(err)
		}
	}
}
