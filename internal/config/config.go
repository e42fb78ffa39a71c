// Package config loads axprobe's configuration: defaults, then a YAML file, then AXPROBE_
// environment variables, then command-line flags, each layer overriding the one before.
//
// Load returns a fully resolved *Config (every default filled in, passwords read, durations
// parsed) or an error that lists every problem at once, one per line, each with the field's
// path (targets[0].checks[2].port: 70000 is not in 1-65535). Unknown keys are errors.
// Passwords are held as secret.Secret and never appear in errors or in Redacted output.
//
// The keys and their defaults are documented in docs/CONFIG.md; every default is set in
// defaults.go.
package config

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/axprobe/axprobe/internal/secret"
)

// DefaultPath is where the daemon and check-config look for the config file when no
// --config flag is given.
const DefaultPath = "/etc/axprobe/axprobe.yaml"

// EnvPrefix starts the name of every environment variable that overrides a config key.
// "__" separates nesting levels: AXPROBE_HTTP__LISTEN sets http.listen.
const EnvPrefix = "AXPROBE_"

// Config is the whole configuration. Field tags name the YAML keys; omitempty marks
// protocol-specific keys that Redacted leaves out when they are not set.
type Config struct {
	Socket              string      `yaml:"socket"`       // Unix socket the daemon serves
	SocketMode          fs.FileMode `yaml:"socket_mode"`  // permission bits of the socket
	SocketGroup         string      `yaml:"socket_group"` // group name or gid; "" keeps the daemon's group
	HTTP                HTTP        `yaml:"http"`
	Log                 Log         `yaml:"log"`
	MaxConcurrentProbes int         `yaml:"max_concurrent_probes"` // probes in flight at once, all targets together
	NodeName            string      `yaml:"node_name"`             // this node's name for on_transition's {node}; "" → the hostname
	Targets             []Target    `yaml:"targets"`
}

// HTTP configures the daemon's web side: /metrics, /status.json and the status page.
type HTTP struct {
	Listen        string `yaml:"listen"`          // host:port; "" disables the web side
	WebConfigFile string `yaml:"web_config_file"` // exporter-toolkit web config (TLS, basic auth); "" for none
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Target is one clustered service: the checks that make up its confidence and the local
// gates that say whether it runs on this node.
type Target struct {
	Name               string        `yaml:"name"`              // [a-z0-9_-]+, unique; a metric label and socket argument
	VIP                string        `yaml:"vip"`               // IP the probes connect to; also the VIP gate's address
	RequireLocalVIP    bool          `yaml:"require_local_vip"` // VIP gate: the VIP must be plumbed on a local interface
	Process            *ProcessGate  `yaml:"process"`           // nil: no process gate
	Storage            *StorageGate  `yaml:"storage"`           // nil: no storage gate
	MaintenanceFile    string        `yaml:"maintenance_file"`  // while it exists the target is intentionally offline; "" for none
	IntentionalOffline bool          `yaml:"intentional_offline"`
	OnTransition       *Hook         `yaml:"on_transition"` // nil: run nothing on online/offline transitions
	NodeHealth         *NodeHealth   `yaml:"node_health"`   // nil: push no Pacemaker node-health attribute
	Interval           time.Duration `yaml:"interval"`      // time between probes of a healthy check
	FastInterval       time.Duration `yaml:"fast_interval"` // time between probes after a failure
	Timeout            time.Duration `yaml:"timeout"`       // hard deadline of one probe
	Window             int           `yaml:"window"`        // results kept per check
	Rise               int           `yaml:"rise"`          // good cycles before offline → online
	Fall               int           `yaml:"fall"`          // bad cycles before online → offline
	OfflineBelow       float64       `yaml:"offline_below"` // confidence under which a cycle counts as bad
	DegradedAfter      time.Duration `yaml:"degraded_after"`
	CertWarnBefore     time.Duration `yaml:"cert_warn_before"` // a certificate expiring sooner scores as degraded
	Checks             []Check       `yaml:"checks"`
}

// ProcessGate says how to find the service's process. At least one field is set.
type ProcessGate struct {
	PidFile string `yaml:"pidfile"` // file holding the pid
	Name    string `yaml:"name"`    // executable base name the process must have
}

// StorageGate says which shared storage the service needs.
type StorageGate struct {
	Path         string `yaml:"path,omitempty"` // directory that must be writable
	Canary       string `yaml:"canary"`         // file name inside Path written and removed to prove it
	RequireMount bool   `yaml:"require_mount"`  // Path must be a mount point (not the bare root fs)
	// Capacity of Path's filesystem, in percent of free space or free inodes: below
	// DegradedFreePercent the gate shows degraded, below FailedFreePercent it fails (0
	// disables either).
	DegradedFreePercent float64 `yaml:"degraded_free_percent"`
	FailedFreePercent   float64 `yaml:"failed_free_percent"`
}

// Hook is a command run when a target changes state.
type Hook struct {
	Command []string      `yaml:"command"`  // argv, not a shell string; placeholders {node} {target} {from} {to} {reason}
	Timeout time.Duration `yaml:"timeout"`  // bound on one run
	MaxRuns int           `yaml:"max_runs"` // at most this many runs per Per (a flapping service must not flood the cluster)
	Per     time.Duration `yaml:"per"`
}

// NodeHealth makes the daemon keep a Pacemaker node-health attribute up to date with
// attrd_updater: green while the target is online at full confidence, yellow below it (or
// in maintenance), red when it went offline while running on this node (docs/DEPLOY.md,
// "Pacemaker node health").
type NodeHealth struct {
	Attribute    string        `yaml:"attribute"`     // "#health-..."; "" means "#health-<target name>"
	Delay        time.Duration `yaml:"delay"`         // attrd dampening, whole seconds
	AttrdUpdater string        `yaml:"attrd_updater"` // absolute path of attrd_updater
}

// Check is one listener to probe.
type Check struct {
	Name               string `yaml:"name"`     // [a-z0-9_-]+, unique within its target
	Protocol           string `yaml:"protocol"` // one of Protocols()
	Host               string `yaml:"host"`     // defaults to the target's VIP
	Port               int    `yaml:"port"`     // defaults by protocol and tls
	TLS                string `yaml:"tls"`      // one of TLSModes()
	CAFile             string `yaml:"ca_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	// TLSFullHandshakeEvery > 1 resumes TLS sessions between full handshakes (docs/CONFIG.md).
	TLSFullHandshakeEvery int           `yaml:"tls_full_handshake_every,omitempty"`
	Weight                float64       `yaml:"weight"`   // share in the target's confidence
	Critical              bool          `yaml:"critical"` // failing fall times in a row takes the target offline
	BannerRegex           string        `yaml:"banner_regex,omitempty"`
	HeloName              string        `yaml:"helo_name,omitempty"` // smtp
	Auth                  *Auth         `yaml:"auth"`                // nil: no login
	Mailbox               string        `yaml:"mailbox,omitempty"`   // imap
	Path                  string        `yaml:"path,omitempty"`      // http
	ExpectStatus          int           `yaml:"expect_status,omitempty"`
	ExpectBody            string        `yaml:"expect_body,omitempty"`   // regular expression
	ExpectHeader          string        `yaml:"expect_header,omitempty"` // "Name: regex"
	FollowRedirects       bool          `yaml:"follow_redirects,omitempty"`
	Interval              time.Duration `yaml:"interval"` // defaults to the target's (roundtrip: 5m)
	Timeout               time.Duration `yaml:"timeout"`  // defaults to the target's (roundtrip: deadline + 30s)

	// Mail round trip (protocol roundtrip): host, port and tls are the SMTP side's; auth
	// logs in to both sides; mailbox is where the message is expected.
	IMAPHost     string        `yaml:"imap_host,omitempty"`      // defaults to host
	IMAPPort     int           `yaml:"imap_port,omitempty"`      // defaults by imap_tls: 143 or 993
	IMAPTLS      string        `yaml:"imap_tls,omitempty"`       // one of TLSModes()
	MailFrom     string        `yaml:"mail_from,omitempty"`      // sender; marks this node's probe messages
	MailTo       string        `yaml:"mail_to,omitempty"`        // the dedicated probe mailbox's address
	Deadline     time.Duration `yaml:"deadline,omitempty"`       // how long delivery may take
	MaxMessages  int           `yaml:"max_messages,omitempty"`   // the mailbox may hold at most this many
	SubmitNoAuth bool          `yaml:"submit_no_auth,omitempty"` // submit without SMTP AUTH

	// Axigen's /metrics (protocol metrics): path (default /metrics), auth (a WebAdmin user
	// with reporting rights) and the series to grade.
	Series []Series `yaml:"series,omitempty"`
}

// Series is one series of Axigen's /metrics that a metrics check grades: its value is the
// sum of the samples named Name that carry Labels. Unset thresholds are not graded.
type Series struct {
	Name                string            `yaml:"name"`
	Labels              map[string]string `yaml:"labels,omitempty"`
	DegradedAbove       *float64          `yaml:"degraded_above,omitempty"`
	FailedAbove         *float64          `yaml:"failed_above,omitempty"`
	DegradedBelow       *float64          `yaml:"degraded_below,omitempty"`
	FailedBelow         *float64          `yaml:"failed_below,omitempty"`
	GrowthDegradedAbove *float64          `yaml:"growth_degraded_above,omitempty"` // per minute, over window × interval
	GrowthFailedAbove   *float64          `yaml:"growth_failed_above,omitempty"`
}

// Auth is a login. The password is never written in the config itself: Load reads it from
// PasswordFile or from the environment variable named by PasswordEnv.
type Auth struct {
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file,omitempty"`
	PasswordEnv  string        `yaml:"password_env,omitempty"`
	Password     secret.Secret `yaml:"password"` // filled by Load; never decoded from config text
}

// Protocols lists the values a check's protocol may take.
func Protocols() []string {
	return []string{"smtp", "imap", "pop3", "http", "cli", "tcp", "roundtrip", "metrics"}
}

// TLSModes lists the values a check's tls may take.
func TLSModes() []string { return []string{"none", "starttls", "implicit"} }

// NumChecks returns the number of checks over all targets.
func (c *Config) NumChecks() int {
	n := 0
	for _, t := range c.Targets {
		n += len(t.Checks)
	}
	return n
}

// Problem is one thing wrong with a configuration, at one field.
type Problem struct {
	Path    string // e.g. targets[0].checks[2].port; "" for the config as a whole
	Message string // never contains a password
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found in a configuration. As an error its message is one
// problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// add records a problem at path. Both are capped: a 20 MB name in the file must not come
// back whole in the error (issue 13).
func (ps *Problems) add(path, message string) {
	*ps = append(*ps, Problem{Path: clipText(path, maxProblemPath), Message: clipText(message, maxProblemMessage)})
}

// Caps on a Problem's text, in bytes.
const (
	maxProblemPath    = 256
	maxProblemMessage = 1024
)

// clipText cuts s to at most n bytes at a character boundary, saying how long it was.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes in all)", len(s))
}

// cover reports whether a problem is already recorded at path or at a field that holds it.
func (ps Problems) cover(path string) bool {
	for _, p := range ps {
		if path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// sort groups problems by target, then by check (global ones first, a target's own before
// its checks'), keeping their order within a group.
func (ps Problems) sort() {
	position := func(path string) [2]int {
		pos := [2]int{-1, -1}
		fmt.Sscanf(path, "targets[%d].checks[%d]", &pos[0], &pos[1]) // parses what matches
		return pos
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		pa, pb := position(a.Path), position(b.Path)
		return cmp.Or(cmp.Compare(pa[0], pb[0]), cmp.Compare(pa[1], pb[1]))
	})
}

// err returns ps as an error, or nil when there is no problem.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
