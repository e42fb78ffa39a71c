package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/axprobe/axprobe/internal/ipc"
	"github.com/axprobe/axprobe/internal/score"
)

// TestResolve: the resolved model is the one place where a check gets its address (host
// defaults to the VIP, the port to its protocol's over its TLS), its schedule (the round
// trip's fast interval and "never slow"), the gates, the score configuration and the
// fallback file's entry.
func TestResolve(t *testing.T) {
	cfg := loadString(t, `
node_name: node1
targets:
  - name: axigen
    vip: 10.0.0.5
    process: { pidfile: /run/axigen.pid, name: axigen }
    checks:
      - { name: smtp, protocol: smtp }
      - { name: imaps, protocol: imap, tls: implicit, host: 10.0.0.6, interval: 20s }
      - { name: web, protocol: http, critical: false }
      - { name: rt, protocol: roundtrip, mail_from: a@example.test, mail_to: b@example.test, auth: { username: rt, password_env: AXPROBE_TEST_RT_PW } }
`)
	specs := cfg.Resolve()
	if len(specs) != 1 {
		t.Fatalf("%d targets", len(specs))
	}
	s := specs[0]
	addr := map[string]string{}
	for _, c := range s.Checks {
		addr[c.Name] = c.Probe.Address
	}
	want := map[string]string{"smtp": "10.0.0.5:25", "imaps": "10.0.0.6:993", "web": "10.0.0.5:80", "rt": "10.0.0.5:25"}
	if !reflect.DeepEqual(addr, want) {
		t.Errorf("addresses %v, want %v", addr, want)
	}
	imaps, rt := s.Checks[1], s.Checks[3]
	if imaps.Interval != 20*time.Second || imaps.Timeout != 3*time.Second || imaps.FastInterval != time.Second || imaps.DegradedAfter != time.Second {
		t.Errorf("imaps schedule %+v: want its own interval, the target's timeout, fast interval and degraded_after", imaps)
	}
	if rt.Interval != 5*time.Minute || rt.FastInterval != time.Minute || rt.DegradedAfter >= 0 || s.DegradedAfterOf(&rt) != 0 {
		t.Errorf("round trip schedule %+v: want 5m, a fifth of it after a failure, never slow", rt)
	}
	if rt.Probe.IMAPAddress != "10.0.0.5:143" || s.Node != "node1" {
		t.Errorf("round trip IMAP side %q, node %q", rt.Probe.IMAPAddress, s.Node)
	}
	var gates []string
	for _, g := range s.Gates {
		gates = append(gates, g.Name+"/"+g.Probe.Protocol)
	}
	if !reflect.DeepEqual(gates, []string{"vip/vip", "process/process"}) {
		t.Errorf("gates %v", gates)
	}
	sc := s.ScoreConfig()
	if err := sc.Validate(); err != nil || len(sc.Checks) != 4 || !reflect.DeepEqual(sc.Gates, []string{"vip", "process"}) ||
		sc.Checks[2] != (score.CheckConfig{Name: "web", Weight: 1}) {
		t.Errorf("score config %+v (%v)", sc, err)
	}
	fb := s.Fallback()
	wantFB := ipc.FallbackTarget{Name: "axigen", VIP: "10.0.0.5", PidFile: "/run/axigen.pid", Process: "axigen",
		Ports: []string{"10.0.0.5:25", "10.0.0.6:993"}, Interval: 10 * time.Second}
	if !reflect.DeepEqual(fb, wantFB) {
		t.Errorf("fallback\n got %+v\nwant %+v", fb, wantFB)
	}
}

// loadString loads text as a config file, failing the test on any problem.
func loadString(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := Load(writeConfig(t, text), []string{"AXPROBE_TEST_RT_PW=pw"}, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}
