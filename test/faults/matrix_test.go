package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/itest"
	"github.com/axprobe/axprobe/internal/realserver"
)

// The matrix daemon's schedule. The bounds below follow from it.
var mxSchedule = schedule{interval: 500 * time.Millisecond, fast: 100 * time.Millisecond, timeout: 400 * time.Millisecond, rise: 2, fall: 3}

const shimBudget = time.Second // the shim's --timeout

// Documented bounds (docs/RELIABILITY.md).
var (
	boundGate    = mxSchedule.gateBound()
	boundCheck   = mxSchedule.checkBound()
	boundRecover = mxSchedule.recoverBound()
	// The shim answers from its fallback at once when the socket is gone, and after half
	// its budget when the daemon hangs; the hard limit is the budget plus 250 ms.
	boundFallback = shimSampleEvery + shimBudget + 250*time.Millisecond + slack
	// A restarted daemon answers for itself after its first full round.
	boundRestart = 2*mxSchedule.interval + mxSchedule.timeout + slack
)

// mxEnv is one fault case's world: real servers, a stand-in Axigen process, a tmpfs as
// domain storage, optionally a VIP on an interface of its own and a delay proxy in front of IMAP,
// the axprobe daemon as a process, and a recorder sampling its socket and the shim.
type mxEnv struct {
	t       *testing.T
	dir     string
	srv     *realserver.Servers
	ca      *faultCA
	pidfile string
	standin *itest.Proc
	storage string
	vip     string
	vipLink string
	proxy   *Proxy
	config  string
	socket  string
	daemon  *itest.Proc
	rec     *recorder
	axprobe string

	dovecotArgv []string    // Dovecot's command line, kept by killDovecot
	dovecot     *itest.Proc // Dovecot relaunched by the kill fault's recovery
	origCert    []byte      // the certificate swapCert replaced
	origUsers   []byte      // the passwd-file breakAuth changed
}

type mxCase struct {
	name     string
	want     int            // the code the shim must reach
	reason   *regexp.Regexp // the daemon's reason at that point (nil: the daemon cannot answer)
	fallback bool           // the shim answers from its direct check
	bound    time.Duration
	vip      bool // put the VIP on an interface of its own (else 127.0.0.1 on lo)
	proxy    bool // probe IMAP through the delay proxy
	inject   func(e *mxEnv)
	remove   func(e *mxEnv)
}

type mxRow struct {
	name, want, reason, codesShim, codesDaemon string
	detect, recover                            time.Duration
	detectBound, recoverBound                  time.Duration
	maxShim                                    time.Duration
}

func TestFaultMatrix(t *testing.T) {
	integration(t)
	itest.LookTool(t, "ip")
	itest.LookTool(t, "mount")
	axprobe := itest.Binary(t, "axprobe")
	itest.Binary(t, "axprobe-monitor")

	var mu sync.Mutex
	var rows []mxRow
	t.Cleanup(func() {
		if len(rows) > 0 {
			writeReport(t, "matrix.md", matrixTable(rows))
		}
	})

	for _, c := range matrixCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newMxEnv(t, axprobe, c)
			row := runCase(e, c)
			mu.Lock()
			rows = append(rows, row)
			mu.Unlock()
		})
	}
}

func matrixCases() []mxCase {
	offline := func(name, reason string, bound time.Duration, inject, remove func(*mxEnv)) mxCase {
		return mxCase{name: name, want: 100, reason: regexp.MustCompile(reason), bound: bound, inject: inject, remove: remove}
	}
	cases := []mxCase{
		offline("dovecot killed (refused)", `(imap|pop3): \d+ consecutive failures \(refused`, boundCheck,
			func(e *mxEnv) { e.killDovecot() }, func(e *mxEnv) { e.relaunchDovecot() }),
		offline("dovecot stopped (SIGSTOP: accepts, never answers)", `(imap|pop3|smtp): \d+ consecutive failures \(timeout in (banner|ehlo)`, boundCheck,
			func(e *mxEnv) { e.must(e.srv.Dovecot.Pause()) }, func(e *mxEnv) { e.must(e.srv.Dovecot.Resume()) }),
		offline("imap slowed 600 ms per chunk (delay proxy)", `imap: \d+ consecutive failures \(timeout`, boundCheck,
			func(e *mxEnv) { e.proxy.SetDelay(600 * time.Millisecond) }, func(e *mxEnv) { e.proxy.SetDelay(0) }),
		offline("certificate expired", `(imap|pop3|smtp): \d+ consecutive failures \(cert in (starttls|stls|tls)`, boundCheck,
			func(e *mxEnv) { e.swapCert(false) }, func(e *mxEnv) { e.restoreCert() }),
		offline("certificate for another name", `(imap|pop3|smtp): \d+ consecutive failures \(cert in (starttls|stls|tls)`, boundCheck,
			func(e *mxEnv) { e.swapCert(true) }, func(e *mxEnv) { e.restoreCert() }),
		// Dovecot delays a failed login by auth_failure_delay (2 s), longer than the probe's
		// timeout: the failure shows as a timeout in the login phase.
		offline("authentication broken (password changed)", `(imap|pop3|smtp): \d+ consecutive failures \((auth|timeout) in (login|auth)`, boundCheck,
			func(e *mxEnv) { e.breakAuth() }, func(e *mxEnv) { e.restoreAuth() }),
		offline("domain storage read-only", `storage`, boundGate,
			func(e *mxEnv) { itest.Run(e.t, "mount", "-o", "remount,ro", e.storage) },
			func(e *mxEnv) { itest.Run(e.t, "mount", "-o", "remount,rw", e.storage) }),
		offline("domain storage full", `storage`, boundGate,
			func(e *mxEnv) { e.fillStorage() }, func(e *mxEnv) { e.must(os.Remove(filepath.Join(e.storage, "fill"))) }),
		offline("VIP removed from the interface", `vip`, boundGate,
			func(e *mxEnv) { itest.Run(e.t, "ip", "addr", "del", e.vip+"/32", "dev", e.vipLink) },
			func(e *mxEnv) { itest.Run(e.t, "ip", "addr", "add", e.vip+"/32", "dev", e.vipLink) }),
		offline("Axigen process gone, listeners still answer", `process`, boundGate,
			func(e *mxEnv) { e.standin.Signal(syscall.SIGKILL); e.standin.Wait(e.t, 5*time.Second) },
			func(e *mxEnv) { e.startStandIn() }),
		{name: "daemon killed -9, node healthy", want: 110, fallback: true, bound: boundFallback,
			inject: func(e *mxEnv) { e.killDaemon() }, remove: func(e *mxEnv) { e.startDaemon() }},
		{name: "daemon killed -9, Axigen process gone", want: 100, fallback: true, bound: boundFallback,
			inject: func(e *mxEnv) {
				e.killDaemon()
				e.standin.Signal(syscall.SIGKILL)
				e.standin.Wait(e.t, 5*time.Second)
			},
			remove: func(e *mxEnv) { e.startStandIn(); e.startDaemon() }},
		{name: "daemon frozen (SIGSTOP)", want: 110, fallback: true, bound: boundFallback,
			inject: func(e *mxEnv) { e.daemon.Signal(syscall.SIGSTOP) }, remove: func(e *mxEnv) { e.daemon.Signal(syscall.SIGCONT) }},
		// A running daemon recreates its deleted socket within a second (internal/ipc,
		// CheckEvery), often before a shim sample could see it gone; frozen, it cannot, so
		// the shim meets a missing socket (and falls back at once, not after half its budget
		// as for a frozen daemon alone). The repair is the daemon resuming: it recreates the
		// socket and answers on it again.
		{name: "socket file deleted, daemon frozen", want: 110, fallback: true, bound: boundFallback,
			inject: func(e *mxEnv) { e.daemon.Signal(syscall.SIGSTOP); e.must(os.Remove(e.socket)) },
			remove: func(e *mxEnv) { e.daemon.Signal(syscall.SIGCONT) }},
	}
	for i := range cases {
		switch {
		case strings.HasPrefix(cases[i].name, "VIP"):
			cases[i].vip = true
		case strings.HasPrefix(cases[i].name, "imap slowed"):
			cases[i].proxy = true
		}
	}
	return cases
}

// runCase injects the fault, waits for the shim (and the daemon, when it can answer) to
// give the expected code, removes the fault and waits for the target to be back online.
func runCase(e *mxEnv, c mxCase) mxRow {
	t := e.t
	start := time.Now()
	c.inject(e)
	injected := time.Now()
	got := e.rec.waitShim(t, injected, c.bound+time.Second, fmt.Sprintf("code %d", c.want), func(s sample) bool {
		return s.code == c.want && s.fellBack() == c.fallback
	})
	detect := got.at.Sub(injected)
	if detect > c.bound {
		t.Errorf("shim reached %d after %s, over the bound %s", c.want, detect, c.bound)
	}
	reason := "daemon unavailable → " + strings.TrimPrefix(directDetail(got.line), "direct check: ")
	if c.reason != nil {
		d := e.rec.waitDaemon(t, injected, c.bound+time.Second, "offline", func(s sample) bool { return s.code == 100 })
		reason = strings.TrimPrefix(d.line, "offline ")
		if !c.reason.MatchString(reason) {
			t.Errorf("daemon's reason %q does not match %q", reason, c.reason)
		}
	}
	// The real shim binary agrees with the in-process one.
	if res := shimBinary(itest.Binary(t, "axprobe-monitor"), "", e.shimArgs()...); res.code != c.want {
		t.Errorf("axprobe-monitor exited %d (%s), want %d", res.code, res.line, c.want)
	}

	c.remove(e)
	removed := time.Now()
	back := e.rec.waitShim(t, removed, boundRecover+boundRestart, "online from the daemon", func(s sample) bool {
		return online(s.code) && !s.fellBack()
	})
	recover := back.at.Sub(removed)
	recoverBound := boundRecover
	if c.fallback {
		recoverBound = boundRestart
	}
	if recover > recoverBound {
		t.Errorf("back online after %s, over the bound %s", recover, recoverBound)
	}
	e.rec.waitDaemon(t, removed, boundRecover+boundRestart, "online", func(s sample) bool { return online(s.code) })
	end := time.Now()

	// A healthy node must never be reported offline while only the daemon is in trouble.
	seq := e.rec.sequence(true, start, end)
	if c.want == 110 && strings.Contains(seq, "100") {
		t.Errorf("shim reported offline during %q on a healthy node: %s", c.name, seq)
	}
	maxShim := e.rec.maxShimTook()
	if limit := shimBudget + 250*time.Millisecond + slack/2; maxShim > limit {
		t.Errorf("a shim run took %s, over its budget %s plus margin", maxShim, shimBudget)
	}
	return mxRow{name: c.name, want: strconv.Itoa(c.want), reason: reason,
		codesShim: seq, codesDaemon: e.rec.sequence(false, start, end),
		detect: detect, recover: recover, detectBound: c.bound, recoverBound: recoverBound, maxShim: maxShim}
}

// directDetail extracts the shim's direct-check finding from its answer line.
func directDetail(line string) string {
	if i := strings.Index(line, "direct check: "); i >= 0 {
		return strings.TrimSuffix(line[i:], `"`)
	}
	return line
}

func newMxEnv(t *testing.T, axprobe string, c mxCase) *mxEnv {
	e := &mxEnv{t: t, dir: itest.ShortDir(t, "axf-"), vip: "127.0.0.1"}
	e.srv = realserver.Start(t, realserver.Options{})
	var err error
	if e.ca, err = newFaultCA(); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(e.dir, "ca.pem")
	realCA, err := os.ReadFile(e.srv.CAFile)
	e.must(err)
	e.must(os.WriteFile(caFile, append(realCA, e.ca.pem...), 0o644))
	pwFile := filepath.Join(e.dir, "probe.pw")
	e.must(os.WriteFile(pwFile, []byte(e.srv.Password.Reveal()+"\n"), 0o600))

	e.pidfile = filepath.Join(e.dir, "axigen.pid")
	e.startStandIn()

	e.storage = filepath.Join(e.dir, "storage")
	e.must(os.Mkdir(e.storage, 0o755))
	itest.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", e.storage)
	t.Cleanup(func() {
		if _, err := itest.RunErr("umount", "-l", e.storage); err != nil {
			t.Errorf("unmount %s: %v", e.storage, err)
		}
	})

	if c.vip {
		e.vipLink = fmt.Sprintf("axfv%d", os.Getpid()%100000)
		e.vip = "127.213.0.1"
		// A bridge with no ports is an interface that only holds addresses: this kernel
		// has no dummy driver.
		itest.Run(t, "ip", "link", "add", e.vipLink, "type", "bridge")
		t.Cleanup(func() {
			if _, err := itest.RunErr("ip", "link", "del", e.vipLink); err != nil {
				t.Errorf("delete %s: %v", e.vipLink, err)
			}
		})
		itest.Run(t, "ip", "addr", "add", e.vip+"/32", "dev", e.vipLink)
		itest.Run(t, "ip", "link", "set", e.vipLink, "up")
	}
	imap := e.srv.IMAP
	if c.proxy {
		e.proxy, err = StartProxy(ProxyOptions{Backend: e.srv.IMAP})
		e.must(err)
		t.Cleanup(func() { e.proxy.Close() })
		imap = e.proxy.Addr()
	}

	e.socket = filepath.Join(e.dir, "run", "axprobe.sock")
	e.config = filepath.Join(e.dir, "axprobe.yaml")
	itest.WriteFile(t, e.config, e.configYAML(caFile, pwFile, imap))
	e.axprobe = axprobe
	e.startDaemon()
	e.rec = startRecorder(t, e.socket, "axigen", e.shimArgs())
	e.rec.waitShim(t, time.Time{}, 20*time.Second, "110 from the daemon before the fault", func(s sample) bool {
		return s.code == 110 && !s.fellBack()
	})
	return e
}

func (e *mxEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *mxEnv) shimArgs() []string {
	return []string{"--socket", e.socket, "--target", "axigen", "--timeout", shimBudget.String()}
}

// configYAML is the daemon's config: every real listener, critical mail checks with
// STARTTLS and login, and the three gates.
func (e *mxEnv) configYAML(caFile, pwFile, imap string) string {
	mail := func(name, proto, addr string) string {
		return fmt.Sprintf(`      - name: %s
        protocol: %s
        host: 127.0.0.1
        port: %s
        tls: starttls
        ca_file: %s
        server_name: localhost
        auth:
          username: %s
          password_file: %s
`, name, proto, itest.Port(addr), caFile, e.srv.User, pwFile)
	}
	return itest.DaemonConfig(e.socket, "", true) + fmt.Sprintf(`  - name: axigen
    vip: %s
    require_local_vip: true
%s    storage:
      path: %s
      require_mount: true
    cert_warn_before: 1h
%s    checks:
%s%s%s      - name: webmail
        protocol: http
        host: 127.0.0.1
        port: %s
        expect_status: 200
        critical: false
        weight: 0.5
`, e.vip, processGate(e.pidfile, "sleep"), e.storage, mxSchedule.yaml(),
		mail("smtp", "smtp", e.srv.SMTP), mail("imap", "imap", imap),
		mail("pop3", "pop3", e.srv.POP3), itest.Port(e.srv.HTTP))
}

func (e *mxEnv) startDaemon() {
	e.daemon = itest.StartProc(e.t, "axprobe run", filepath.Join(e.dir, "axprobe.log"), e.axprobe, "run", "--config", e.config)
}

func (e *mxEnv) killDaemon() {
	e.daemon.Signal(syscall.SIGKILL)
	e.daemon.Wait(e.t, 5*time.Second)
}

// startStandIn starts a process playing Axigen for the process gate and writes its pid.
func (e *mxEnv) startStandIn() {
	e.standin = startSleeper(e.t, e.dir, e.pidfile)
}

// killDovecot kills Dovecot's whole process group, remembering its command line so that
// relaunchDovecot can start it again on the same ports.
func (e *mxEnv) killDovecot() {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", e.srv.Dovecot.Pgid()))
	e.must(err)
	e.dovecotArgv = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	e.must(e.srv.Dovecot.Kill(10 * time.Second))
}

func (e *mxEnv) relaunchDovecot() {
	e.dovecot = itest.StartProc(e.t, "dovecot (relaunched)", filepath.Join(e.dir, "dovecot.log"), e.dovecotArgv...)
}

// swapCert replaces the servers' certificate with one the fault CA signed, expired or
// for another name, and makes Dovecot and Postfix reload it.
func (e *mxEnv) swapCert(wrongName bool) {
	certFile, keyFile := e.srv.CertFile, e.srv.KeyFile
	orig, err := os.ReadFile(certFile)
	e.must(err)
	e.origCert = orig
	now := time.Now()
	names, from, until := []string{"localhost"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	if wrongName {
		names, from, until = []string{"wrong.example.test"}, now.Add(-time.Hour), now.Add(24*time.Hour)
	}
	bad, err := e.ca.leaf(keyFile, names, from, until)
	e.must(err)
	e.must(os.WriteFile(certFile, bad, 0o644))
	e.reloadTLS()
}

func (e *mxEnv) restoreCert() {
	e.must(os.WriteFile(e.srv.CertFile, e.origCert, 0o644))
	e.reloadTLS()
}

// reloadTLS makes Dovecot and Postfix read their certificate again (SIGHUP to the
// masters: new connections get the new one).
func (e *mxEnv) reloadTLS() {
	e.must(syscall.Kill(e.srv.Dovecot.Pgid(), syscall.SIGHUP))
	e.must(syscall.Kill(e.srv.Postfix.Pgid(), syscall.SIGHUP))
}

// breakAuth changes the test user's password in Dovecot's passwd-file (which Dovecot
// re-reads when it changes); restoreAuth puts the original back.
func (e *mxEnv) breakAuth() {
	path := filepath.Join(e.srv.Dir, "dovecot", "users")
	orig, err := os.ReadFile(path)
	e.must(err)
	e.origUsers = orig
	changed := strings.Replace(string(orig), e.srv.Password.Reveal(), "changed-by-the-fault-suite", 1)
	if changed == string(orig) {
		e.t.Fatalf("%s does not hold the test password: cannot break authentication", path)
	}
	e.must(os.WriteFile(path, []byte(changed), 0o644))
}

func (e *mxEnv) restoreAuth() {
	e.must(os.WriteFile(filepath.Join(e.srv.Dir, "dovecot", "users"), e.origUsers, 0o644))
}

// fillStorage writes a file into the storage tmpfs until it is full.
func (e *mxEnv) fillStorage() {
	f, err := os.Create(filepath.Join(e.storage, "fill"))
	e.must(err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 1000 { // 64 MB at most, far more than the 1 MB tmpfs
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("the 1 MB storage tmpfs never filled up")
}

func matrixTable(rows []mxRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Schedule: %s; shim --timeout %s.\n\n", mxSchedule, shimBudget)
	b.WriteString("| fault | expected code | detected (bound) | recovered (bound) | shim codes | daemon codes | slowest shim run | daemon's reason |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s (%s) | %s (%s) | %s | %s | %s | %s |\n", r.name, r.want,
			ms(r.detect), ms(r.detectBound), ms(r.recover), ms(r.recoverBound),
			r.codesShim, r.codesDaemon, ms(r.maxShim), strings.ReplaceAll(r.reason, "|", "/"))
	}
	return b.String()
}
