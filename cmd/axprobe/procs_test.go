package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/testkit"
)

// TestMain fixes GOMAXPROCS for the package's tests through the environment, as an
// operator would: the daemons they run in this process must not shrink the test binary
// to one processor. TestTuneProcs tests the sizing itself.
func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		os.Setenv("GOMAXPROCS", strconv.Itoa(runtime.GOMAXPROCS(0)))
	}
	os.Exit(m.Run())
}

// targetsOf returns n targets of checks checks each, at interval and fast.
func targetsOf(n, checks int, interval, fast time.Duration) []config.TargetSpec {
	specs := make([]config.TargetSpec, n)
	for i := range specs {
		specs[i] = config.TargetSpec{Name: fmt.Sprint("t", i), Interval: interval, FastInterval: fast}
		for c := range checks {
			specs[i].Checks = append(specs[i].Checks, config.CheckSpec{Name: fmt.Sprint("c", c)})
		}
		specs[i].Gates = []config.CheckSpec{{Name: "vip", Interval: time.Millisecond}} // not counted
	}
	return specs
}

// TestProcsFor: one processor while the schedule can ask at most oneProcRate probes a
// second, counted at the fast interval (every check failing); the runtime's default above.
func TestProcsFor(t *testing.T) {
	slowCheck := targetsOf(1, 2, 10*time.Second, time.Second)
	slowCheck[0].Checks[1].Interval = time.Minute         // its own interval
	slowCheck[0].Checks[1].FastInterval = 2 * time.Minute // and a fast one above it: 1/min
	for _, tc := range []struct {
		name  string
		specs []config.TargetSpec
		rate  float64
		procs int
	}{
		{"default node: 6 checks, 10s / fast 1s", targetsOf(1, 6, 10*time.Second, time.Second), 6, 1},
		{"per-check intervals", slowCheck, 1 + 1.0/60, 1},
		{"exactly the bound", targetsOf(100, 1, time.Second, time.Second), 100, 1},
		{"fast interval decides", targetsOf(20, 6, 10*time.Second, time.Second), 120, 0},
		{"10,000 targets at 10s", targetsOf(10000, 1, 10*time.Second, 10*time.Second), 1000, 0},
		{"no target", nil, 0, 1},
	} {
		if got := peakProbeRate(tc.specs); got < tc.rate-1e-9 || got > tc.rate+1e-9 {
			t.Errorf("%s: peak rate %v, want %v", tc.name, got, tc.rate)
		}
		if got := procsFor(tc.specs); got != tc.procs {
			t.Errorf("%s: procs %d, want %d", tc.name, got, tc.procs)
		}
	}
}

// TestTuneProcs: the sizing is applied, back to the runtime's default when the schedule
// grows (a reload), and an environment GOMAXPROCS wins.
func TestTuneProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)

	if got := tuneProcs(false, targetsOf(1, 6, 10*time.Second, time.Second)); got != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("a normal node: tuneProcs %d, GOMAXPROCS %d, want 1", got, runtime.GOMAXPROCS(0))
	}
	if got := tuneProcs(false, targetsOf(1000, 6, 10*time.Second, time.Second)); got != def {
		t.Errorf("6,000 checks: GOMAXPROCS %d, want the runtime default %d", got, def)
	}
	runtime.GOMAXPROCS(3)
	if got := tuneProcs(true, targetsOf(1, 6, 10*time.Second, time.Second)); got != 0 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("GOMAXPROCS from the environment: tuneProcs %d, GOMAXPROCS %d, want 0 and 3 kept", got, runtime.GOMAXPROCS(0))
	}
}

// TestServerSizesProcs: the server sizes GOMAXPROCS to its schedule when it starts and
// again on every reload (SIGHUP). The environment's GOMAXPROCS, which would win, is unset
// for it; TestTuneProcs covers that case.
func TestServerSizesProcs(t *testing.T) {
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	if def < 2 {
		t.Skipf("one processor here (GOMAXPROCS default %d): nothing to tell apart", def)
	}
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	t.Setenv("GOMAXPROCS", "") // restored after the test, which unsets it for its server
	os.Unsetenv("GOMAXPROCS")

	dir, err := os.MkdirTemp("", "axprobe-procs-") // short: the socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	configPath := filepath.Join(dir, "axprobe.yaml")
	// testTarget's fast interval is 100 ms: each check may ask 10 probes a second.
	configWith := func(checks int) string {
		text := "socket: " + filepath.Join(dir, "axprobe.sock") + "\n" + testTarget
		for i := range checks {
			text += fmt.Sprintf("      - { name: c%d, protocol: tcp, port: 1 }\n", i)
		}
		return text
	}
	writeFile(t, configPath, configWith(1)) // 10 probes/s at most: one processor
	load := func() (*config.Config, error) { return config.Load(configPath, nil, nil) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.SyncBuffer
	log, err := newLogger(&logs, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(def)
	reloaded := make(chan bool, 1)
	srv, err := newServer(cfg, load, log, serverHooks{reloaded: func(ok bool) { reloaded <- ok }})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("a server of one check at 10 probes/s started with GOMAXPROCS %d, want 1", got)
	}
	defer testkit.Run(t, "daemon", srv.run)()
	testkit.WaitForLog(t, testkit.Bound, &logs, "axprobe started") // SIGHUP is handled from here on
	reload := func(checks int) {
		t.Helper()
		writeFile(t, configPath, configWith(checks))
		hup(t)
		select {
		case ok := <-reloaded:
			if !ok {
				t.Fatalf("reload to %d checks rejected; log:\n%s", checks, logs.String())
			}
		case <-time.After(testkit.Bound):
			t.Fatalf("no reload within %v of SIGHUP; log:\n%s", testkit.Bound, logs.String())
		}
	}

	reload(11) // 110 probes/s at most: the default
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Errorf("reloaded to 110 probes/s: GOMAXPROCS %d, want the default %d; log:\n%s", got, def, logs.String())
	}
	reload(2)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("reloaded to 20 probes/s: GOMAXPROCS %d, want 1; log:\n%s", got, logs.String())
	}
}
