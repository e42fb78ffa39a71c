package daemon

import (
	"context"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/axprobe/axprobe/internal/vcs"
)

// The values Pacemaker reads from a #health attribute.
const (
	healthGreen  = "green"
	healthYellow = "yellow"
	healthRed    = "red"
)

// nodeHealthColor returns the node-health value one target's snapshot stands for, or ""
// to leave the attribute as it is, and the new "online since it became active here" flag
// (onlineSince is the old one):
//
//   - starting: "" — no verdict yet.
//   - online at full confidence (110): green; below it (101–109): yellow.
//   - maintenance: yellow — taken out on purpose, nothing to flee from.
//   - offline while the service does not run here (the process gate fails, or without one
//     the VIP gate): green. This is every standby node; painting it red would keep the
//     cluster from ever failing over to it. A crash here is the resource monitor's to see.
//   - offline while it runs here, after it was online since it started here: red — the
//     service broke on this node (a hung listener, a dead disk).
//   - offline while it runs here but has not been online since it started: "" — it is
//     coming up (the start operation waits for it); red now would stop every start.
func nodeHealthColor(t *TargetSnapshot, onlineSince bool) (color string, online bool) {
	switch t.State {
	case string(vcs.Online):
		if t.Code == vcs.CodeOnlineMax {
			return healthGreen, true
		}
		return healthYellow, true
	case string(vcs.Maintenance):
		return healthYellow, onlineSince
	case string(vcs.Offline):
		if !activeHere(t) {
			return healthGreen, false
		}
		if onlineSince {
			return healthRed, true
		}
	}
	return "", onlineSince
}

// activeHere reports whether the target's service runs on this node as far as its gates
// tell: the process gate passes, or without one the VIP gate, or without either, always.
func activeHere(t *TargetSnapshot) bool {
	for _, name := range []string{"process", "vip"} {
		for _, g := range t.Gates {
			if g.Name == name {
				return g.HasResult && g.OK
			}
		}
	}
	return true
}

// healthWant is what one attribute should be.
type healthWant struct {
	spec   NodeHealthSpec
	value  string
	target string
	remove bool // no target asks for it any more: delete it if this daemon set it
}

// healthPusher runs attrd_updater for the node-health attributes. The daemon's loop tells
// it what each attribute should be (observe, configure: never blocking); its own goroutine
// (run) pushes every change, re-asserts every value each refresh (attrd forgets transient
// attributes when the cluster restarts), retries a failed push every retry, and deletes
// what it set when the daemon stops.
type healthPusher struct {
	log     *slog.Logger
	refresh time.Duration
	retry   time.Duration
	timeout time.Duration // bound on one attrd_updater run

	// Loop-owned.
	specs  map[string]NodeHealthSpec // target name → spec, for targets with node health
	online map[string]bool           // target name → online since it became active here

	mu   sync.Mutex
	want map[string]healthWant // attribute → wanted state
	wake chan struct{}         // capacity 1: something in want changed
}

func newHealthPusher(log *slog.Logger) *healthPusher {
	return &healthPusher{
		log:     log,
		refresh: time.Minute,
		retry:   5 * time.Second,
		timeout: 10 * time.Second,
		specs:   map[string]NodeHealthSpec{},
		online:  map[string]bool{},
		want:    map[string]healthWant{},
		wake:    make(chan struct{}, 1),
	}
}

// configure takes the targets' node-health settings (at start and on every reload).
// Attributes no target names any more are deleted; called from the loop goroutine.
func (h *healthPusher) configure(targets []TargetSpec) {
	specs := map[string]NodeHealthSpec{}
	attrs := map[string]bool{}
	for _, t := range targets {
		if t.NodeHealth != nil {
			specs[t.Name] = *t.NodeHealth
			attrs[t.NodeHealth.Attribute] = true
		}
	}
	h.specs = specs
	for name := range h.online {
		if _, ok := specs[name]; !ok {
			delete(h.online, name)
		}
	}
	h.mu.Lock()
	changed := false
	for attr, w := range h.want {
		if !attrs[attr] && !w.remove {
			w.remove = true
			h.want[attr] = w
			changed = true
		}
	}
	h.mu.Unlock()
	if changed {
		h.poke()
	}
}

// observe takes a published snapshot; called from the loop goroutine, never blocks.
func (h *healthPusher) observe(s *Snapshot) {
	if len(h.specs) == 0 {
		return
	}
	changed := false
	h.mu.Lock()
	for i := range s.Targets {
		t := &s.Targets[i]
		spec, ok := h.specs[t.Name]
		if !ok {
			continue
		}
		color, online := nodeHealthColor(t, h.online[t.Name])
		h.online[t.Name] = online
		if color == "" {
			continue
		}
		w := healthWant{spec: spec, value: color, target: t.Name}
		if h.want[spec.Attribute] != w {
			h.want[spec.Attribute] = w
			changed = true
		}
	}
	h.mu.Unlock()
	if changed {
		h.poke()
	}
}

func (h *healthPusher) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run pushes until ctx ends, then deletes every attribute it set (each run bounded by
// timeout) and returns.
func (h *healthPusher) run(ctx context.Context) {
	pushed := map[string]string{} // attribute → value attrd last accepted from us
	failing := map[string]bool{}  // attribute → its last push failed (logged once per streak)
	refresh := time.NewTicker(h.refresh)
	defer refresh.Stop()
	retry := time.NewTimer(h.retry)
	retry.Stop()
	defer retry.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			h.cleanup(pushed)
			return
		case <-h.wake:
		case <-retry.C:
		case <-refresh.C:
			force = true
		}
		h.mu.Lock()
		want := make(map[string]healthWant, len(h.want))
		for a, w := range h.want {
			want[a] = w
		}
		h.mu.Unlock()
		again := false
		for attr, w := range want {
			if w.remove {
				if _, set := pushed[attr]; set {
					if err := h.attrd(ctx, w.spec, "--name", attr, "--delete"); err != nil {
						again = true
						continue
					}
					h.log.Info("node health attribute deleted", "attribute", attr)
					delete(pushed, attr)
				}
				h.forget(attr, w)
				continue
			}
			if pushed[attr] == w.value && !force {
				continue
			}
			err := h.attrd(ctx, w.spec, "--name", attr, "--update-both", w.value,
				"--delay", strconv.Itoa(int(w.spec.Delay/time.Second)))
			if err != nil {
				if !failing[attr] && ctx.Err() == nil {
					h.log.Warn("node health attribute not set; retrying", "target", w.target, "attribute", attr, "value", w.value, "err", err)
				}
				failing[attr] = true
				again = true
				continue
			}
			if failing[attr] {
				h.log.Info("attrd_updater works again", "attribute", attr)
				delete(failing, attr)
			}
			if pushed[attr] != w.value {
				h.log.Info("node health attribute set", "target", w.target, "attribute", attr, "value", w.value)
			}
			pushed[attr] = w.value
		}
		if again {
			retry.Reset(h.retry)
		}
	}
}

// forget drops a removed attribute from want unless a target asked for it again meanwhile.
func (h *healthPusher) forget(attr string, w healthWant) {
	h.mu.Lock()
	if h.want[attr] == w {
		delete(h.want, attr)
	}
	h.mu.Unlock()
}

// cleanup deletes the attributes this daemon set: once it stops, nobody keeps them true.
// A deleted #health attribute counts as neither red nor yellow.
func (h *healthPusher) cleanup(pushed map[string]string) {
	h.mu.Lock()
	specs := map[string]NodeHealthSpec{}
	for a, w := range h.want {
		specs[a] = w.spec
	}
	h.mu.Unlock()
	for attr := range pushed {
		spec, ok := specs[attr]
		if !ok {
			continue
		}
		if err := h.attrd(context.Background(), spec, "--name", attr, "--delete"); err != nil {
			h.log.Warn("node health attribute not deleted on the way out", "attribute", attr, "err", err)
			continue
		}
		h.log.Info("node health attribute deleted", "attribute", attr)
	}
}

// attrd runs the spec's attrd_updater with args, bounded by h.timeout.
func (h *healthPusher) attrd(ctx context.Context, spec NodeHealthSpec, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.AttrdUpdater, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &attrdError{err: err, out: truncate(printable(string(out)), 256)}
	}
	return nil
}

// attrdError is a failed attrd_updater run with what it printed.
type attrdError struct {
	err error
	out string
}

func (e *attrdError) Error() string {
	if e.out == "" {
		return e.err.Error()
	}
	return e.err.Error() + ": " + e.out
}

func (e *attrdError) Unwrap() error { return e.err }

// printable replaces control characters (newlines included) with spaces, so a tool's
// output stays one log value.
func printable(s string) string {
	b := []rune(s)
	for i, r := range b {
		if r < 0x20 || r == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}
