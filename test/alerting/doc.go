// Package alerting tests the alert path through real parts: a real Prometheus (the Debian
// package) scrapes a real axprobe daemon probing fake Axigen listeners and evaluates
// deploy/prometheus/alerts.yml and slo.yml; a real Alertmanager receives the alerts.
// A fault in a fake listener must make AxigenOffline fire and reach Alertmanager within
// the rule's `for` plus two scrape intervals, and the repair must resolve it.
//
// The suite runs with AXPROBE_INTEGRATION=1 and needs the prometheus and
// prometheus-alertmanager packages (scripts/install-test-deps.sh). docs/TESTING.md and
// docs/OBSERVABILITY.md ("Tests") describe it.
package alerting
