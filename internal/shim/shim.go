// Package shim is the VCS monitor program: one round trip to the axprobe daemon's socket,
// one line on stdout, an exit code VCS understands. When the daemon cannot answer, it falls
// back as --on-unavailable says, by default to a direct check of this node.
//
// The shim starts for every VCS monitor cycle on every node, so its start-up time matters:
// it imports only the standard library, internal/ipc, internal/local and internal/vcs (a
// test enforces it).
package shim

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/local"
	"github.com/axprobe/axprobe/internal/vcs"
)

// hardMargin is how long past --timeout Run waits before giving up on its own work;
// cmd/axprobe-monitor exits the process at twice this margin.
const hardMargin = 250 * time.Millisecond

// verdict is the outcome of one run: the exit code, the line for stdout and notes for
// stderr. Work that may outlive its deadline builds a verdict instead of writing, so that
// nothing writes after Run returned.
type verdict struct {
	code  int
	line  string
	notes []string
}

// Main runs the shim with args (without the program name) and returns the exit code. It
// never returns 0 or 1, and returns within the --timeout budget plus a small margin
// whatever the daemon, the network or the filesystem does.
func Main(args []string, stdout, stderr io.Writer) int {
	return Run(context.Background(), args, stdout, stderr)
}

// Run is Main with a parent context (canceling it ends the run early, as if the budget
// had run out).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return vcs.CodeUnknown
	}
	if err != nil {
		fmt.Fprintf(stderr, "axprobe-monitor: %v (see --help); exiting %d (unknown)\n", err, vcs.CodeUnknown)
		return vcs.CodeUnknown
	}
	v := runWithin(cfg.Timeout+hardMargin, cfg.Target, unavailableCode(cfg.OnUnavailable), func() verdict {
		return monitor(ctx, cfg)
	})
	if v.line != "" {
		fmt.Fprintln(stdout, v.line)
	}
	// Notes carry text from the daemon, the fallback file and the network: escaped and
	// capped, so that nothing reaches VCS's log or a terminal raw (docs/SECURITY.md).
	for _, n := range v.notes {
		fmt.Fprintln(stderr, "axprobe-monitor: "+ipc.Sanitize(n, maxNote))
	}
	return v.code
}

// maxNote caps one stderr line of the shim.
const maxNote = 2048

// HardLimit returns how long cmd/axprobe-monitor lets the process live for args, the
// code it exits with if that passes, and the stdout line it prints then: the budget plus a
// margin, the code the --on-unavailable mode gives when nothing could be checked, and an
// answer line saying so (whoever reads the monitor's output always gets one line).
func HardLimit(args []string) (time.Duration, int, string) {
	cfg, err := Parse(args)
	if err != nil {
		return DefaultTimeout + 2*hardMargin, vcs.CodeUnknown, ""
	}
	limit, code := cfg.Timeout+2*hardMargin, unavailableCode(cfg.OnUnavailable)
	return limit, code, deadlineVerdict(limit, cfg.Target, code).line
}

// deadlineVerdict is the verdict when the hard deadline passed.
func deadlineVerdict(limit time.Duration, target string, code int) verdict {
	state := vcs.Offline
	if code == vcs.CodeUnknown {
		state = vcs.Unknown
	}
	why := fmt.Sprintf("hard deadline of %s passed; exiting %d", limit, code)
	v := answerVerdict(target, code, state, why)
	v.notes = append(v.notes, why)
	return v
}

// unavailableCode is the code for "could not tell" under mode: unknown reports 99, the
// others 100 (a direct check that cannot finish has not shown the service is here).
func unavailableCode(mode string) int {
	if mode == ModeUnknown {
		return vcs.CodeUnknown
	}
	return vcs.CodeOffline
}

// runWithin runs fn in its own goroutine and returns its verdict, or, if fn has not
// finished after limit, a verdict for target with code onTimeout. A panic in fn becomes
// code 99.
func runWithin(limit time.Duration, target string, onTimeout int, fn func() verdict) verdict {
	done := make(chan verdict, 1)
	go func() { done <- safely(fn) }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case v := <-done:
		return v
	case <-t.C:
		return deadlineVerdict(limit, target, onTimeout)
	}
}

// safely runs fn, turning a panic into an unknown verdict.
func safely(fn func() verdict) (v verdict) {
	defer func() {
		if p := recover(); p != nil {
			v = verdict{code: vcs.CodeUnknown, notes: []string{fmt.Sprintf("internal error: %v; exiting %d (unknown)", p, vcs.CodeUnknown)}}
		}
	}()
	return fn()
}

// monitor asks the daemon and falls back when it cannot answer usefully. The daemon gets
// half the budget, so a hung daemon leaves the other half for the direct check.
func monitor(ctx context.Context, cfg Config) verdict {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	askCtx, cancelAsk := context.WithTimeout(ctx, cfg.Timeout/2)
	a, err := ipc.Monitor(askCtx, cfg.Socket, cfg.Target, cfg.Trusted()...)
	cancelAsk()
	if pe, ok := errors.AsType[*ipc.PeerError](err); ok {
		// Someone else's process sits on the daemon's socket: whoever could put it there
		// controls the socket directory, so the shim checks nothing more and reports that
		// it cannot tell (docs/SECURITY.md, "Who may answer on the socket").
		code := unavailableCode(cfg.OnUnavailable)
		state := vcs.Offline
		if code == vcs.CodeUnknown {
			state = vcs.Unknown
		}
		v := answerVerdict(cfg.Target, code, state, pe.Error())
		v.notes = append(v.notes, pe.Error())
		return v
	}
	if err == nil {
		if why := unusable(a); why != "" {
			err = errors.New(why)
		} else if line, ferr := ipc.FormatAnswer(a); ferr == nil {
			return verdict{code: a.Code, line: line}
		} else {
			err = ferr
		}
	}
	return fallback(ctx, cfg, err)
}

// unusable says why a well-formed answer must not be passed to VCS, or "".
func unusable(a ipc.Answer) string {
	switch {
	case a.State == string(vcs.Starting):
		return "daemon is still starting (no full round of probes yet)"
	case a.Stale():
		return fmt.Sprintf("daemon's answer is stale (age %s > max_age %s)", a.Age.Round(time.Millisecond), a.MaxAge)
	case a.Code != vcs.CodeOffline && a.Code != vcs.CodeIntentionalOffline && !vcs.IsOnline(a.Code):
		return fmt.Sprintf("daemon answered code %d (state %s)", a.Code, a.State)
	}
	return ""
}

// fallback decides when the daemon could not: as cfg.OnUnavailable says.
func fallback(ctx context.Context, cfg Config, cause error) verdict {
	why := "daemon unavailable: " + cause.Error()
	switch cfg.OnUnavailable {
	case ModeOffline:
		return answerVerdict(cfg.Target, vcs.CodeOffline, vcs.Offline, why+"; --on-unavailable=offline")
	case ModeUnknown:
		return answerVerdict(cfg.Target, vcs.CodeUnknown, vcs.Unknown, why+"; --on-unavailable=unknown")
	}
	code, target, detail := direct(ctx, cfg)
	state := vcs.Online
	if code == vcs.CodeOffline {
		state = vcs.Offline
	}
	v := answerVerdict(target, code, state, why+"; direct check: "+detail)
	v.notes = append(v.notes, why)
	if code == vcs.CodeOffline {
		v.notes = append(v.notes, "direct check failed: "+detail)
	}
	return v
}

// answerVerdict prints the shim's own decision in the daemon's answer format, so whoever
// reads the monitor's output parses one format. The target is "-" when none is known.
func answerVerdict(target string, code int, state vcs.State, reason string) verdict {
	if target == "" {
		target = "-"
	}
	conf := 0.0
	if vcs.IsOnline(code) {
		conf = float64(code-vcs.CodeOffline) / 10
	}
	line, err := ipc.FormatAnswer(ipc.Answer{Target: target, Code: code, State: string(state), Confidence: conf, Reason: reason})
	if err != nil { // cannot happen with the codes and states above; say so rather than hide it
		return verdict{code: code, notes: []string{"formatting the answer: " + err.Error()}}
	}
	return verdict{code: code, line: line}
}

// direct checks the target from the fallback file beside the socket: the VIP is on this
// node, the process runs, and every critical port accepts a TCP connection. It returns
// 110 or 100, the target's name and what it found.
func direct(ctx context.Context, cfg Config) (int, string, string) {
	path := ipc.FallbackPath(cfg.Socket)
	targets, err := ipc.ReadFallback(path, cfg.Trusted()...)
	if err != nil {
		return vcs.CodeOffline, cfg.Target, "cannot read the fallback file: " + err.Error()
	}
	t, err := ipc.FindFallback(targets, cfg.Target)
	if err != nil {
		return vcs.CodeOffline, cfg.Target, fmt.Sprintf("%s: %v", path, err)
	}
	if t.VIP == "" && t.PidFile == "" && t.Process == "" {
		return vcs.CodeOffline, t.Name, "the fallback file names neither a VIP nor a process for " + t.Name + ": cannot tell whether the service runs on this node"
	}
	var found []string
	if t.VIP != "" {
		ok, err := local.VIPPresent(t.VIP)
		if err != nil {
			return vcs.CodeOffline, t.Name, err.Error()
		}
		if !ok {
			return vcs.CodeOffline, t.Name, "vip " + t.VIP + " is not on this node"
		}
		found = append(found, "vip "+t.VIP+" is local")
	}
	if t.PidFile != "" || t.Process != "" {
		pid, err := local.CheckProcess(t.PidFile, t.Process)
		if err != nil {
			return vcs.CodeOffline, t.Name, err.Error()
		}
		found = append(found, fmt.Sprintf("pid %d runs", pid))
	}
	if err := dialAll(ctx, t.Ports); err != nil {
		return vcs.CodeOffline, t.Name, err.Error()
	}
	found = append(found, fmt.Sprintf("%d critical ports accept connections", len(t.Ports)))
	return vcs.CodeOnlineMax, t.Name, strings.Join(found, ", ")
}

// maxPortWait bounds one TCP connect of the direct check.
const maxPortWait = time.Second

// dialAll connects to every address at once and returns the first failure in list order.
func dialAll(ctx context.Context, addrs []string) error {
	ctx, cancel := context.WithTimeout(ctx, maxPortWait)
	defer cancel()
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs[i] = fmt.Errorf("port %s: %w", addr, err)
				return
			}
			conn.Close()
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 1 {
		return fmt.Errorf("%w (and %d more ports failed)", first, failed-1)
	}
	return first
}
