package shim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
)

// The --on-unavailable modes.
const (
	ModeDirect  = "direct"  // check the VIP, the process and the critical ports directly
	ModeOffline = "offline" // report offline (100): VCS fails the service over
	ModeUnknown = "unknown" // report unknown (99): VCS only warns
)

// Defaults.
const (
	DefaultTimeout = 2 * time.Second
	maxTimeout     = 60 * time.Second // VCS's default MonitorTimeout
)

// Config is what the shim was asked to do.
type Config struct {
	Resource      string        // VCS resource name (VCS calling convention only); informational
	Socket        string        // the daemon's socket
	Target        string        // target to ask for; "" = the daemon's only or first target
	Timeout       time.Duration // overall budget, daemon round trip and fallback included
	OnUnavailable string        // ModeDirect, ModeOffline or ModeUnknown
	// DaemonUID is the uid the daemon runs as when not root (0: root). The process
	// answering on the socket and the owner of the fallback file must be root, this uid or
	// the shim's own (docs/SECURITY.md).
	DaemonUID int
}

// Trusted returns the uids whose daemon and fallback file the shim believes: root, the
// configured daemon uid and its own.
func (c Config) Trusted() []int {
	uids := []int{0}
	for _, u := range []int{c.DaemonUID, os.Geteuid()} {
		if u > 0 && !slices.Contains(uids, u) {
			uids = append(uids, u)
		}
	}
	return uids
}

// Parse reads the command line in either of two conventions:
//
//   - flags: --target NAME --socket PATH --timeout 2s --on-unavailable direct|offline|unknown
//     --daemon-uid UID
//   - VCS: "<resource> Name count values… Name count values…" (ArgListValues tuples, the
//     first argument does not start with "-"). The attributes read are ProbeSocket,
//     ProbeTarget, ProbeTimeout (a duration or whole seconds), ProbeOnUnavailable and
//     ProbeDaemonUID;
//     others (PidFile, AEPTimeout, …) are skipped.
//
// It returns flag.ErrHelp for -h/--help and an error naming the bad argument otherwise.
func Parse(args []string) (Config, error) {
	cfg := Config{Socket: ipc.DefaultSocket, Timeout: DefaultTimeout, OnUnavailable: ModeDirect}
	var err error
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		err = parseVCS(&cfg, args)
	} else {
		err = parseFlags(&cfg, args)
	}
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate()
}

func parseFlags(cfg *Config, args []string) error {
	fs := flag.NewFlagSet("axprobe-monitor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "")
	fs.StringVar(&cfg.Socket, "socket", cfg.Socket, "")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "")
	fs.StringVar(&cfg.OnUnavailable, "on-unavailable", cfg.OnUnavailable, "")
	fs.IntVar(&cfg.DaemonUID, "daemon-uid", cfg.DaemonUID, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func parseVCS(cfg *Config, args []string) error {
	cfg.Resource = args[0]
	rest := args[1:]
	for len(rest) > 0 {
		name := rest[0]
		if len(rest) < 2 {
			return fmt.Errorf("VCS argument %s: no value count", name)
		}
		count, err := strconv.Atoi(rest[1])
		if err != nil || count < 0 || count > len(rest)-2 {
			return fmt.Errorf("VCS argument %s: count %q is not a number of values that follow", name, rest[1])
		}
		values := rest[2 : 2+count]
		rest = rest[2+count:]
		var value string
		switch count {
		case 0:
			continue // an empty attribute keeps the default
		case 1:
			value = values[0]
		default:
			switch name {
			case "ProbeSocket", "ProbeTarget", "ProbeTimeout", "ProbeOnUnavailable", "ProbeDaemonUID":
				return fmt.Errorf("VCS argument %s: want one value, got %d", name, count)
			}
			continue
		}
		switch name {
		case "ProbeSocket":
			if value != "" {
				cfg.Socket = value
			}
		case "ProbeTarget":
			cfg.Target = value
		case "ProbeTimeout":
			d, err := parseSeconds(value)
			if err != nil {
				return fmt.Errorf("VCS argument ProbeTimeout: %w", err)
			}
			cfg.Timeout = d
		case "ProbeOnUnavailable":
			if value != "" {
				cfg.OnUnavailable = value
			}
		case "ProbeDaemonUID":
			uid, err := strconv.Atoi(value)
			if err != nil {
				return fmt.Errorf("VCS argument ProbeDaemonUID: %q is not a number", value)
			}
			cfg.DaemonUID = uid
		}
	}
	return nil
}

// parseSeconds reads "2s", "1500ms" or a whole number of seconds ("2").
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > int(maxTimeout/time.Second) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}

func (c Config) validate() error {
	switch c.OnUnavailable {
	case ModeDirect, ModeOffline, ModeUnknown:
	default:
		return fmt.Errorf("--on-unavailable %q: must be direct, offline or unknown", c.OnUnavailable)
	}
	if c.Timeout <= 0 || c.Timeout > maxTimeout {
		return fmt.Errorf("--timeout %s: must be more than 0 and at most %s", c.Timeout, maxTimeout)
	}
	if c.Socket == "" {
		return errors.New("--socket: must not be empty")
	}
	if c.DaemonUID < 0 {
		return fmt.Errorf("--daemon-uid %d: must be a uid, 0 or more", c.DaemonUID)
	}
	if c.Target != "" {
		if err := ipc.ValidTarget(c.Target); err != nil {
			return fmt.Errorf("--target: %w", err)
		}
	}
	return nil
}

const usage = `axprobe-monitor asks the axprobe daemon for a target's verdict and exits with the code
Veritas Cluster Server reads. It is the program to name as a VCS monitor (or as the
Application agent's MonitorProgram); "axprobe monitor" is the same, slower to start.

Usage:
  axprobe-monitor [--target NAME] [--socket PATH] [--timeout 2s] [--on-unavailable MODE]
  axprobe-monitor <resource> [Name count values ...]     (VCS script-agent convention)

Flags:
  --target NAME           target to report; default: the daemon's only (or first) target
  --socket PATH           the daemon's socket (default /run/axprobe/axprobe.sock)
  --timeout DURATION      overall budget, never exceeded (default 2s, at most 60s)
  --daemon-uid UID        the uid the daemon runs as, when not root (default 0). Only a
                          process of root, this uid or the shim's own uid is believed on
                          the socket (SO_PEERCRED): another uid there gives 100 (99 in
                          unknown mode) and no direct check. The fallback file must be
                          owned by one of them and writable by nobody else, or it counts
                          as missing
  --on-unavailable MODE   when the daemon cannot answer (no socket, no answer in time, an
                          error, still starting, or a stale answer):
                            direct   check directly, from <socket>.fallback: the VIP is on
                                     this node, the process runs, every critical port
                                     accepts a TCP connection -> 110, else 100 (default)
                            offline  report 100
                            unknown  report 99

VCS arguments (ArgList tuples, parsed by name, others ignored):
  ProbeSocket, ProbeTarget, ProbeTimeout (seconds or a duration), ProbeOnUnavailable,
  ProbeDaemonUID

Exit codes:
  100        offline
  101-110    online, confidence 10%-100%
  200        intentionally offline (as the daemon reports it)
  99         unknown: usage errors, --help, internal errors; VCS only logs a warning
  The shim never exits 0 or 1, which VCS's Application agent would read as online/offline.

Examples:
  axprobe-monitor --target axigen
  axprobe-monitor axigen_res ProbeSocket 1 /run/axprobe/axprobe.sock ProbeTarget 1 axigen
`
