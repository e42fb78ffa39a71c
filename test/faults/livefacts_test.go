package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
)

// lfReps is how often each local fact is broken and repaired; AXPROBE_LOCALFACTS_REPS
// overrides it (bench/run: 20, its smoke run 1).
func lfReps(t *testing.T) int {
	if v := os.Getenv("AXPROBE_LOCALFACTS_REPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			t.Fatalf("AXPROBE_LOCALFACTS_REPS=%q: want a whole number from 1 to 1000", v)
		}
		return n
	}
	return 10
}

// TestLocalFactsAnswerAtOnce breaks each local fact of one node running at the default
// schedule (interval 10s: a cached gate result would be up to ten seconds old) and checks
// that the first answer after the fact changed is 100: the Axigen process SIGKILLed (and
// reaped), the VIP deleted, the domain storage unmounted. It reports the time from the
// fault to the first 100 seen by a poller that runs throughout (goal: < 50 ms).
//
// The node is a network namespace (the VIP is ours to delete); the storage is a tmpfs
// mounted inside the daemon's own mount namespace (nsenter), as a SAN mount would be.
func TestLocalFactsAnswerAtOnce(t *testing.T) {
	integration(t)
	itest.LookTool(t, "ip")
	itest.LookTool(t, "nsenter")
	axprobe, standin := itest.Binary(t, "axprobe"), itest.Binary(t, "axigen-standin")
	dir := itest.ShortDir(t, "axf-")
	id := os.Getpid() % 10000
	n := &foNode{name: "L", ns: fmt.Sprintf("axl-%d", id), link: fmt.Sprintf("axl%d", id), addr: "10.214.0.1/24"}
	itest.Run(t, "ip", "netns", "add", n.ns)
	t.Cleanup(func() {
		if _, err := itest.RunErr("ip", "netns", "del", n.ns); err != nil {
			t.Errorf("delete namespace %s: %v", n.ns, err)
		}
	})
	n.exec(t, "ip", "link", "set", "lo", "up")
	// A veth pair with both ends inside the node holds the VIP (no dummy module here).
	n.exec(t, "ip", "link", "add", n.link, "type", "veth", "peer", "name", n.link+"p")
	n.exec(t, "ip", "link", "set", n.link, "up")
	n.exec(t, "ip", "link", "set", n.link+"p", "up")
	n.socket, n.pidfile = filepath.Join(dir, "l.sock"), filepath.Join(dir, "l.pid")
	storage := filepath.Join(dir, "domains")
	if err := os.Mkdir(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	n.config = filepath.Join(dir, "l.yaml")
	cfg := strings.Replace(n.configYAML(""), "    checks:", fmt.Sprintf("    storage:\n      path: %s\n    checks:", storage), 1)
	if err := os.WriteFile(n.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	vipAdd := func() { n.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", n.link) }
	vipAdd()
	n.startStandIn(t, standin, dir)
	n.daemon = itest.StartProc(t, "axprobe L", filepath.Join(dir, "L.log"), "ip", "netns", "exec", n.ns, axprobe, "run", "--config", n.config)
	mntNS := fmt.Sprintf("--mount=/proc/%d/ns/mnt", n.daemon.Pid())
	mount := func() {
		itest.Run(t, "nsenter", mntNS, "mount", "-t", "tmpfs", "-o", "size=1m", "axprobe-test", storage)
	}
	unmount := func() { itest.Run(t, "nsenter", mntNS, "umount", storage) }
	// The daemon's mount namespace exists once ip has exec'd axprobe: the socket says so.
	itest.WaitUntil(t, 60*time.Second, 10*time.Millisecond, "the daemon's socket", func() bool {
		_, err := os.Stat(n.socket)
		return err == nil
	})
	mount()
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_, _ = itest.RunErr("nsenter", mntNS, "umount", "-l", storage)
		}
	})
	waitCode(t, n, 60*time.Second, "online", online)

	facts := []struct {
		name          string
		break_, mend  func()
		byItsOwnClock bool // the fault is a signal: time it from the kill, not from the command's return
	}{
		{name: "Axigen process SIGKILLed", byItsOwnClock: true,
			break_: func() { n.standin.Signal(syscall.SIGKILL); n.standin.Wait(t, 10*time.Second) },
			mend:   func() { n.startStandIn(t, standin, dir) }},
		{name: "VIP deleted",
			break_: func() { n.exec(t, "ip", "addr", "del", foVIP+"/32", "dev", n.link) },
			mend:   vipAdd},
		{name: "domain storage unmounted",
			break_: func() { unmount(); mounted = false },
			mend:   func() { mount(); mounted = true }},
	}
	var rows strings.Builder
	reps := lfReps(t)
	for _, f := range facts {
		var took []time.Duration
		for i := range reps {
			first := make(chan time.Duration, 1)
			start := make(chan time.Time, 1)
			go func() { // polls all along: the first 100 after the fault
				t0 := <-start
				for time.Since(t0) < 30*time.Second {
					if a, err := monitorCode(n.socket, "", time.Second); err == nil && a.Code == 100 {
						first <- time.Since(t0)
						return
					}
				}
				first <- -1
			}()
			faultAt := time.Now()
			if f.byItsOwnClock {
				start <- faultAt
			}
			f.break_()
			if !f.byItsOwnClock {
				start <- time.Now() // the fact is certainly broken once the command returned
			}
			// The very next answer after the fault is complete must be 100.
			a, err := monitorCode(n.socket, "", 5*time.Second)
			if err != nil || a.Code != 100 {
				t.Errorf("%s, try %d: the first answer after it was %+v (%v), want 100", f.name, i+1, a, err)
			}
			d := <-first
			if d < 0 {
				t.Fatalf("%s, try %d: no 100 within 30 s", f.name, i+1)
			}
			took = append(took, d)
			f.mend()
			waitCode(t, n, 60*time.Second, "online after repairing: "+f.name, online)
		}
		lo, med, hi := durationStats(took)
		fmt.Fprintf(&rows, "| %s | %s | %s | %s |\n", f.name, us(lo), us(med), us(hi))
	}
	writeReport(t, "local-facts.md", `One node (network namespace, a veth end holding VIP `+foVIP+`), axigen-standin on
the VIP, storage a tmpfs mounted in the daemon's mount namespace; the daemon at the default
schedule (interval 10s, fast_interval 1s, timeout 3s). Each fact broken `+strconv.Itoa(reps)+` times;
a poller asks the daemon's socket all along. "fault → first 100": from the kill signal, or
from the return of the ip/umount command.

| local fact | fault → first 100, min | median | max |
|---|---|---|---|
`+rows.String())
}
