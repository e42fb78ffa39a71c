package config

import (
	"cmp"
	"net"
	"strconv"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/score"
)

// The resolved model: a loaded config turned into what runs. Resolve is the only place
// where config keys become probe specs, gates, per-check schedules and scoring parameters;
// the daemon runs the TargetSpecs it returns, the score configuration and the shim's
// fallback file are taken from them, and `axprobe check-config --print` prints them
// (docs/CONFIG.md, "What runs").

// TargetSpec is one target as it runs: its checks and local gates as probe specs, each
// check's own schedule filled in, and the target's scoring and hook settings.
type TargetSpec struct {
	Name   string      `yaml:"name"`
	Checks []CheckSpec `yaml:"checks"`
	Gates  []CheckSpec `yaml:"gates"` // protocol vip, process or storage

	Interval       time.Duration `yaml:"interval"`         // default probe interval of every check and gate
	FastInterval   time.Duration `yaml:"fast_interval"`    // re-probe interval after a failure
	Timeout        time.Duration `yaml:"timeout"`          // default hard deadline of one probe
	DegradedAfter  time.Duration `yaml:"degraded_after"`   // a successful probe slower than this counts as degraded
	CertWarnBefore time.Duration `yaml:"cert_warn_before"` // a certificate expiring sooner counts as degraded

	Window       int     `yaml:"window"`
	Rise         int     `yaml:"rise"`
	Fall         int     `yaml:"fall"`
	OfflineBelow float64 `yaml:"offline_below"`

	MaintenanceFile    string `yaml:"maintenance_file,omitempty"` // present → maintenance (intentional offline)
	IntentionalOffline bool   `yaml:"intentional_offline"`        // maintenance answers 200 instead of 100

	OnTransition        []string      `yaml:"on_transition,omitempty"`         // argv run on every state change; empty: none
	OnTransitionTimeout time.Duration `yaml:"on_transition_timeout,omitempty"` // bound on OnTransition's run time
	OnTransitionMaxRuns int           `yaml:"on_transition_max_runs,omitempty"`
	OnTransitionPer     time.Duration `yaml:"on_transition_per,omitempty"`

	NodeHealth *NodeHealthSpec `yaml:"node_health"` // nil: keep no Pacemaker node-health attribute

	Node string `yaml:"node,omitempty"` // this node's name, for the {node} placeholder
}

// CheckSpec is one scheduled probe of a target: a network check or a local gate.
type CheckSpec struct {
	Name     string        `yaml:"name"`
	Probe    probe.Spec    `yaml:"probe"`
	Critical bool          `yaml:"critical,omitempty"` // checks only: a failed streak takes the target offline
	Weight   float64       `yaml:"weight,omitempty"`   // checks only: weight in the confidence mean
	Interval time.Duration `yaml:"interval,omitempty"` // 0: the target's
	Timeout  time.Duration `yaml:"timeout,omitempty"`  // 0: the target's
	// FastInterval overrides the target's re-probe interval after a failure. A heavy check
	// (the mail round trip, every 5 minutes) must not be re-run every second while mail is
	// broken.
	FastInterval time.Duration `yaml:"fast_interval,omitempty"`
	// DegradedAfter overrides the target's "slower than this counts as degraded" (0: the
	// target's; negative: never graded slow — the mail round trip waits for delivery by
	// design, its deadline is its limit).
	DegradedAfter time.Duration `yaml:"degraded_after,omitempty"`
}

// NodeHealthSpec makes the daemon keep a Pacemaker node-health attribute (#health-…) of
// this node up to date with attrd_updater, so that a cluster with node-health-strategy
// migrate-on-red moves the service off this node as soon as axprobe sees it fail, without
// waiting for the resource's next monitor (docs/DEPLOY.md, "Pacemaker node health").
type NodeHealthSpec struct {
	Attribute    string        `yaml:"attribute"`     // the attribute, "#health-axigen"
	Delay        time.Duration `yaml:"delay"`         // attrd dampening (whole seconds)
	AttrdUpdater string        `yaml:"attrd_updater"` // absolute path of attrd_updater
}

// IntervalOf returns c's own interval or, when it has none, the target's.
func (t *TargetSpec) IntervalOf(c *CheckSpec) time.Duration { return cmp.Or(c.Interval, t.Interval) }

// TimeoutOf returns c's own timeout or the target's.
func (t *TargetSpec) TimeoutOf(c *CheckSpec) time.Duration { return cmp.Or(c.Timeout, t.Timeout) }

// FastIntervalOf returns c's own re-probe interval after a failure or the target's.
func (t *TargetSpec) FastIntervalOf(c *CheckSpec) time.Duration {
	return cmp.Or(c.FastInterval, t.FastInterval)
}

// DegradedAfterOf returns how slow a successful probe of c may be before it counts as
// degraded; 0 means never.
func (t *TargetSpec) DegradedAfterOf(c *CheckSpec) time.Duration {
	if c.DegradedAfter < 0 {
		return 0
	}
	return cmp.Or(c.DegradedAfter, t.DegradedAfter)
}

// Resolve turns a loaded, validated config into the targets as they run: one check per
// configured listener (its address from host, defaulting to the VIP, and the port for its
// protocol and TLS), one gate per configured local fact, every check's interval, timeout,
// fast interval and slowness bound filled in, the round trip's own rules applied.
func (c *Config) Resolve() []TargetSpec {
	specs := make([]TargetSpec, 0, len(c.Targets))
	for _, t := range c.Targets {
		spec := TargetSpec{
			Name:               t.Name,
			Interval:           t.Interval,
			FastInterval:       t.FastInterval,
			Timeout:            t.Timeout,
			DegradedAfter:      t.DegradedAfter,
			CertWarnBefore:     t.CertWarnBefore,
			Window:             t.Window,
			Rise:               t.Rise,
			Fall:               t.Fall,
			OfflineBelow:       t.OfflineBelow,
			MaintenanceFile:    t.MaintenanceFile,
			IntentionalOffline: t.IntentionalOffline,
			Node:               c.NodeName,
		}
		if t.OnTransition != nil {
			spec.OnTransition = t.OnTransition.Command
			spec.OnTransitionTimeout = t.OnTransition.Timeout
			spec.OnTransitionMaxRuns, spec.OnTransitionPer = t.OnTransition.MaxRuns, t.OnTransition.Per
		}
		if t.NodeHealth != nil {
			spec.NodeHealth = &NodeHealthSpec{Attribute: t.NodeHealth.Attribute,
				Delay: t.NodeHealth.Delay, AttrdUpdater: t.NodeHealth.AttrdUpdater}
		}
		spec.Gates = resolveGates(&t)
		for _, ch := range t.Checks {
			spec.Checks = append(spec.Checks, resolveCheck(&spec, &t, &ch))
		}
		specs = append(specs, spec)
	}
	return specs
}

// resolveGates returns t's local facts as gates, each on the target's schedule.
func resolveGates(t *Target) []CheckSpec {
	var gates []CheckSpec
	if t.RequireLocalVIP {
		gates = append(gates, CheckSpec{Name: "vip", Probe: probe.Spec{Protocol: "vip", VIP: t.VIP}})
	}
	if t.Process != nil {
		gates = append(gates, CheckSpec{Name: "process",
			Probe: probe.Spec{Protocol: "process", PidFile: t.Process.PidFile, ProcessName: t.Process.Name}})
	}
	if t.Storage != nil {
		gates = append(gates, CheckSpec{Name: "storage",
			Probe: probe.Spec{Protocol: "storage", StoragePath: t.Storage.Path,
				StorageCanary: t.Storage.Canary, RequireMount: t.Storage.RequireMount,
				DegradedFreePercent: t.Storage.DegradedFreePercent, FailedFreePercent: t.Storage.FailedFreePercent}})
	}
	for i := range gates {
		gates[i].Interval, gates[i].Timeout = t.Interval, t.Timeout
		gates[i].FastInterval, gates[i].DegradedAfter = t.FastInterval, t.DegradedAfter
	}
	return gates
}

// resolveCheck returns c of target ct as it runs in t. The config has already given c its
// host (the VIP), port, interval and timeout (inherit).
func resolveCheck(t *TargetSpec, ct *Target, c *Check) CheckSpec {
	ps := probe.Spec{
		Protocol:           c.Protocol,
		Address:            net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		TLS:                probe.TLSMode(c.TLS),
		CAFile:             c.CAFile,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
		BannerRegex:        c.BannerRegex,
		HeloName:           c.HeloName,
		Mailbox:            c.Mailbox,
		Path:               c.Path,
		ExpectStatus:       c.ExpectStatus,
		ExpectBody:         c.ExpectBody,
		ExpectHeader:       c.ExpectHeader,
		FollowRedirects:    c.FollowRedirects,
	}
	if c.Auth != nil {
		ps.Username, ps.Password = c.Auth.Username, c.Auth.Password
	}
	if c.TLSFullHandshakeEvery > 1 {
		// Resumed sessions; a full handshake also while the certificate is due.
		ps.TLSFullEvery, ps.CertWarnBefore = c.TLSFullHandshakeEvery, t.CertWarnBefore
	}
	check := CheckSpec{Name: c.Name, Probe: ps, Critical: c.Critical, Weight: c.Weight,
		Interval: c.Interval, Timeout: c.Timeout, FastInterval: t.FastInterval, DegradedAfter: t.DegradedAfter}
	if c.Protocol == "metrics" {
		resolveMetrics(&check, c, ct)
	}
	if c.Protocol == "roundtrip" {
		ps := &check.Probe
		ps.IMAPAddress = net.JoinHostPort(c.IMAPHost, strconv.Itoa(c.IMAPPort))
		ps.IMAPTLS = probe.TLSMode(c.IMAPTLS)
		ps.MailFrom, ps.MailTo = c.MailFrom, c.MailTo
		ps.Deadline, ps.MaxMessages, ps.SubmitNoAuth = c.Deadline, c.MaxMessages, c.SubmitNoAuth
		// Confirm a failed round trip within a fifth of its interval (1 minute at the
		// default 5), not at the banner probes' pace: each try sends a message.
		check.FastInterval = max(t.FastInterval, c.Interval/5)
		check.DegradedAfter = -1 // waiting for delivery is its job, not slowness
	}
	return check
}

// resolveMetrics fills what a metrics check (Axigen's /metrics) takes from its config: the
// series to grade, the growth window (the check's window: window × interval), and a
// re-probe after a failure at a fifth of its interval, not every fast_interval (Axigen
// samples its metrics about once a minute).
func resolveMetrics(check *CheckSpec, c *Check, t *Target) {
	check.Probe.GrowthWindow = c.Interval * time.Duration(max(1, t.Window))
	check.FastInterval = max(t.FastInterval, c.Interval/5)
	for _, s := range c.Series {
		check.Probe.Metrics = append(check.Probe.Metrics, probe.MetricRule{
			Series: s.Name, Labels: s.Labels,
			DegradedAbove: s.DegradedAbove, FailedAbove: s.FailedAbove,
			DegradedBelow: s.DegradedBelow, FailedBelow: s.FailedBelow,
			GrowthDegradedAbove: s.GrowthDegradedAbove, GrowthFailedAbove: s.GrowthFailedAbove,
		})
	}
}

// ScoreConfig returns the scoring model's configuration of the target.
func (t *TargetSpec) ScoreConfig() score.Config {
	c := score.Config{
		Window:             t.Window,
		Rise:               t.Rise,
		Fall:               t.Fall,
		OfflineBelow:       t.OfflineBelow,
		IntentionalOffline: t.IntentionalOffline,
	}
	for _, ch := range t.Checks {
		c.Checks = append(c.Checks, score.CheckConfig{Name: ch.Name, Weight: ch.Weight, Critical: ch.Critical})
	}
	for _, g := range t.Gates {
		c.Gates = append(c.Gates, g.Name)
	}
	return c
}

// Fallback returns what the monitor shim needs to check the target directly when the
// daemon cannot answer: the VIP and process gates, and the address of every critical check.
func (t *TargetSpec) Fallback() ipc.FallbackTarget {
	ft := ipc.FallbackTarget{Name: t.Name, Interval: t.Interval}
	for _, g := range t.Gates {
		switch g.Probe.Protocol {
		case "vip":
			ft.VIP = g.Probe.VIP
		case "process":
			ft.PidFile, ft.Process = g.Probe.PidFile, g.Probe.ProcessName
		}
	}
	for _, c := range t.Checks {
		if c.Critical {
			ft.Ports = append(ft.Ports, c.Probe.Address)
		}
	}
	return ft
}

// Fallbacks returns the fallback file's targets for specs.
func Fallbacks(specs []TargetSpec) []ipc.FallbackTarget {
	out := make([]ipc.FallbackTarget, 0, len(specs))
	for i := range specs {
		out = append(out, specs[i].Fallback())
	}
	return out
}
