package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/score"
)

// Limits that keep a config from asking for unbounded resources.
const (
	maxNameLength    = 64  // target and check names
	maxSocketPathLen = 107 // sun_path is 108 bytes including the terminating NUL
)

// gateNames are the names the daemon gives a target's local gates in scoring; a check may
// not take one of them.
func gateNames() []string { return []string{"vip", "process", "storage"} }

// Validate checks c as a whole and returns nil or Problems: every problem at once, each with
// its field path, in the order of the fields. Load calls it; call it again after changing a
// Config by hand.
func (c *Config) Validate() error {
	return c.validate().err()
}

func (c *Config) validate() Problems {
	var ps Problems
	if len(c.NodeName) > 255 || strings.IndexFunc(c.NodeName, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		ps.add("node_name", fmt.Sprintf("%s must be at most 255 printable characters", sanitizeWord(c.NodeName)))
	}
	switch {
	case c.Socket == "":
		ps.add("socket", "required")
	case !filepath.IsAbs(c.Socket):
		ps.add("socket", fmt.Sprintf("%q must be an absolute path", c.Socket))
	case len(c.Socket) > maxSocketPathLen:
		ps.add("socket", fmt.Sprintf("%q is %d bytes; a Unix socket path has at most %d", c.Socket, len(c.Socket), maxSocketPathLen))
	}
	switch {
	case c.SocketMode&^0o777 != 0:
		ps.add("socket_mode", fmt.Sprintf("%#o has bits beyond 0777", uint32(c.SocketMode)))
	case c.SocketMode == 0:
		// ipc.Listen reads 0 as "the default", so 0000 used to give 0660 silently.
		ps.add("socket_mode", `"0000" would let no one but root connect; use "0600" for root only, or "0660" with socket_group`)
	}
	if c.SocketGroup != "" && !validGroup(c.SocketGroup) {
		ps.add("socket_group", fmt.Sprintf("%q is neither a group name nor a gid", c.SocketGroup))
	}
	if c.HTTP.Listen != "" {
		if err := checkListen(c.HTTP.Listen); err != "" {
			ps.add("http.listen", err)
		}
	}
	checkAbs(&ps, "http.web_config_file", c.HTTP.WebConfigFile)
	checkOneOf(&ps, "log.level", c.Log.Level, []string{"debug", "info", "warn", "error"})
	checkOneOf(&ps, "log.format", c.Log.Format, []string{"text", "json"})
	checkAtLeast(&ps, "max_concurrent_probes", c.MaxConcurrentProbes, 1)

	if len(c.Targets) == 0 {
		ps.add("targets", "at least one target is required")
	}
	names := make([]string, len(c.Targets))
	for i := range c.Targets {
		names[i] = c.Targets[i].Name
		c.Targets[i].validate(&ps, fmt.Sprintf("targets[%d]", i))
	}
	checkUnique(&ps, names, func(i int) string { return fmt.Sprintf("targets[%d]", i) })
	attrs := map[string]int{} // node-health attribute → first target using it
	for i, t := range c.Targets {
		if t.NodeHealth == nil {
			continue
		}
		if first, dup := attrs[t.NodeHealth.Attribute]; dup {
			ps.add(fmt.Sprintf("targets[%d].node_health.attribute", i), fmt.Sprintf("%q is already targets[%d]'s: one attribute per target", t.NodeHealth.Attribute, first))
			continue
		}
		attrs[t.NodeHealth.Attribute] = i
	}
	return ps
}

func (t *Target) validate(ps *Problems, path string) {
	checkName(ps, path+".name", t.Name)
	if t.VIP == "" {
		ps.add(path+".vip", "required")
	} else if _, err := netip.ParseAddr(t.VIP); err != nil || strings.Contains(t.VIP, "%") {
		ps.add(path+".vip", fmt.Sprintf("%q is not an IP address", t.VIP))
	}
	if p := t.Process; p != nil {
		if p.PidFile == "" && p.Name == "" {
			ps.add(path+".process", "set pidfile, name or both (or leave out the block to disable the process gate)")
		}
		checkAbs(ps, path+".process.pidfile", p.PidFile)
		if strings.Contains(p.Name, "/") {
			ps.add(path+".process.name", fmt.Sprintf("%q must be an executable's base name, without /", p.Name))
		}
	}
	if s := t.Storage; s != nil {
		if s.Path == "" {
			ps.add(path+".storage.path", "required (or leave out the block to disable the storage gate)")
		}
		checkAbs(ps, path+".storage.path", s.Path)
		if s.Canary == "" || s.Canary == "." || s.Canary == ".." || strings.Contains(s.Canary, "/") {
			ps.add(path+".storage.canary", fmt.Sprintf("%q must be a file name inside path, without /", s.Canary))
		}
		s.validateCapacity(ps, path+".storage")
	}
	checkAbs(ps, path+".maintenance_file", t.MaintenanceFile)
	if t.IntentionalOffline && t.MaintenanceFile == "" {
		ps.add(path+".intentional_offline", "needs maintenance_file (intentional offline is reported while that file exists)")
	}
	if h := t.OnTransition; h != nil {
		if len(h.Command) == 0 {
			ps.add(path+".on_transition.command", `required: the argv to run, e.g. ["/opt/VRTSvcs/bin/hares", "-probe", "axigen_app", "-sys", "node1"]`)
		} else {
			checkAbs(ps, path+".on_transition.command[0]", h.Command[0])
		}
		for i, arg := range h.Command {
			if bad := unknownPlaceholder(arg); bad != "" {
				ps.add(fmt.Sprintf("%s.on_transition.command[%d]", path, i),
					fmt.Sprintf("unknown placeholder %s; known: {%s}", bad, strings.Join(HookPlaceholders, "} {")))
			}
		}
		checkPositive(ps, path+".on_transition.timeout", h.Timeout)
		if h.MaxRuns < 1 {
			ps.add(path+".on_transition.max_runs", fmt.Sprintf("%d must be at least 1", h.MaxRuns))
		}
		checkPositive(ps, path+".on_transition.per", h.Per)
	}
	if h := t.NodeHealth; h != nil {
		if !validHealthAttribute(h.Attribute) {
			ps.add(path+".node_health.attribute", fmt.Sprintf("%q must be #health followed by up to 72 of a-z, A-Z, 0-9, _, - and . (Pacemaker reads only #health* attributes as node health)", h.Attribute))
		}
		if h.Delay < 0 || h.Delay > time.Hour || h.Delay%time.Second != 0 {
			ps.add(path+".node_health.delay", fmt.Sprintf("%s must be whole seconds from 0s to 1h (attrd_updater --delay takes seconds)", formatDuration(h.Delay)))
		}
		if h.AttrdUpdater == "" {
			ps.add(path+".node_health.attrd_updater", "required: the path of attrd_updater, e.g. /usr/sbin/attrd_updater")
		}
		checkAbs(ps, path+".node_health.attrd_updater", h.AttrdUpdater)
	}

	checkPositive(ps, path+".interval", t.Interval)
	if checkPositive(ps, path+".fast_interval", t.FastInterval) && t.Interval > 0 && t.FastInterval > t.Interval {
		ps.add(path+".fast_interval", fmt.Sprintf("%s must not exceed interval (%s)", formatDuration(t.FastInterval), formatDuration(t.Interval)))
	}
	checkTimeout(ps, path, t.Timeout, t.Interval)
	if checkAtLeast(ps, path+".window", t.Window, 1) && t.Window > score.MaxWindow {
		ps.add(path+".window", fmt.Sprintf("%d is more than %d", t.Window, score.MaxWindow))
	}
	checkAtLeast(ps, path+".rise", t.Rise, 1)
	checkAtLeast(ps, path+".fall", t.Fall, 1)
	if !(t.OfflineBelow >= 0 && t.OfflineBelow <= 1) { // also catches NaN
		ps.add(path+".offline_below", fmt.Sprintf("%v is not in 0-1", t.OfflineBelow))
	}
	checkNotNegative(ps, path+".degraded_after", t.DegradedAfter, maxDuration)
	checkNotNegative(ps, path+".cert_warn_before", t.CertWarnBefore, maxCertWarn)

	switch {
	case len(t.Checks) == 0:
		ps.add(path+".checks", "at least one check is required")
	case len(t.Checks) > score.MaxChecks:
		ps.add(path+".checks", fmt.Sprintf("%d checks are more than %d", len(t.Checks), score.MaxChecks))
	}
	names := make([]string, len(t.Checks))
	for i := range t.Checks {
		names[i] = t.Checks[i].Name
		t.Checks[i].validate(ps, fmt.Sprintf("%s.checks[%d]", path, i), t)
	}
	checkUnique(ps, names, func(i int) string { return fmt.Sprintf("%s.checks[%d]", path, i) })
}

func (c *Check) validate(ps *Problems, path string, t *Target) {
	if checkName(ps, path+".name", c.Name) && slices.Contains(gateNames(), c.Name) {
		ps.add(path+".name", fmt.Sprintf("%q is reserved for the %s gate", c.Name, c.Name))
	}
	protocolOK := checkOneOf(ps, path+".protocol", c.Protocol, Protocols())
	tlsOK := checkOneOf(ps, path+".tls", c.TLS, TLSModes())
	if protocolOK && tlsOK && c.TLS == "starttls" && !slices.Contains([]string{"smtp", "imap", "pop3", "roundtrip"}, c.Protocol) {
		ps.add(path+".tls", fmt.Sprintf("starttls is not possible with protocol %s", c.Protocol))
		tlsOK = false
	}
	switch {
	case c.Port == 0 && !(protocolOK && tlsOK):
		// No port could be defaulted; the protocol or tls problem says why.
	case c.Port == 0 && defaultPort(c.Protocol, c.TLS) == 0:
		ps.add(path+".port", fmt.Sprintf("required: protocol %s with tls %s has no default port", c.Protocol, c.TLS))
	case c.Port < 1 || c.Port > 65535:
		ps.add(path+".port", fmt.Sprintf("%d is not in 1-65535", c.Port))
	}
	if c.Host != "" && !validHost(c.Host) { // "" only when the target has no vip, reported there
		ps.add(path+".host", fmt.Sprintf("%q is neither an IP address nor a host name", c.Host))
	}
	// A round trip's TLS settings serve its IMAP side too.
	if c.TLS == "none" && !(c.Protocol == "roundtrip" && c.IMAPTLS != "none") {
		for _, f := range []struct {
			key string
			set bool
		}{{"ca_file", c.CAFile != ""}, {"server_name", c.ServerName != ""}, {"insecure_skip_verify", c.InsecureSkipVerify},
			{"tls_full_handshake_every", c.TLSFullHandshakeEvery != 0}} {
			if f.set {
				ps.add(path+"."+f.key, "has no effect with tls none")
			}
		}
	}
	checkAbs(ps, path+".ca_file", c.CAFile)
	if c.TLSFullHandshakeEvery < 0 || c.TLSFullHandshakeEvery > maxFullHandshakeEvery {
		ps.add(path+".tls_full_handshake_every", fmt.Sprintf("%d is not in 0-%d (0 and 1: every handshake full)", c.TLSFullHandshakeEvery, maxFullHandshakeEvery))
	}
	if !(c.Weight > 0 && !math.IsInf(c.Weight, 0)) { // also catches NaN
		ps.add(path+".weight", fmt.Sprintf("%v must be a number above 0", c.Weight))
	}
	checkRegexp(ps, path+".banner_regex", c.BannerRegex)
	checkRegexp(ps, path+".expect_body", c.ExpectBody)
	if c.ExpectHeader != "" {
		name, re, ok := strings.Cut(c.ExpectHeader, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			ps.add(path+".expect_header", fmt.Sprintf("%q is not \"Name: regex\"", c.ExpectHeader))
		} else {
			checkRegexp(ps, path+".expect_header", strings.TrimSpace(re))
		}
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		ps.add(path+".path", fmt.Sprintf("%q must start with /", c.Path))
	}
	if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
		ps.add(path+".expect_status", fmt.Sprintf("%d is not an HTTP status (100-599)", c.ExpectStatus))
	}
	if a := c.Auth; a != nil {
		if a.Username == "" {
			ps.add(path+".auth.username", "required")
		}
		switch {
		case a.PasswordFile != "" && a.PasswordEnv != "":
			ps.add(path+".auth", "set password_file or password_env, not both")
		case a.PasswordFile == "" && a.PasswordEnv == "":
			ps.add(path+".auth", "set password_file or password_env")
		}
		checkAbs(ps, path+".auth.password_file", a.PasswordFile)
		if a.PasswordEnv != "" && !validEnvName(a.PasswordEnv) {
			ps.add(path+".auth.password_env", fmt.Sprintf("%q is not an environment variable name", a.PasswordEnv))
		}
	}
	if protocolOK {
		checkUsedBy(ps, path, c)
	}
	if c.Protocol == "roundtrip" {
		c.validateRoundTrip(ps, path)
	}
	if c.Protocol == "metrics" {
		c.validateMetrics(ps, path)
	}
	// A check that keeps its target's interval or timeout shares the target's problems.
	if c.Interval != t.Interval {
		checkPositive(ps, path+".interval", c.Interval)
	}
	if c.Timeout != t.Timeout {
		checkPositive(ps, path+".timeout", c.Timeout)
	}
	if (c.Interval != t.Interval || c.Timeout != t.Timeout) && c.Interval > 0 && c.Timeout >= c.Interval {
		ps.add(path+".timeout", fmt.Sprintf("%s must be less than interval (%s)", formatDuration(c.Timeout), formatDuration(c.Interval)))
	}
}

// checkUsedBy reports protocol-specific keys set on a check of another protocol.
func checkUsedBy(ps *Problems, path string, c *Check) {
	mail := []string{"smtp", "imap", "pop3", "cli"}
	http := []string{"http"}
	roundTrip := []string{"roundtrip"}
	for _, f := range []struct {
		key       string
		set       bool
		protocols []string
	}{
		{"banner_regex", c.BannerRegex != "", mail},
		{"auth", c.Auth != nil, []string{"smtp", "imap", "pop3", "cli", "roundtrip", "metrics"}},
		{"helo_name", c.HeloName != "", []string{"smtp", "roundtrip"}},
		{"mailbox", c.Mailbox != "", []string{"imap", "roundtrip"}},
		{"imap_host", c.IMAPHost != "", roundTrip},
		{"imap_port", c.IMAPPort != 0, roundTrip},
		{"imap_tls", c.IMAPTLS != "", roundTrip},
		{"mail_from", c.MailFrom != "", roundTrip},
		{"mail_to", c.MailTo != "", roundTrip},
		{"deadline", c.Deadline != 0, roundTrip},
		{"max_messages", c.MaxMessages != 0, roundTrip},
		{"submit_no_auth", c.SubmitNoAuth, roundTrip},
		{"path", c.Path != "", []string{"http", "metrics"}},
		{"series", len(c.Series) > 0, []string{"metrics"}},
		{"expect_status", c.ExpectStatus != 0, http},
		{"expect_body", c.ExpectBody != "", http},
		{"expect_header", c.ExpectHeader != "", http},
		{"follow_redirects", c.FollowRedirects, http},
		// A round trip's two sides are two servers: one session cache would confuse them.
		{"tls_full_handshake_every", c.TLSFullHandshakeEvery != 0, []string{"smtp", "imap", "pop3", "http", "cli", "tcp"}},
	} {
		if !f.set || slices.Contains(f.protocols, c.Protocol) {
			continue
		}
		what := "protocol " + f.protocols[0]
		if len(f.protocols) > 1 {
			what = "protocols " + strings.Join(f.protocols, ", ")
		}
		ps.add(path+"."+f.key, fmt.Sprintf("only used by %s, not %s", what, c.Protocol))
	}
}

// maxFullHandshakeEvery bounds tls_full_handshake_every: at the default 10 s interval a
// full handshake at least every 1,000 probes is one every ~3 hours.
const maxFullHandshakeEvery = 1000

// validateRoundTrip checks the keys of a mail round trip.
func (c *Check) validateRoundTrip(ps *Problems, path string) {
	imapTLSOK := checkOneOf(ps, path+".imap_tls", c.IMAPTLS, TLSModes())
	if imapTLSOK && (c.IMAPPort < 1 || c.IMAPPort > 65535) {
		ps.add(path+".imap_port", fmt.Sprintf("%d is not in 1-65535", c.IMAPPort))
	}
	if c.IMAPHost != "" && !validHost(c.IMAPHost) {
		ps.add(path+".imap_host", fmt.Sprintf("%q is neither an IP address nor a host name", c.IMAPHost))
	}
	if c.Auth == nil {
		ps.add(path+".auth", "required: the round trip logs in to the probe mailbox over IMAP")
	}
	for _, f := range []struct{ key, addr string }{{"mail_from", c.MailFrom}, {"mail_to", c.MailTo}} {
		switch {
		case f.addr == "":
			ps.add(path+"."+f.key, "required: a bare address such as axprobe@example.com")
		case !validMailAddress(f.addr):
			ps.add(path+"."+f.key, fmt.Sprintf("%q is not a bare mail address (local@domain)", f.addr))
		}
	}
	if strings.ContainsAny(c.Mailbox, "\r\n") {
		ps.add(path+".mailbox", fmt.Sprintf("%q contains a line break", c.Mailbox))
	}
	if checkPositive(ps, path+".deadline", c.Deadline) && c.Timeout > 0 && c.Timeout <= c.Deadline {
		ps.add(path+".timeout", fmt.Sprintf("%s must be more than deadline (%s): the round trip logs in, submits and cleans up around the wait",
			formatDuration(c.Timeout), formatDuration(c.Deadline)))
	}
	checkAtLeast(ps, path+".max_messages", c.MaxMessages, 1)
}

// validMailAddress accepts local@domain with nothing that could break an SMTP command or
// a header line; the prober parses it fully.
func validMailAddress(a string) bool {
	local, domain, ok := strings.Cut(a, "@")
	return ok && local != "" && validHost(domain) && len(a) <= 254 &&
		!strings.ContainsAny(a, " \t\r\n<>\"(),;:\\[]") && !strings.Contains(domain, "@")
}

// checkName reports a missing or malformed name, and says whether it is fine.
func checkName(ps *Problems, path, name string) bool {
	switch {
	case name == "":
		ps.add(path, "required")
	case len(name) > maxNameLength || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "":
		ps.add(path, fmt.Sprintf("%q must be 1-%d characters of a-z, 0-9, _ and -", name, maxNameLength))
	default:
		return true
	}
	return false
}

// checkUnique reports each name used more than once, at its first use.
func checkUnique(ps *Problems, names []string, pathOf func(int) string) {
	uses := make(map[string][]int, len(names))
	for i, n := range names {
		if n != "" {
			uses[n] = append(uses[n], i)
		}
	}
	for i, n := range names {
		idx := uses[n]
		if len(idx) < 2 || idx[0] != i {
			continue
		}
		others := make([]string, len(idx)-1)
		for j, o := range idx[1:] {
			others[j] = pathOf(o)
		}
		times := "twice"
		if len(idx) > 2 {
			times = fmt.Sprintf("%d times", len(idx))
		}
		ps.add(pathOf(i)+".name", fmt.Sprintf("%q is used %s (also %s)", n, times, strings.Join(others, ", ")))
	}
}

// checkOneOf reports v unless it is one of allowed, and says whether it is.
func checkOneOf(ps *Problems, path, v string, allowed []string) bool {
	switch {
	case slices.Contains(allowed, v):
		return true
	case v == "":
		ps.add(path, "required: one of "+strings.Join(allowed, ", "))
	default:
		ps.add(path, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	}
	return false
}

// checkAtLeast reports n below minimum, and says whether n is fine.
func checkAtLeast(ps *Problems, path string, n, minimum int) bool {
	if n >= minimum {
		return true
	}
	ps.add(path, fmt.Sprintf("%d must be at least %d", n, minimum))
	return false
}

// maxDuration bounds every duration of the config but cert_warn_before: a day is longer
// than any sensible probe interval, timeout or delivery deadline, and the bound keeps the
// daemon's arithmetic on them (3 × (interval + timeout) for max_age) far from overflowing.
// `interval: 1000000h` once made every MONITOR an error (issue 13).
const maxDuration = 24 * time.Hour

// maxCertWarn bounds cert_warn_before: ten years.
const maxCertWarn = 10 * 365 * 24 * time.Hour

// checkPositive reports a duration that is not above zero or above maxDuration, and says
// whether it is fine.
func checkPositive(ps *Problems, path string, d time.Duration) bool {
	switch {
	case d <= 0:
		ps.add(path, fmt.Sprintf("%s must be more than 0", formatDuration(d)))
		return false
	case d > maxDuration:
		ps.add(path, fmt.Sprintf("%s is more than the maximum of %s", formatDuration(d), formatDuration(maxDuration)))
		return false
	}
	return true
}

// checkNotNegative reports a duration below zero or above limit.
func checkNotNegative(ps *Problems, path string, d, limit time.Duration) {
	switch {
	case d < 0:
		ps.add(path, fmt.Sprintf("%s must not be negative", formatDuration(d)))
	case d > limit:
		ps.add(path, fmt.Sprintf("%s is more than the maximum of %s", formatDuration(d), formatDuration(limit)))
	}
}

// checkTimeout reports a probe timeout that is not positive or not shorter than interval.
func checkTimeout(ps *Problems, path string, timeout, interval time.Duration) {
	if checkPositive(ps, path+".timeout", timeout) && interval > 0 && timeout >= interval {
		ps.add(path+".timeout", fmt.Sprintf("%s must be less than interval (%s)", formatDuration(timeout), formatDuration(interval)))
	}
}

// checkAbs reports a file path that is set but not absolute (the daemon's working
// directory is not something to rely on).
func checkAbs(ps *Problems, path, file string) {
	if file != "" && !filepath.IsAbs(file) {
		ps.add(path, fmt.Sprintf("%q must be an absolute path", file))
	}
}

func checkRegexp(ps *Problems, path, expr string) {
	if expr == "" {
		return
	}
	if _, err := regexp.Compile(expr); err != nil {
		reason := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			reason = string(se.Code)
		}
		ps.add(path, fmt.Sprintf("%q is not a valid regular expression (%s)", expr, reason))
	}
}

// checkListen returns why addr is not a host:port to listen on, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: port %q is not in 0-65535", addr, port)
	}
	if host != "" && !validHost(host) {
		return fmt.Sprintf("%q: %q is neither an IP address nor a host name", addr, host)
	}
	return ""
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.Trim(strings.ToLower(label), "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// validGroup accepts a gid or a POSIX-style group name.
func validGroup(g string) bool {
	if _, err := strconv.ParseUint(g, 10, 32); err == nil {
		return true
	}
	name := strings.TrimSuffix(g, "$")
	return name != "" && len(name) <= 32 && !strings.ContainsAny(name[:1], "-.0123456789") &&
		strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == ""
}

// validEnvName accepts what a shell accepts as a variable name.
func validEnvName(n string) bool {
	return n != "" && !strings.ContainsAny(n[:1], "0123456789") &&
		strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == ""
}

// validHealthAttribute reports whether name is "#health" followed by at most 72 letters,
// digits, '_', '-' or '.': a node attribute Pacemaker's node-health strategies read, and
// safe as one argv element.
func validHealthAttribute(name string) bool {
	rest, ok := strings.CutPrefix(name, "#health")
	if !ok || len(rest) > 72 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// HookPlaceholders are the words on_transition arguments may hold in braces; the daemon
// substitutes them (a test in internal/daemon checks that it substitutes each).
var HookPlaceholders = []string{"node", "target", "from", "to", "reason"}

// unknownPlaceholder returns the first "{word}" in arg that is not a placeholder, or "".
func unknownPlaceholder(arg string) string {
	for rest := arg; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return ""
		}
		word := rest[i+1 : i+j]
		if !slices.Contains(HookPlaceholders, word) {
			return sanitizeWord(rest[i : i+j+1])
		}
		rest = rest[i+j+1:]
	}
}

// sanitizeWord keeps a config value quoted in an error short and printable.
func sanitizeWord(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// Warnings lists settings that are valid but probably not meant: `axprobe check-config`
// prints them and `axprobe run` logs them at start.
func (c *Config) Warnings() []string {
	var ws []string
	if c.HTTP.Listen != "" && c.HTTP.WebConfigFile == "" && !loopbackListen(c.HTTP.Listen) {
		ws = append(ws, fmt.Sprintf("http.listen: %q is reachable from other hosts and http.web_config_file sets neither TLS nor basic auth: /metrics and the status page are open to the network (listen on 127.0.0.1, or set http.web_config_file)", c.HTTP.Listen))
	}
	return ws
}

// loopbackListen reports whether addr listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
