package daemon

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"time"
)

// runHook runs the target's on_transition command for one state change, bounded by its
// timeout. The command gets the change in its environment (AXPROBE_TARGET, AXPROBE_FROM,
// AXPROBE_TO, AXPROBE_REASON); it is an argv, never a shell string. Its output goes to the
// log at debug level; a failure is logged and otherwise ignored.
func runHook(log *slog.Logger, spec TargetSpec, tr Transition) {
	timeout := spec.OnTransitionTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.OnTransition[0], spec.OnTransition[1:]...)
	cmd.Env = append(os.Environ(),
		"AXPROBE_TARGET="+spec.Name, "AXPROBE_FROM="+tr.From, "AXPROBE_TO="+tr.To, "AXPROBE_REASON="+tr.Reason)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Warn("on_transition command failed", "target", spec.Name, "command", spec.OnTransition[0], "err", err, "output", truncate(string(out), 512))
		return
	}
	log.Debug("on_transition command ran", "target", spec.Name, "command", spec.OnTransition[0], "output", truncate(string(out), 512))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
