package daemon

import (
	"net"
	"strconv"

	"github.com/axprobe/axprobe/internal/config"
	"github.com/axprobe/axprobe/internal/probe"
)

// TargetsFromConfig turns a loaded, validated config into the daemon's target specs: one
// check per configured listener and one gate per configured local fact.
func TargetsFromConfig(cfg *config.Config) []TargetSpec {
	specs := make([]TargetSpec, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
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
		spec.Node = cfg.NodeName
		if t.RequireLocalVIP {
			spec.Gates = append(spec.Gates, CheckSpec{Name: "vip", Probe: probe.Spec{Protocol: "vip", VIP: t.VIP}})
		}
		if t.Process != nil {
			spec.Gates = append(spec.Gates, CheckSpec{Name: "process",
				Probe: probe.Spec{Protocol: "process", PidFile: t.Process.PidFile, ProcessName: t.Process.Name}})
		}
		if t.Storage != nil {
			spec.Gates = append(spec.Gates, CheckSpec{Name: "storage",
				Probe: probe.Spec{Protocol: "storage", StoragePath: t.Storage.Path,
					StorageCanary: t.Storage.Canary, RequireMount: t.Storage.RequireMount,
					DegradedFreePercent: t.Storage.DegradedFreePercent, FailedFreePercent: t.Storage.FailedFreePercent}})
		}
		for _, c := range t.Checks {
			host := c.Host
			if host == "" {
				host = t.VIP
			}
			ps := probe.Spec{
				Protocol:           c.Protocol,
				Address:            net.JoinHostPort(host, strconv.Itoa(c.Port)),
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
			if c.Protocol == "roundtrip" {
				ps.IMAPAddress = net.JoinHostPort(c.IMAPHost, strconv.Itoa(c.IMAPPort))
				ps.IMAPTLS = probe.TLSMode(c.IMAPTLS)
				ps.MailFrom, ps.MailTo = c.MailFrom, c.MailTo
				ps.Deadline, ps.MaxMessages, ps.SubmitNoAuth = c.Deadline, c.MaxMessages, c.SubmitNoAuth
			}
			check := CheckSpec{Name: c.Name, Probe: ps, Critical: c.Critical,
				Weight: c.Weight, Interval: c.Interval, Timeout: c.Timeout}
			if c.Protocol == "metrics" {
				metricsCheck(&check, c, t)
			}
			if c.Protocol == "roundtrip" {
				// Confirm a failed round trip within a fifth of its interval (1 minute at the
				// default 5), not at the banner probes' pace: each try sends a message.
				check.FastInterval = max(t.FastInterval, c.Interval/5)
				check.DegradedAfter = -1 // waiting for delivery is its job, not slowness
			}
			spec.Checks = append(spec.Checks, check)
		}
		specs = append(specs, spec)
	}
	return specs
}
