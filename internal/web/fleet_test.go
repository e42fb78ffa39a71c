package web

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// recordedNames returns the names a rule file records.
func recordedNames(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	for _, r := range readRules(t, path) {
		if r.Record != "" {
			names = append(names, r.Record)
		}
	}
	return names
}

var recordingRuleName = regexp.MustCompile(`axprobe:[a-z0-9_]+:[a-z0-9_]+`)

// TestFleetDashboardAndRulesAgree checks the fleet side of the dashboard and the rules
// without a running daemon: every recording rule the dashboard or a rule reads is recorded
// by slo.yml, and every dashboard query of an axprobe_ metric honours the cluster variable
// (a panel that forgot it would mix every cluster of the fleet into one line).
func TestFleetDashboardAndRulesAgree(t *testing.T) {
	recorded := recordedNames(t, "../../deploy/prometheus/slo.yml")
	if len(recorded) < 5 {
		t.Fatalf("slo.yml records %d names, want the SLO's recording rules", len(recorded))
	}
	dash := dashboardExprs(t, "../../deploy/grafana/axprobe.json")
	uses := slices.Concat(dash, alertExprs(t, "../../deploy/prometheus/slo.yml"), alertExprs(t, "../../deploy/prometheus/alerts.yml"))
	used := 0
	for _, e := range uses {
		for _, n := range recordingRuleName.FindAllString(e, -1) {
			used++
			if !slices.Contains(recorded, n) {
				t.Errorf("%s is read but not recorded by slo.yml (in %s)", n, e)
			}
		}
	}
	if used == 0 {
		t.Error("neither the dashboard nor the rules read a recording rule")
	}
	for _, e := range dash {
		if strings.Contains(e, "axprobe_") && !strings.Contains(e, `cluster=~"$cluster"`) {
			t.Errorf("dashboard query ignores the cluster variable: %s", e)
		}
	}
}
