#!/usr/bin/env bash
# Checks axprobe's observability artefacts: the Prometheus alert and SLO rules (promtool
# check and unit tests), the fleet's agent-mode config, the Grafana dashboard's JSON, and
# the Go tests that need promtool and Chromium (a real scrape through promtool check
# metrics, the dashboard's and the rules' metric names against a real scrape, basic auth,
# the status page in headless Chromium, the secrets test).
#
# Needs promtool (Debian package prometheus) and chromium. As root it installs them when
# missing, without starting Prometheus's system service. .ci/run calls it.
#
#   scripts/check-observability.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf -- '--- %s\n' "$*"; }

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "check-observability: missing ${need[*]}; install as root: apt-get install -y ${need[*]}" >&2
		exit 1
	fi
	step "installing ${need[*]} (no service is started)"
	policy=/usr/sbin/policy-rc.d
	own_policy=false
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	if $own_policy; then rm -f "$policy"; fi
	# A package that started Prometheus anyway (systemd present): stop it, it is not ours.
	if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl stop prometheus
	fi
fi

step "promtool check rules"
promtool check rules deploy/prometheus/alerts.yml deploy/prometheus/slo.yml

step "promtool test rules"
promtool test rules deploy/prometheus/alerts_test.yml deploy/prometheus/slo_test.yml

step "scrape example is a valid Prometheus config"
promtool check config --syntax-only deploy/prometheus/scrape.yml

# The agent's file_sd path points at /etc/prometheus/axprobe.d/; checked against the
# example cluster files beside it, so their target groups are validated too.
step "fleet agent example is a valid agent-mode config (with its file_sd example)"
fleet=$(mktemp -d)
trap 'rm -rf "$fleet"' EXIT
cp -r deploy/prometheus/fleet/axprobe.d "$fleet/"
sed 's|/etc/prometheus/axprobe.d/|axprobe.d/|' deploy/prometheus/fleet/agent.yml >"$fleet/agent.yml"
out=$(cd "$fleet" && promtool check config --agent agent.yml 2>&1) || { echo "$out"; exit 1; }
if grep -q WARNING <<<"$out"; then echo "$out"; exit 1; fi

step "grafana dashboard is valid JSON"
python3 -m json.tool deploy/grafana/axprobe.json >/dev/null

step "go tests that need promtool and chromium"
AXPROBE_INTEGRATION=1 go test -race -count=1 -timeout 5m \
	-run 'TestScrapeOfRunningDaemonPassesPromtool|TestDashboardAndAlertsUseExportedMetrics|TestFleetDashboardAndRulesAgree|TestBasicAuthFromWebConfig|TestStatusPageInBrowser|TestPasswordNeverInAnyOutput|TestRunLogFormats' \
	./internal/web ./cmd/axprobe

echo "observability checks passed"
