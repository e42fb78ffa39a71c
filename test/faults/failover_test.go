package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
)

// The orderly case's schedule: short, so that its moves fit in well under a minute. The
// one-step case runs at the default config (interval 10s, fast_interval 1s, timeout 3s,
// rise 2, fall 7): what a new user gets.
var foSchedule = schedule{interval: 200 * time.Millisecond, fast: 50 * time.Millisecond, timeout: 150 * time.Millisecond, rise: 2, fall: 3}

const (
	foMoves    = 50
	foVIP      = "10.213.0.100"
	foBasePort = 2525 // the stand-in's six ports start here; the namespaces are ours alone
)

// Bounds of an orderly move: the old node answers 100 at once after the stop (live facts),
// but the bound keeps the scheduled gate's: the stand-in's own exit after SIGTERM is part
// of the measure and takes time on a loaded CI machine. The new node needs the stand-in to
// start (it generates a certificate; foStartup), its gates to pass (a timeout), and then
// rise good results.
const foStartup = 500 * time.Millisecond

var (
	foBoundOffline = foSchedule.gateBound()
	foBoundOnline  = foStartup + foSchedule.timeout + foSchedule.recoverBound()
	// foBoundVIPGone is the goal for "the old node answers 100 after losing the VIP"; the
	// answer reads the VIP at the moment it is given, so it is the first answer.
	foBoundVIPGone = 50 * time.Millisecond
)

// foNode is one simulated cluster node: a network namespace with a veth leg, its own
// axprobe daemon (socket and pidfile of its own, as on a real node), and, while it owns the
// service, an axigen-standin bound to the VIP.
type foNode struct {
	name, ns, link, addr string
	socket, pidfile      string
	config               string
	daemon, standin      *itest.Proc
}

// TestTwoNodeFailover moves the service between two nodes, both monitors sampled all
// along through the axprobe-monitor binary, and fails on any sample pair where both say
// online (a VCS concurrency violation).
//
// The one-step case is the one that breaks a cached answer: the old node's VIP is removed
// and its Axigen killed, and the new node takes the VIP and starts, all without waiting
// for the old node to notice — a takeover after a crash, or a fast manual switch. The
// orderly case stops the old node and waits for its 100 first, as VCS does.
func TestTwoNodeFailover(t *testing.T) {
	integration(t)
	itest.LookTool(t, "ip")
	t.Run("one-step-default-schedule", func(t *testing.T) {
		runFailover(t, "o", "", foMoves, true)
	})
	t.Run("orderly-short-schedule", func(t *testing.T) {
		runFailover(t, "s", foSchedule.yaml(), foMoves, false)
	})
}

func runFailover(t *testing.T, tag, schedule string, moves int, oneStep bool) {
	axprobe, standin := itest.Binary(t, "axprobe"), itest.Binary(t, "axigen-standin")
	itest.Binary(t, "axprobe-monitor")
	dir := itest.ShortDir(t, "axf-")

	id := os.Getpid() % 10000
	a := &foNode{name: "A", ns: fmt.Sprintf("axf%s-a-%d", tag, id), link: fmt.Sprintf("ax%sa%d", tag, id), addr: "10.213.0.1/24"}
	b := &foNode{name: "B", ns: fmt.Sprintf("axf%s-b-%d", tag, id), link: fmt.Sprintf("ax%sb%d", tag, id), addr: "10.213.0.2/24"}
	a.addNetns(t)
	b.addNetns(t)
	// One veth pair joins the namespaces: B reaches A's VIP over it (and A B's).
	itest.Run(t, "ip", "link", "add", a.link, "type", "veth", "peer", "name", b.link)
	for _, n := range []*foNode{a, b} {
		itest.Run(t, "ip", "link", "set", n.link, "netns", n.ns)
		n.exec(t, "ip", "addr", "add", n.addr, "dev", n.link)
		n.exec(t, "ip", "link", "set", n.link, "up")
		n.socket = filepath.Join(dir, strings.ToLower(n.name)+".sock")
		n.pidfile = filepath.Join(dir, strings.ToLower(n.name)+".pid")
		n.config = filepath.Join(dir, strings.ToLower(n.name)+".yaml")
		itest.WriteFile(t, n.config, n.configYAML(schedule))
	}

	a.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", a.link)
	a.startStandIn(t, standin, dir)
	for _, n := range []*foNode{a, b} {
		n.daemon = itest.StartProc(t, "axprobe "+n.name, filepath.Join(dir, n.name+".log"),
			"ip", "netns", "exec", n.ns, axprobe, "run", "--config", n.config)
	}
	waitCode(t, a, 60*time.Second, "A online", online)
	waitCode(t, b, 60*time.Second, "B offline", func(c int) bool { return c == 100 })

	// B reaches the service over the veth, and still reports offline: local truth only.
	if out, err := itest.RunErr("ip", "netns", "exec", b.ns, axprobe, "probe",
		fmt.Sprintf("smtp://%s:%d", foVIP, foBasePort)); err != nil {
		t.Fatalf("node B cannot reach A's VIP over the bridge: %v\n%s", err, out)
	}
	for _, c := range []struct {
		n    *foNode
		want int
	}{{a, 110}, {b, 100}} {
		res := shimBinary(itest.Binary(t, "axprobe-monitor"), c.n.ns, "--socket", c.n.socket, "--timeout", "1s")
		if res.code != c.want {
			t.Fatalf("axprobe-monitor in node %s exited %d (%s), want %d", c.n.name, res.code, res.line, c.want)
		}
	}

	// Both monitors are sampled all along; they must never both say online.
	w := startWatch(t, a, b)
	var toOffline, toOnline []time.Duration
	from, to := a, b
	for i := range moves {
		var off, on time.Duration
		if oneStep {
			off, on = moveOneStep(t, standin, dir, from, to)
			if off > foBoundVIPGone {
				t.Logf("move %d: node %s answered 100 %s after losing the VIP, over the goal %s", i+1, from.name, off, foBoundVIPGone)
			}
		} else {
			off, on = move(t, standin, dir, from, to)
			if off > foBoundOffline {
				t.Errorf("move %d: node %s offline %s after the stop, over the bound %s", i+1, from.name, off, foBoundOffline)
			}
			if on > foBoundOnline {
				t.Errorf("move %d: node %s online %s after the start, over the bound %s", i+1, to.name, on, foBoundOnline)
			}
		}
		toOffline, toOnline = append(toOffline, off), append(toOnline, on)
		from, to = to, from
	}
	shimPairs, pairs, bothPairs, both := w.stop()
	if both != "" {
		t.Errorf("both nodes online at once in %d sample pairs; the first: %s", bothPairs, both)
	}
	if shimPairs < moves || pairs < 10*moves {
		t.Errorf("only %d axprobe-monitor and %d socket sample pairs over %d moves", shimPairs, pairs, moves)
	}
	offLo, offMed, offHi := durationStats(toOffline)
	onLo, onMed, onHi := durationStats(toOnline)
	if oneStep {
		writeReport(t, "failover-one-step.md", fmt.Sprintf(`Two nodes in network namespaces joined by a veth pair; VIP %s; axigen-standin on the VIP;
one axprobe daemon per node at the default schedule (interval 10s, fast_interval 1s, timeout 3s,
rise 2, fall 7). %d one-step moves: remove the VIP on the old node, SIGKILL its stand-in, add the
VIP on the new node and start the stand-in there, without waiting for the old node. Both nodes
sampled all along, %d pairs through the axprobe-monitor binaries and %d pairs over the sockets;
pairs where both said online: %d.

| measure | min | median | max | goal |
|---|---|---|---|---|
| VIP removed → old node's first answer of 100 | %s | %s | %s | %s |
| stand-in started → new node online (101-110) | %s | %s | %s | — |
`, foVIP, moves, shimPairs, pairs, bothPairs, us(offLo), us(offMed), us(offHi), ms(foBoundVIPGone), ms(onLo), ms(onMed), ms(onHi)))
		return
	}
	writeReport(t, "failover.md", fmt.Sprintf(`Two nodes in network namespaces joined by a veth pair; VIP %s; axigen-standin on the VIP;
one axprobe daemon per node (%s).
%d moves (stop on the old node, remove the VIP, wait for its monitor to say 100 as VCS
does, add the VIP on the new node, start there). Both nodes sampled all along, %d pairs through
the axprobe-monitor binaries and %d over the sockets; pairs where both said online: %d.

| measure | min | median | max | bound |
|---|---|---|---|---|
| stop → old node offline (100) | %s | %s | %s | %s |
| start → new node online (101-110) | %s | %s | %s | %s |
`, foVIP, foSchedule, moves, shimPairs, pairs, bothPairs,
		ms(offLo), ms(offMed), ms(offHi), ms(foBoundOffline), ms(onLo), ms(onMed), ms(onHi), ms(foBoundOnline)))
}

// move moves the service from one node to the other as VCS would and returns the time
// from the stop to the old node's offline, and from launching the stand-in on the new node
// (its start-up included) to that node's online.
func move(t *testing.T, standin, dir string, from, to *foNode) (off, on time.Duration) {
	t.Helper()
	stopped := time.Now()
	from.standin.Stop(t, 5*time.Second)
	from.exec(t, "ip", "addr", "del", foVIP+"/32", "dev", from.link)
	waitCode(t, from, 10*time.Second, from.name+" offline", func(c int) bool { return c == 100 })
	off = time.Since(stopped)
	to.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", to.link)
	started := time.Now()
	to.startStandIn(t, standin, dir)
	waitCode(t, to, 10*time.Second, to.name+" online", online)
	return off, time.Since(started)
}

// moveOneStep moves the service in one step: the VIP leaves the old node and its stand-in
// is killed, the new node takes the VIP and starts, nobody waiting for the old node. It
// returns the time from the VIP's removal (the `ip addr del` returned) to the old node's
// first answer of 100, and from the new stand-in's launch to the new node's online. The
// next move starts only once the new node is online.
func moveOneStep(t *testing.T, standin, dir string, from, to *foNode) (off, on time.Duration) {
	t.Helper()
	from.exec(t, "ip", "addr", "del", foVIP+"/32", "dev", from.link)
	gone := time.Now()
	offline := make(chan time.Duration, 1)
	go func() { // the old node's answer, from the moment its VIP is gone
		for time.Since(gone) < 10*time.Second {
			if a, err := monitorCode(from.socket, "", time.Second); err == nil && a.Code == 100 {
				offline <- time.Since(gone)
				return
			}
		}
		offline <- -1
	}()
	// The VIP is gone: the old node's very next answer must say so.
	if a, err := monitorCode(from.socket, "", 5*time.Second); err != nil || a.Code != 100 {
		t.Errorf("node %s answered %+v (%v) right after losing the VIP, want 100", from.name, a, err)
	}
	from.standin.Signal(syscall.SIGKILL)
	to.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", to.link)
	started := time.Now()
	from.standin.Wait(t, 5*time.Second)
	to.startStandIn(t, standin, dir)
	off = <-offline
	if off < 0 {
		t.Fatalf("node %s still not offline 10 s after losing the VIP", from.name)
	}
	waitCode(t, to, 60*time.Second, to.name+" online", online)
	return off, time.Since(started)
}

// addNetns creates the node's network namespace, with its loopback up; it is deleted when
// t ends.
func (n *foNode) addNetns(t *testing.T) {
	t.Helper()
	itest.Run(t, "ip", "netns", "add", n.ns)
	t.Cleanup(func() {
		if _, err := itest.RunErr("ip", "netns", "del", n.ns); err != nil {
			t.Errorf("delete namespace %s: %v", n.ns, err)
		}
	})
	n.exec(t, "ip", "link", "set", "lo", "up")
}

// exec runs a command inside the node's namespace.
func (n *foNode) exec(t *testing.T, argv ...string) {
	t.Helper()
	itest.Run(t, append([]string{"ip", "netns", "exec", n.ns}, argv...)...)
}

// startStandIn starts axigen-standin on the VIP inside the node and waits for its pidfile.
func (n *foNode) startStandIn(t *testing.T, standin, dir string) {
	t.Helper()
	n.standin = itest.StartProc(t, "axigen-standin "+n.name, filepath.Join(dir, n.name+"-standin.log"),
		"ip", "netns", "exec", n.ns, standin, "--ip", foVIP, "--base-port", strconv.Itoa(foBasePort), "--pidfile", n.pidfile)
	itest.WaitUntil(t, 10*time.Second, 5*time.Millisecond, "axigen-standin's pidfile in node "+n.name, func() bool {
		_, err := os.Stat(n.pidfile)
		return err == nil
	})
}

// configYAML: banner checks of the stand-in's mail listeners on the VIP, the VIP and
// process gates, and the schedule keys given ("" for the defaults).
func (n *foNode) configYAML(schedule string) string {
	var checks strings.Builder
	for i, name := range []string{"smtp", "imap", "pop3"} {
		fmt.Fprintf(&checks, "      - name: %s\n        protocol: %s\n        port: %d\n", name, name, foBasePort+i)
	}
	return itest.DaemonConfig(n.socket, "", false) + fmt.Sprintf(`  - name: axigen
    vip: %s
    require_local_vip: true
%s%s    checks:
%s`, foVIP, processGate(n.pidfile, "axigen-standin"), schedule, checks.String())
}

// waitCode waits until the node's daemon answers a code satisfying ok and returns how long
// that took.
func waitCode(t *testing.T, n *foNode, limit time.Duration, what string, ok func(int) bool) time.Duration {
	t.Helper()
	return itest.WaitUntil(t, limit, 5*time.Millisecond, what, func() bool {
		a, err := monitorCode(n.socket, "", 200*time.Millisecond)
		return err == nil && ok(a.Code)
	})
}

// watch samples both nodes until stopped, two ways at once: the axprobe-monitor binaries
// in their namespaces (what VCS runs; a few pairs a second on a loaded machine) and the
// daemons' sockets directly (the same answers, hundreds of pairs a second). It remembers
// the first pair where both said online.
type watch struct {
	quit chan struct{}
	wg   sync.WaitGroup

	mu               sync.Mutex
	shimPairs, pairs int
	bothPairs        int    // pairs where both said online
	both             string // the first of them
}

func startWatch(t *testing.T, a, b *foNode) *watch {
	w := &watch{quit: make(chan struct{})}
	shimBin := itest.Binary(t, "axprobe-monitor")
	w.sample(func() (int, int, string, bool) {
		ca, cb := a.shim(shimBin), b.shim(shimBin)
		return ca.code, cb.code, fmt.Sprintf("axprobe-monitor: A %d (%s), B %d (%s)", ca.code, ca.line, cb.code, cb.line), true
	})
	w.sample(func() (int, int, string, bool) {
		ca, errA := monitorCode(a.socket, "", time.Second)
		cb, errB := monitorCode(b.socket, "", time.Second)
		if errA != nil || errB != nil {
			return 0, 0, "", false
		}
		return ca.Code, cb.Code, fmt.Sprintf("socket: A %d (%s), B %d (%s)", ca.Code, ca.Reason, cb.Code, cb.Reason), false
	})
	t.Cleanup(func() { w.stop() })
	return w
}

// sample runs take in a loop until stop; take returns both codes, a description, and
// whether it was a shim pair (ok=false codes are not counted).
func (w *watch) sample(take func() (a, b int, what string, shim bool)) {
	w.wg.Go(func() {
		for {
			ca, cb, what, shim := take()
			w.mu.Lock()
			if what != "" {
				if shim {
					w.shimPairs++
				} else {
					w.pairs++
				}
				if online(ca) && online(cb) {
					w.bothPairs++
					if w.both == "" {
						w.both = what + " at " + time.Now().Format(time.StampMilli)
					}
				}
			}
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-time.After(time.Millisecond): // pace, so the sampler leaves CPU to the daemons
			}
		}
	})
}

// stop ends the sampling (once; later calls just return the result).
func (w *watch) stop() (shimPairs, pairs, bothPairs int, both string) {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.shimPairs, w.pairs, w.bothPairs, w.both
}

// shim runs axprobe-monitor in node n's namespace, as VCS would there.
func (n *foNode) shim(bin string) shimResult {
	return shimBinary(bin, n.ns, "--socket", n.socket, "--timeout", "1s")
}

// us formats a duration in microseconds for the tables.
func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + " µs" }

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
	n.addNetns(t)
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
	itest.WriteFile(t, n.config, cfg)
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
