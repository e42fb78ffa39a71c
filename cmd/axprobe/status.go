package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/axprobe/axprobe/internal/cmdline"
	"github.com/axprobe/axprobe/internal/daemon"
	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
)

func statusCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdline.NewFlagSet("axprobe status", `Usage: axprobe status [--socket PATH] [--target NAME] [--json]

Shows what the running daemon knows: each target's state, VCS code and confidence, the
local gates, each check's health and last failure, and how old the answer is.

Examples:
  axprobe status
  axprobe status --socket /tmp/axprobe-demo/axprobe.sock --target axigen
  axprobe status --json | jq '.targets[0].checks'

Flags:
`, stderr)
	socket := fs.String("socket", ipc.DefaultSocket, "the daemon's Unix socket")
	target := fs.String("target", "", "show only this target")
	asJSON := fs.Bool("json", false, "print the daemon's JSON snapshot instead of a table")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	raw, err := ipc.Status(ctx, *socket, *target)
	if err != nil {
		fmt.Fprintf(stderr, "axprobe status: %v\n", err)
		return 1
	}
	if *asJSON {
		stdout.Write(raw)
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
		return 0
	}
	var snap daemon.Snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		fmt.Fprintf(stderr, "axprobe status: the daemon's answer is not a snapshot: %v\n", err)
		return 1
	}
	writeStatus(stdout, &snap, time.Now())
	return 0
}

// writeStatus renders a snapshot as the table a person reads on a node.
func writeStatus(w io.Writer, snap *daemon.Snapshot, now time.Time) {
	for i, t := range snap.Targets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		age := "never"
		if !t.Updated.IsZero() {
			age = now.Sub(t.Updated).Round(100*time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(w, "%s  %s  code %d  confidence %.2f  (updated %s)\n", safe(t.Name), safe(strings.ToUpper(t.State)), t.Code, t.Confidence, age)
		fmt.Fprintf(w, "  %s\n", safe(t.Reason))
		if v := t.AxigenVersion(); v != "" {
			fmt.Fprintf(w, "  Axigen %s (CLI GET VERSION)\n", safe(v))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  KIND\tNAME\tADDRESS\tHEALTH\tLAST\tTOOK\tDETAIL")
		for _, g := range t.Gates {
			fmt.Fprintf(tw, "  gate\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(g.Name), safe(dash(g.Address)), gateHealth(g), safe(g.Outcome), took(g), safe(detail(g)))
		}
		for _, c := range t.Checks {
			name := c.Name
			if c.Critical {
				name += "*"
			}
			health := "-"
			if c.HasResult {
				health = fmt.Sprintf("%.2f", c.Health)
			}
			fmt.Fprintf(tw, "  check\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(name), safe(dash(c.Address)), health, safe(c.Outcome), took(c), safe(detail(c)))
		}
		tw.Flush()
		if n := len(t.Transitions); n > 0 {
			last := t.Transitions[n-1]
			fmt.Fprintf(w, "  last change: %s → %s at %s: %s\n", safe(last.From), safe(last.To), last.At.Format(time.RFC3339), safe(last.Reason))
		}
	}
	if len(snap.Targets) > 0 {
		fmt.Fprintln(w, "\n  * critical check")
	}
}

// maxField caps one field of the status table or the probe report.
const maxField = 512

// safe escapes what a server or the daemon sent before it reaches a terminal: a banner,
// an IMAP NO text or a certificate name may carry ESC sequences (docs/SECURITY.md).
func safe(s string) string { return ipc.Sanitize(s, maxField) }

func gateHealth(g daemon.CheckSnapshot) string {
	switch {
	case !g.HasResult:
		return "-"
	case g.OK:
		return "ok"
	}
	return "FAIL"
}

func took(c daemon.CheckSnapshot) string {
	if !c.HasResult {
		return "-"
	}
	return time.Duration(c.Duration).Round(100 * time.Microsecond).String()
}

func detail(c daemon.CheckSnapshot) string {
	switch {
	case c.Error != "":
		return c.Error
	case c.Detail != "":
		return c.Detail
	case c.Reason != "":
		return c.Reason
	case len(c.Series) > 0:
		return probe.SeriesText(c.Series)
	case c.Capacity != nil:
		return c.Capacity.String()
	case c.DeliverySeconds > 0:
		return fmt.Sprintf("mail delivered in %.2fs", c.DeliverySeconds)
	case c.TLS != nil && !c.TLS.CertNotAfter.IsZero():
		return fmt.Sprintf("%s, cert until %s", c.TLS.Version, c.TLS.CertNotAfter.Format("2006-01-02"))
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
