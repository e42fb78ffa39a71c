#!/usr/bin/env bash
# Installs, from Debian packages, what axprobe's test suites need (Dovecot, Postfix, nginx,
# swaks and its TLS modules, pgrep, promtool, Prometheus and Alertmanager, Chromium, ShellCheck,
# ocf-tester, Pacemaker with corosync and crmsh (test/pacemaker starts its own cluster in
# namespaces), the benchmark peers, iproute2 and nftables, rpm, buildah and podman), then
# makes sure none of the servers runs as a system
# service: the suite starts its own copies with its own configuration (internal/realserver).
#
# Run as root on Debian 12. Idempotent: when everything is installed it only checks that the
# system services are stopped, in well under a second.
#
#   sudo scripts/install-test-deps.sh
#   AXPROBE_INTEGRATION=1 go test ./...
set -euo pipefail

packages=(
	dovecot-imapd dovecot-pop3d # IMAP and POP3
	postfix                     # SMTP
	nginx                       # HTTP, the WebMail stand-in
	swaks libnet-ssleay-perl libio-socket-ssl-perl # SMTP round trips, with --tls
	procps                      # pgrep, to check that no server process is left behind
	jq                          # scripts/stress-test.sh reads go test -json
	prometheus                  # promtool: metrics lint, rule checks and rule unit tests
	prometheus-alertmanager     # test/alerting: alerts through a real Prometheus and Alertmanager
	chromium                    # the status page test in a real browser
	shellcheck                  # every shell script in deploy/, scripts/, bench/
	resource-agents             # ocf-tester for the Pacemaker agent
	pacemaker corosync crmsh    # the real one-node cluster of test/pacemaker
	hyperfine monitoring-plugins prometheus-blackbox-exporter # benchmarks and their peers
	iproute2 nftables           # network namespaces and drop rules in the fault suite
	rpm libxml2-utils curl      # the package test: rpm -qp*, OCF meta-data, /metrics
	buildah podman runc         # the container test: the Dockerfile's image, built and run
)
# The system instances' pid files, to tell whether one is running where systemd is not.
declare -A pidfiles=(
	[dovecot]=/run/dovecot/master.pid
	[postfix]=/var/spool/postfix/pid/master.pid
	[nginx]=/run/nginx.pid
	[prometheus]=/run/prometheus/prometheus.pid
	[prometheus-blackbox-exporter]=/run/prometheus/prometheus-blackbox-exporter.pid
	[prometheus-alertmanager]=/run/prometheus/prometheus-alertmanager.pid
)
policy=/usr/sbin/policy-rc.d

if [[ $(id -u) -ne 0 ]]; then
	echo "install-test-deps: must run as root (it installs packages)" >&2
	exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
	if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} > 0)); then
	echo "install-test-deps: installing ${missing[*]}"
	# Postfix asks how to configure itself unless told; the suite writes its own main.cf.
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	# Keep the packages' maintainer scripts from starting system services during the
	# install. Only a policy we wrote is removed afterwards.
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# Written by axprobe install-test-deps.sh for the duration of an install.\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=120 -q update
	apt-get -o DPkg::Lock::Timeout=120 -q -y install --no-install-recommends "${missing[@]}"
fi

# Whatever started them (an earlier install without a policy, a boot), stop the system
# services: the suite needs no system instance and its ports may clash with them.
# (Not "service X status": Debian's postfix script answers 0 when it has no main.cf.)
running() {
	local pid=""
	if [[ -d /run/systemd/system ]]; then
		systemctl is-active --quiet "$1"
		return
	fi
	[[ -r ${pidfiles[$1]} ]] || return 1
	pid=$(tr -dc '0-9' <"${pidfiles[$1]}")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}
for svc in "${!pidfiles[@]}"; do
	if running "$svc"; then
		echo "install-test-deps: stopping system service $svc"
		service "$svc" stop >/dev/null
	fi
done
echo "install-test-deps: ready"
