package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/mailtest"
	"github.com/axprobe/axprobe/internal/probe"
)

// The hostile suite's limits.
const (
	hostileTimeout  = 500 * time.Millisecond // each probe's hard deadline
	hostileOverrun  = 250 * time.Millisecond // how far past it a probe may return
	hostileRounds   = 5                      // probes of each hostile server, in parallel
	floodConns      = 2000
	floodBurst      = 200
	maxDaemonRSS    = 64 << 20
	leakTolerance   = 3 // goroutines or fds over the baseline after the settle wait
	settleLimit     = 10 * time.Second
	hostileReadyMax = 20 * time.Second
)

// hostileCase is one misbehaving server and what a probe of it must conclude.
type hostileCase struct {
	name    string
	addr    string
	spec    probe.Spec
	reasons []probe.Reason // any of these
}

// startHostiles starts every hostile server and returns the function that closes them
// all and waits for their goroutines.
func startHostiles(t *testing.T) ([]hostileCase, func()) {
	t.Helper()
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			if err := c(); err != nil {
				t.Errorf("closing a hostile server: %v", err)
			}
		}
	}
	t.Cleanup(closeAll) // on an early failure; a second close is a no-op
	certs, err := mailtest.NewCerts(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	smtp := func(f mailtest.Fault, tls mailtest.TLSMode) string {
		s, err := mailtest.StartSMTP(mailtest.Options{TLS: tls, Cert: certs})
		if err != nil {
			t.Fatal(err)
		}
		s.SetTrickleInterval(time.Second)
		s.SetFault(f)
		closers = append(closers, s.Close)
		return s.Addr()
	}
	hostile := func(b Behaviour) string {
		h, err := StartHostile(b)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, h.Close)
		return h.Addr()
	}
	httpOnSMTP, err := mailtest.StartHTTP(mailtest.Options{}, mailtest.KindWebMail)
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, httpOnSMTP.Close)

	caFile := certs.CAFile
	cases := []hostileCase{
		{name: "endless line", addr: hostile(EndlessLine), reasons: []probe.Reason{probe.ReasonBadBanner, probe.ReasonProtocol}},
		{name: "10 MB banner", addr: smtp(mailtest.FaultHugeLine, mailtest.TLSNone), reasons: []probe.Reason{probe.ReasonBadBanner, probe.ReasonProtocol}},
		{name: "one byte per second", addr: smtp(mailtest.FaultTrickle, mailtest.TLSNone), reasons: []probe.Reason{probe.ReasonTimeout}},
		{name: "TLS handshake never completes", addr: smtp(mailtest.FaultStallTLS, mailtest.TLSStartTLS), reasons: []probe.Reason{probe.ReasonTimeout}},
		{name: "RST mid-reply", addr: hostile(ResetMidReply), reasons: []probe.Reason{probe.ReasonClosed}},
		{name: "HTTP server on the SMTP port", addr: httpOnSMTP.Addr(), reasons: []probe.Reason{probe.ReasonTimeout}},
	}
	for i := range cases {
		cases[i].spec = probe.Spec{Protocol: "smtp", Address: cases[i].addr}
		if cases[i].name == "TLS handshake never completes" {
			cases[i].spec.TLS, cases[i].spec.CAFile = probe.TLSStartTLS, caFile
		}
	}
	return cases, closeAll
}

// TestHostileServers probes every hostile server in-process: each probe ends within its
// timeout with the right reason, and nothing (goroutine, file descriptor) is left behind.
func TestHostileServers(t *testing.T) {
	integration(t)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t, os.Getpid())

	var rows []string
	func() {
		cases, closeAll := startHostiles(t)
		defer closeAll()
		for _, c := range cases {
			p, err := probe.New(c.spec)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			type outcome struct {
				err  error
				took time.Duration
			}
			outs := make([]outcome, hostileRounds)
			var wg sync.WaitGroup
			for i := range outs {
				wg.Go(func() {
					start := time.Now()
					_, err := probe.Run(context.Background(), p, hostileTimeout)
					outs[i] = outcome{err, time.Since(start)}
				})
			}
			wg.Wait()
			var slowest time.Duration
			var got *probe.Error
			for _, o := range outs {
				slowest = max(slowest, o.took)
				if !errors.As(o.err, &got) {
					t.Fatalf("%s: probe returned %v, want a failure", c.name, o.err)
				}
				ok := false
				for _, r := range c.reasons {
					ok = ok || got.Reason == r
				}
				if !ok {
					t.Errorf("%s: reason %s (%v), want one of %v", c.name, got.Reason, o.err, c.reasons)
				}
			}
			if slowest > hostileTimeout+hostileOverrun {
				t.Errorf("%s: a probe took %s, over its timeout %s", c.name, slowest, hostileTimeout)
			}
			rows = append(rows, fmt.Sprintf("| %s | %s in %s | %s |", c.name, got.Reason, got.Phase, ms(slowest)))
		}
	}()
	// Everything the probes and the servers started must be gone.
	itest.WaitUntil(t, settleLimit, 50*time.Millisecond, "goroutines and fds back to the baseline", func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= goroutines+leakTolerance && openFDs(t, os.Getpid()) <= fds+leakTolerance
	})
	t.Cleanup(func() {
		writeReport(t, "hostile.md", fmt.Sprintf("Probe timeout %s; %d parallel probes of each server.\n\n"+
			"| hostile server | reason in phase | slowest probe |\n|---|---|---|\n%s\n", hostileTimeout, hostileRounds, strings.Join(rows, "\n")))
	})
}

// TestDaemonUnderHostility runs the axprobe daemon as a process with a target made of
// every hostile server and a healthy target beside it, floods its socket with 2,000
// connections in bursts (half of them never send a byte), and checks that the healthy
// target is still answered 110 during the flood, that the daemon's file descriptors come
// back to the baseline, and that its peak RSS stays under 64 MB.
func TestDaemonUnderHostility(t *testing.T) {
	integration(t)
	axprobe := itest.Binary(t, "axprobe")
	cases, _ := startHostiles(t)
	dir := itest.ShortDir(t, "axf-")
	pop3, smtp := startFake(t, mailtest.StartPOP3), startFake(t, mailtest.StartSMTP)
	pidfile := filepath.Join(dir, "axigen.pid")
	startSleeper(t, dir, pidfile)
	var hostileChecks strings.Builder
	for i, c := range cases {
		host, port, _ := net.SplitHostPort(c.addr)
		tls := "none"
		if c.spec.TLS == probe.TLSStartTLS {
			tls = "starttls\n        ca_file: " + c.spec.CAFile
		}
		fmt.Fprintf(&hostileChecks, "      - name: hostile%d\n        protocol: smtp\n        host: %s\n        port: %s\n        tls: %s\n", i, host, port, tls)
	}
	socket := filepath.Join(dir, "axprobe.sock")
	config := filepath.Join(dir, "axprobe.yaml")
	yaml := itest.DaemonConfig(socket, "", false) + fmt.Sprintf(`  - name: healthy
    vip: 127.0.0.1
%s    interval: 600ms
    fast_interval: 100ms
    timeout: %s
    checks:
      - name: smtp
        protocol: smtp
        port: %s
      - name: pop3
        protocol: pop3
        port: %s
  - name: hostile
    vip: 127.0.0.1
    require_local_vip: false
    interval: 600ms
    fast_interval: 100ms
    timeout: %s
    checks:
%s`, processGate(pidfile, "sleep"), hostileTimeout, itest.Port(smtp.Addr()), itest.Port(pop3.Addr()), hostileTimeout, hostileChecks.String())
	itest.WriteFile(t, config, yaml)
	d := itest.StartProc(t, "axprobe run", filepath.Join(dir, "axprobe.log"), axprobe, "run", "--config", config)

	// Let every hostile check fail several times over before the flood.
	itest.WaitUntil(t, hostileReadyMax, 50*time.Millisecond, "healthy 110 and every hostile check failed 5 times", func() bool {
		a, err := monitorCode(socket, "healthy", time.Second)
		if err != nil || a.Code != 110 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		js, err := ipc.Status(ctx, socket, "hostile")
		var snap daemon.Snapshot
		if err != nil || json.Unmarshal(js, &snap) != nil || len(snap.Targets) != 1 {
			return false
		}
		for _, c := range snap.Targets[0].Checks {
			if c.ConsecutiveFailures < 5 {
				return false
			}
		}
		return true
	})
	fdsBefore := openFDs(t, d.Pid())

	shimArgs := []string{"--socket", socket, "--target", "healthy", "--timeout", shimBudget.String()}
	var slowestShim time.Duration
	var busy int
	for burst := range floodConns / floodBurst {
		conns := make([]net.Conn, 0, floodBurst)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range floodBurst {
			c, err := net.DialTimeout("unix", socket, time.Second)
			if err != nil {
				continue // the backlog is full: that is the flood working
			}
			conns = append(conns, c)
			if i%2 == 0 {
				wg.Go(func() {
					_ = c.SetDeadline(time.Now().Add(3 * time.Second))
					fmt.Fprintf(c, "MONITOR healthy\n")
					line, _ := bufio.NewReader(c).ReadString('\n')
					if strings.Contains(line, "busy") {
						mu.Lock()
						busy++
						mu.Unlock()
					}
				})
			}
		}
		res := runShim(shimArgs...)
		if res.code != 110 {
			t.Errorf("burst %d: shim answered %d (%s) for the healthy target, want 110", burst+1, res.code, res.line)
		}
		slowestShim = max(slowestShim, res.took)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}
	if a, err := monitorCode(socket, "healthy", time.Second); err != nil || a.Code != 110 {
		t.Errorf("after the flood the daemon answers %+v, %v; want 110", a, err)
	}
	var fdsAfter int
	itest.WaitUntil(t, settleLimit, 50*time.Millisecond, "the daemon's fds back to the baseline", func() bool {
		fdsAfter = openFDs(t, d.Pid())
		return fdsAfter <= fdsBefore+leakTolerance
	})
	peak := rssPeak(t, d.Pid())
	if peak > maxDaemonRSS {
		t.Errorf("daemon's peak RSS %d MB, over %d MB", peak>>20, maxDaemonRSS>>20)
	}
	writeReport(t, "flood.md", fmt.Sprintf(`Daemon process probing %d hostile servers (timeout %s) beside a healthy target;
%d socket connections in bursts of %d (half silent, half MONITOR).

| measure | value |
|---|---|
| shim answer for the healthy target during every burst | 110 |
| slowest shim run during the flood | %s |
| MONITOR requests answered busy (over the 256-connection cap) | %d |
| daemon fds before / after the flood | %d / %d |
| daemon peak RSS (VmHWM) | %d MB (limit %d MB) |
`, len(cases), hostileTimeout, floodConns, floodBurst, ms(slowestShim), busy, fdsBefore, fdsAfter, peak>>20, maxDaemonRSS>>20))
}

// openFDs counts the open file descriptors of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// rssPeak returns process pid's peak resident set size (VmHWM) in bytes.
func rssPeak(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
