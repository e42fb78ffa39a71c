package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/config"
)

// hookRunner runs one target's on_transition command, one run at a time, in the order of
// the transitions, and at most MaxRuns times per Per, so that a flapping service cannot
// flood the cluster with `hares -probe` calls.
//
// When the limit is reached, the runner waits for a slot and then runs only the newest
// transition still pending, skipping (and logging) the ones between: the cluster learns
// the latest state, late, rather than every state, later still. A run of a target never
// overlaps the next run of the same target, so an "offline" hook cannot finish after the
// "online" hook that followed it.
type hookRunner struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	spec    TargetSpec // the latest, so a reload's command applies to what is pending
	pending []Transition
	active  bool        // a drain goroutine is running
	recent  []time.Time // start times of the runs within the last Per, oldest first
	seq     uint64      // transitions submitted, for AXPROBE_SEQ
}

func newHookRunner(log *slog.Logger) *hookRunner {
	return &hookRunner{log: log, now: time.Now}
}

// submit queues tr for spec's command and starts draining on wg unless a drain runs.
func (h *hookRunner) submit(ctx context.Context, wg *sync.WaitGroup, spec TargetSpec, tr Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spec = spec
	h.seq++
	tr.seq = h.seq
	h.pending = append(h.pending, tr)
	if !h.active {
		h.active = true
		wg.Go(func() { h.drain(ctx) })
	}
}

// drain runs pending transitions until none is left or ctx ends (pending ones are then
// dropped, and logged).
func (h *hookRunner) drain(ctx context.Context) {
	for {
		h.mu.Lock()
		if len(h.pending) == 0 || ctx.Err() != nil {
			if n := len(h.pending); n > 0 {
				h.log.Warn("on_transition commands not run: the daemon is stopping", "target", h.spec.Name, "pending", n)
			}
			h.pending, h.active = nil, false
			h.mu.Unlock()
			return
		}
		wait := h.slotIn()
		if wait > 0 {
			h.mu.Unlock()
			sleepCtx(ctx, wait)
			h.mu.Lock()
			if n := len(h.pending); n > 1 && ctx.Err() == nil {
				h.log.Warn("on_transition rate limit reached: running only the newest transition", "target", h.spec.Name,
					"skipped", n-1, "max_runs", h.maxRuns(), "per", h.per())
				h.pending = h.pending[n-1:]
			}
			h.mu.Unlock()
			continue
		}
		tr, spec := h.pending[0], h.spec
		h.pending = h.pending[1:]
		h.recent = append(h.recent, h.now())
		h.mu.Unlock()
		runHook(h.log, spec, tr)
	}
}

// slotIn returns how long until another run is allowed (0: now). h.mu is held.
func (h *hookRunner) slotIn() time.Duration {
	now := h.now()
	per := h.per()
	for len(h.recent) > 0 && now.Sub(h.recent[0]) >= per {
		h.recent = h.recent[1:]
	}
	if len(h.recent) < h.maxRuns() {
		return 0
	}
	return per - now.Sub(h.recent[0])
}

func (h *hookRunner) maxRuns() int {
	if h.spec.OnTransitionMaxRuns > 0 {
		return h.spec.OnTransitionMaxRuns
	}
	return config.DefaultHookMaxRuns
}

func (h *hookRunner) per() time.Duration {
	if h.spec.OnTransitionPer > 0 {
		return h.spec.OnTransitionPer
	}
	return config.DefaultHookPer
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// expand substitutes the placeholders in one argument.
func expand(arg string, spec TargetSpec, tr Transition) string {
	if !strings.Contains(arg, "{") {
		return arg
	}
	return strings.NewReplacer("{node}", spec.Node, "{target}", spec.Name, "{from}", tr.From,
		"{to}", tr.To, "{reason}", tr.Reason).Replace(arg)
}

// runHook runs the target's on_transition command for one state change, bounded by its
// timeout. Placeholders in the argv are substituted (config.HookPlaceholders); the command also
// gets the change in its environment (AXPROBE_NODE, AXPROBE_TARGET, AXPROBE_FROM,
// AXPROBE_TO, AXPROBE_REASON, AXPROBE_SEQ — the transition's number since the daemon
// started). It is an argv, never a shell string. Its output goes to the log at debug
// level; a failure is logged and otherwise ignored.
func runHook(log *slog.Logger, spec TargetSpec, tr Transition) {
	timeout := spec.OnTransitionTimeout
	if timeout <= 0 {
		timeout = config.DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := make([]string, len(spec.OnTransition))
	for i, a := range spec.OnTransition {
		argv[i] = expand(a, spec, tr)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "AXPROBE_NODE="+spec.Node,
		"AXPROBE_TARGET="+spec.Name, "AXPROBE_FROM="+tr.From, "AXPROBE_TO="+tr.To, "AXPROBE_REASON="+tr.Reason,
		"AXPROBE_SEQ="+strconv.FormatUint(tr.seq, 10))
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Warn("on_transition command failed", "target", spec.Name, "command", argv[0], "to", tr.To, "err", err, "output", truncate(string(out), 512))
		return
	}
	log.Debug("on_transition command ran", "target", spec.Name, "command", argv[0], "to", tr.To, "output", truncate(string(out), 512))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
