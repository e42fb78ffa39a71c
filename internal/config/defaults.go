package config

import (
	"maps"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/probe"
	"github.com/axprobe/axprobe/internal/score"
)

// Every default lives in this file. Defaults are applied to the merged key tree before it is
// decoded, and only to keys that no layer set (a key present with no value, "key:" in YAML,
// counts as not set). Keys not listed here default to their zero value ("", 0, false).

// globalDefaults are the top-level keys.
func globalDefaults() map[string]any {
	return map[string]any{
		"socket":      ipc.DefaultSocket,
		"socket_mode": "0660",
		"http": map[string]any{
			"listen": "127.0.0.1:9728",
		},
		"log": map[string]any{
			"level":  "info",
			"format": "text",
		},
		"max_concurrent_probes": 16,
	}
}

// targetDefaults apply to every element of targets. The scoring parameters are the
// scoring model's own defaults.
func targetDefaults() map[string]any {
	sc := score.DefaultConfig()
	return map[string]any{
		"require_local_vip": true,
		"interval":          10 * time.Second,
		"fast_interval":     1 * time.Second,
		"timeout":           3 * time.Second,
		"window":            sc.Window,
		"rise":              sc.Rise,
		"fall":              sc.Fall,
		"offline_below":     sc.OfflineBelow,
		"degraded_after":    1 * time.Second,
		"cert_warn_before":  14 * 24 * time.Hour,
	}
}

// storageDefaults apply to a target's storage block when it is present.
func storageDefaults() map[string]any {
	return map[string]any{
		"canary":                ".axprobe-canary",
		"require_mount":         true,
		"degraded_free_percent": 10.0,
		"failed_free_percent":   0.0,
	}
}

// nodeHealthDefaults apply to a target's node_health block when it is present; an empty
// attribute becomes "#health-<target name>" in inherit.
func nodeHealthDefaults() map[string]any {
	return map[string]any{
		"attribute":     "",
		"delay":         5 * time.Second,
		"attrd_updater": "/usr/sbin/attrd_updater",
	}
}

// The on_transition defaults; the daemon applies them to a spec built by hand too.
const (
	DefaultHookTimeout = 10 * time.Second
	DefaultHookMaxRuns = 6
	DefaultHookPer     = time.Minute
)

// hookDefaults apply to a target's on_transition block when it is present.
func hookDefaults() map[string]any {
	return map[string]any{
		"timeout":  DefaultHookTimeout,
		"max_runs": DefaultHookMaxRuns,
		"per":      DefaultHookPer,
	}
}

// checkDefaults apply to a check whose protocol and tls keys (as written, possibly empty or
// invalid) are given. A check's interval, timeout and host default to its target's: see
// inherit.
func checkDefaults(protocol, tls string) map[string]any {
	d := map[string]any{
		"tls":      "none",
		"weight":   1.0,
		"critical": protocol == "smtp" || protocol == "imap" || protocol == "pop3",
	}
	if protocol == "roundtrip" {
		// Heavier than a banner probe: one message every few minutes is plenty, and a
		// missed round trip lowers confidence without taking the target offline.
		maps.Copy(d, map[string]any{
			"interval":     5 * time.Minute,
			"imap_tls":     "none",
			"mailbox":      "INBOX",
			"deadline":     60 * time.Second,
			"max_messages": 100,
		})
	}
	if protocol == "metrics" {
		// Axigen samples its metrics about once a minute: scraping faster only repeats them.
		d["interval"] = time.Minute
		d["path"] = "/metrics"
	}
	if tls == "" {
		tls = "none"
	}
	if port := defaultPort(protocol, tls); port != 0 {
		d["port"] = port
	}
	switch protocol {
	case "imap":
		d["mailbox"] = "INBOX"
	case "http":
		d["path"] = "/"
		d["expect_status"] = 200
	}
	return d
}

// defaultPort returns the well-known port for protocol over tls (none, starttls or
// implicit), or 0 when there is none (probe.DefaultPort is the table).
func defaultPort(protocol, tls string) int { return probe.DefaultPort(protocol, probe.TLSMode(tls)) }

// roundTripTimeoutMargin is how much longer than its delivery deadline a round trip's
// timeout is by default: time to log in, submit and clean up around the wait.
const roundTripTimeoutMargin = 30 * time.Second

// inherit fills what a check takes from its target once both are decoded: a check's
// interval and timeout default to the target's (zero or "" means "the target's"), and its
// host to the target's VIP. A round trip's timeout defaults to its deadline plus
// roundTripTimeoutMargin instead, its imap_host to its host and its imap_port to the IMAP
// port of its imap_tls. A node_health block without an attribute names it after the
// target.
func inherit(t *Target) {
	if t.NodeHealth != nil && t.NodeHealth.Attribute == "" {
		t.NodeHealth.Attribute = "#health-" + t.Name
	}
	for i := range t.Checks {
		c := &t.Checks[i]
		if c.Protocol == "roundtrip" && c.Timeout == 0 && c.Deadline > 0 {
			c.Timeout = c.Deadline + roundTripTimeoutMargin
		}
		if c.Interval == 0 {
			c.Interval = t.Interval
		}
		if c.Timeout == 0 {
			c.Timeout = t.Timeout
		}
		if c.Host == "" {
			c.Host = t.VIP
		}
		if c.Protocol == "roundtrip" {
			if c.IMAPHost == "" {
				c.IMAPHost = c.Host
			}
			if c.IMAPPort == 0 {
				c.IMAPPort = defaultPort("imap", c.IMAPTLS)
			}
		}
	}
}

// applyDefaults fills raw, the merged key tree, with every default that applies to it.
// Values of the wrong shape are left alone for the decoder to report.
func applyDefaults(raw map[string]any) {
	fill(raw, globalDefaults())
	targets, _ := raw["targets"].([]any)
	for _, tv := range targets {
		t, ok := tv.(map[string]any)
		if !ok {
			continue
		}
		fill(t, targetDefaults())
		if s, ok := t["storage"].(map[string]any); ok {
			fill(s, storageDefaults())
		}
		if h, ok := t["on_transition"].(map[string]any); ok {
			fill(h, hookDefaults())
		}
		if h, ok := t["node_health"].(map[string]any); ok {
			fill(h, nodeHealthDefaults())
		}
		checks, _ := t["checks"].([]any)
		for _, cv := range checks {
			if c, ok := cv.(map[string]any); ok {
				protocol, _ := c["protocol"].(string)
				tls, _ := c["tls"].(string)
				fill(c, checkDefaults(protocol, tls))
			}
		}
	}
}

// fill sets every key of defaults that m lacks (or holds as null), recursing into nested
// maps.
func fill(m, defaults map[string]any) {
	for k, d := range defaults {
		sub, isMap := d.(map[string]any)
		switch v := m[k].(type) {
		case nil:
			if isMap {
				nested := map[string]any{}
				fill(nested, sub)
				d = nested
			}
			m[k] = d
		case map[string]any:
			if isMap {
				fill(v, sub)
			}
		}
	}
}
