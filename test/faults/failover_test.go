package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The failover nodes' schedule: short, so that 100 moves fit in about a minute.
const (
	foInterval = 200 * time.Millisecond
	foFast     = 50 * time.Millisecond
	foTimeout  = 150 * time.Millisecond
	foRise     = 2
	foFall     = 3
	foMoves    = 100
	foVIP      = "10.213.0.100"
	foBasePort = 2525 // the stand-in's six ports start here; the namespaces are ours alone
)

// Bounds of a move: the old node sees its gates fail at its next gate probe; the new node
// needs the stand-in to start (it generates a certificate; foStartup), its gates to pass
// at the next fast probe, and then rise good results.
const foStartup = 500 * time.Millisecond

var (
	foBoundOffline = foInterval + foTimeout + slack
	foBoundOnline  = foStartup + foFast + foTimeout + foRise*(foInterval+foTimeout) + slack
)

// foNode is one simulated cluster node: a network namespace with a veth leg, its own
// axprobe daemon (socket and pidfile of its own, as on a real node), and, while it owns the
// service, an axigen-standin bound to the VIP.
type foNode struct {
	name, ns, link, addr string
	socket, pidfile      string
	config               string
	daemon, standin      *proc
}

func TestTwoNodeFailover(t *testing.T) {
	integration(t)
	lookTool(t, "ip")
	axprobe, standin := binary(t, "axprobe"), binary(t, "axigen-standin")
	binary(t, "axprobe-monitor")
	dir := shortDir(t)

	id := os.Getpid() % 100000
	a := &foNode{name: "A", ns: fmt.Sprintf("axf-a-%d", id), link: fmt.Sprintf("axfa%d", id), addr: "10.213.0.1/24"}
	b := &foNode{name: "B", ns: fmt.Sprintf("axf-b-%d", id), link: fmt.Sprintf("axfb%d", id), addr: "10.213.0.2/24"}
	for _, n := range []*foNode{a, b} {
		run(t, "ip", "netns", "add", n.ns)
		t.Cleanup(func() {
			if _, err := runErr("ip", "netns", "del", n.ns); err != nil {
				t.Errorf("delete namespace %s: %v", n.ns, err)
			}
		})
	}
	// One veth pair joins the namespaces: B reaches A's VIP over it (and A B's).
	run(t, "ip", "link", "add", a.link, "type", "veth", "peer", "name", b.link)
	for _, n := range []*foNode{a, b} {
		run(t, "ip", "link", "set", n.link, "netns", n.ns)
		n.exec(t, "ip", "link", "set", "lo", "up")
		n.exec(t, "ip", "addr", "add", n.addr, "dev", n.link)
		n.exec(t, "ip", "link", "set", n.link, "up")
		n.socket = filepath.Join(dir, strings.ToLower(n.name)+".sock")
		n.pidfile = filepath.Join(dir, strings.ToLower(n.name)+".pid")
		n.config = filepath.Join(dir, strings.ToLower(n.name)+".yaml")
		if err := os.WriteFile(n.config, []byte(n.configYAML()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	a.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", a.link)
	a.startStandIn(t, standin, dir)
	for _, n := range []*foNode{a, b} {
		n.daemon = startProc(t, "axprobe "+n.name, filepath.Join(dir, n.name+".log"),
			"ip", "netns", "exec", n.ns, axprobe, "run", "--config", n.config)
	}
	waitCode(t, a, 20*time.Second, "A online", online)
	waitCode(t, b, 20*time.Second, "B offline", func(c int) bool { return c == 100 })

	// B reaches the service over the veth, and still reports offline: local truth only.
	if out, err := runErr("ip", "netns", "exec", b.ns, axprobe, "probe",
		fmt.Sprintf("smtp://%s:%d", foVIP, foBasePort)); err != nil {
		t.Fatalf("node B cannot reach A's VIP over the bridge: %v\n%s", err, out)
	}
	for _, c := range []struct {
		n    *foNode
		want int
	}{{a, 110}, {b, 100}} {
		res := runShimBinary(t, c.n.ns, "--socket", c.n.socket, "--timeout", "1s")
		if res.code != c.want {
			t.Fatalf("axprobe-monitor in node %s exited %d (%s), want %d", c.n.name, res.code, res.line, c.want)
		}
	}

	// Both monitors are sampled all along; they must never both say online.
	w := startWatch(t, a, b)
	var toOffline, toOnline []time.Duration
	from, to := a, b
	for i := range foMoves {
		off, on := move(t, standin, dir, from, to)
		if off > foBoundOffline {
			t.Errorf("move %d: node %s offline %s after the stop, over the bound %s", i+1, from.name, off, foBoundOffline)
		}
		if on > foBoundOnline {
			t.Errorf("move %d: node %s online %s after the start, over the bound %s", i+1, to.name, on, foBoundOnline)
		}
		toOffline, toOnline = append(toOffline, off), append(toOnline, on)
		from, to = to, from
	}
	pairs, both := w.stop()
	if both != "" {
		t.Errorf("both nodes online at once: %s", both)
	}
	if pairs < foMoves {
		t.Errorf("only %d samples of both monitors over %d moves", pairs, foMoves)
	}
	offLo, offMed, offHi := durationStats(toOffline)
	onLo, onMed, onHi := durationStats(toOnline)
	writeReport(t, "failover.md", fmt.Sprintf(`Two nodes in network namespaces joined by a veth pair; VIP %s; axigen-standin on the VIP;
one axprobe daemon per node (interval %s, fast_interval %s, timeout %s, rise %d, fall %d).
%d moves (stop on the old node, remove the VIP, wait for its monitor to say 100 as VCS
does, add the VIP on the new node, start there). Both monitors sampled %d times: never both online.

| measure | min | median | max | bound |
|---|---|---|---|---|
| stop → old node offline (100) | %s | %s | %s | %s |
| start → new node online (101-110) | %s | %s | %s | %s |
`, foVIP, foInterval, foFast, foTimeout, foRise, foFall, foMoves, pairs,
		ms(offLo), ms(offMed), ms(offHi), ms(foBoundOffline), ms(onLo), ms(onMed), ms(onHi), ms(foBoundOnline)))
}

// move moves the service from one node to the other as VCS would and returns the time
// from the stop to the old node's offline, and from launching the stand-in on the new node
// (its start-up included) to that node's online.
func move(t *testing.T, standin, dir string, from, to *foNode) (off, on time.Duration) {
	t.Helper()
	stopped := time.Now()
	from.standin.stop(t, 5*time.Second)
	from.exec(t, "ip", "addr", "del", foVIP+"/32", "dev", from.link)
	waitCode(t, from, 10*time.Second, from.name+" offline", func(c int) bool { return c == 100 })
	off = time.Since(stopped)
	to.exec(t, "ip", "addr", "add", foVIP+"/32", "dev", to.link)
	started := time.Now()
	to.startStandIn(t, standin, dir)
	waitCode(t, to, 10*time.Second, to.name+" online", online)
	return off, time.Since(started)
}

// exec runs a command inside the node's namespace.
func (n *foNode) exec(t *testing.T, argv ...string) {
	t.Helper()
	run(t, append([]string{"ip", "netns", "exec", n.ns}, argv...)...)
}

// startStandIn starts axigen-standin on the VIP inside the node and waits for its pidfile.
func (n *foNode) startStandIn(t *testing.T, standin, dir string) {
	t.Helper()
	n.standin = startProc(t, "axigen-standin "+n.name, filepath.Join(dir, n.name+"-standin.log"),
		"ip", "netns", "exec", n.ns, standin, "--ip", foVIP, "--base-port", strconv.Itoa(foBasePort), "--pidfile", n.pidfile)
	waitUntil(t, 10*time.Second, 5*time.Millisecond, "axigen-standin's pidfile in node "+n.name, func() bool {
		_, err := os.Stat(n.pidfile)
		return err == nil
	})
}

// configYAML: banner checks of the stand-in's mail listeners on the VIP, the VIP and
// process gates.
func (n *foNode) configYAML() string {
	var checks strings.Builder
	for i, name := range []string{"smtp", "imap", "pop3"} {
		fmt.Fprintf(&checks, "      - name: %s\n        protocol: %s\n        port: %d\n", name, name, foBasePort+i)
	}
	return fmt.Sprintf(`socket: %s
http:
  listen: ""
targets:
  - name: axigen
    vip: %s
    require_local_vip: true
    process:
      pidfile: %s
      name: axigen-standin
    interval: %s
    fast_interval: %s
    timeout: %s
    degraded_after: %s
    window: 5
    rise: %d
    fall: %d
    checks:
%s`, n.socket, foVIP, n.pidfile, foInterval, foFast, foTimeout, foTimeout, foRise, foFall, checks.String())
}

// waitCode waits until the node's daemon answers a code satisfying ok and returns how long
// that took.
func waitCode(t *testing.T, n *foNode, limit time.Duration, what string, ok func(int) bool) time.Duration {
	t.Helper()
	return waitUntil(t, limit, 5*time.Millisecond, what, func() bool {
		a, err := monitorCode(n.socket, "", 200*time.Millisecond)
		return err == nil && ok(a.Code)
	})
}

// watch samples both nodes' monitors until stopped and remembers the first sample where
// both said online.
type watch struct {
	a, b  *foNode
	quit  chan struct{}
	wg    sync.WaitGroup
	pairs int
	both  string
}

func startWatch(t *testing.T, a, b *foNode) *watch {
	w := &watch{a: a, b: b, quit: make(chan struct{})}
	w.wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			ca, errA := monitorCode(a.socket, "", 200*time.Millisecond)
			cb, errB := monitorCode(b.socket, "", 200*time.Millisecond)
			if errA == nil && errB == nil {
				w.pairs++
				if online(ca.Code) && online(cb.Code) && w.both == "" {
					w.both = fmt.Sprintf("A %d (%s), B %d (%s) at %s", ca.Code, ca.Reason, cb.Code, cb.Reason, time.Now().Format(time.StampMilli))
				}
			}
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the sampling (once; later calls just return the result).
func (w *watch) stop() (pairs int, both string) {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.wg.Wait()
	return w.pairs, w.both
}
