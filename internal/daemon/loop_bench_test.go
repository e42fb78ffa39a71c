package daemon

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/probe"
)

// BenchmarkLoopResults pushes results through the daemon's real loop (fold, stats,
// publication) for many targets of one check each, and reports the loop's cost per result:
// it must not grow with the number of targets (docs/BENCHMARKS.md, "Profiling and fixes").
// The targets' own probes are scheduled an hour out, so the loop sees only these results.
func BenchmarkLoopResults(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			specs := make([]TargetSpec, n)
			for i := range specs {
				specs[i] = TargetSpec{Name: fmt.Sprintf("t%05d", i), Interval: time.Hour, FastInterval: time.Hour, Timeout: time.Second,
					Window: 5, Rise: 2, Fall: 3, OfflineBelow: 0.5,
					Checks: []CheckSpec{{Name: "tcp", Weight: 1, Critical: true, Probe: probe.Spec{Protocol: "tcp", Address: "127.0.0.1:1"}}}}
			}
			d, err := New(Options{Targets: specs})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = d.Run(ctx) })
			defer func() { cancel(); wg.Wait() }()
			for runtime.NumGoroutine() < n { // every worker started (bounded by the benchmark's own timeout)
				time.Sleep(10 * time.Millisecond)
			}
			tr := probe.NewTrace()
			tr.Begin("connect")
			tr.Finish()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d.results <- result{target: specs[i%n].Name, check: "tcp", trace: tr, at: time.Now()}
			}
			// Wait (bounded) until the last result is published.
			last := specs[(b.N-1)%n].Name
			deadline := time.Now().Add(30 * time.Second)
			for {
				if ts, ok := d.Snapshot().Target(last); ok && !ts.Updated.IsZero() {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the last result was not published within 30s")
				}
				time.Sleep(time.Millisecond)
			}
			// CPU rather than wall time: on a shared machine the wall clock measures the
			// neighbours.
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/result")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
