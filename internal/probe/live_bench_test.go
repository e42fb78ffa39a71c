package probe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/axprobe/axprobe/internal/testfile"
)

// The answer-time reads of the local gates (LiveCheck), each on its own: what one MONITOR
// pays for a fact read at the moment of the answer (docs/BENCHMARKS.md, "Local fact →
// answer").
func BenchmarkLiveCheck(b *testing.B) {
	pidfile := testfile.PidFile(b, os.Getpid())
	exe, _ := os.Executable()
	for _, c := range []struct {
		name string
		spec Spec
	}{
		{"vip", Spec{Protocol: "vip", VIP: "127.0.0.1"}},
		{"process-pidfile", Spec{Protocol: "process", PidFile: pidfile, ProcessName: filepath.Base(exe)}},
		{"process-name-scan", Spec{Protocol: "process", ProcessName: filepath.Base(exe)}},
		{"storage-mount", Spec{Protocol: "storage", StoragePath: "/", RequireMount: true}},
	} {
		read := LiveCheck(c.spec)
		if err := read(); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
