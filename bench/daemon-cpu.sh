#!/usr/bin/env bash
# Side-by-side CPU of axprobe daemon builds at a normal node's load: for each binary in
# turn, the same six checks every second as bench/run's footprint section (SMTP, IMAP, POP3
# with STARTTLS and login, IMAPS, HTTP, HTTPS) against real Dovecot, Postfix and nginx on
# loopback, started once; prints the CPU time (utime + stime) each daemon used over
# SECONDS after a 10 s settle, and its RSS at the end.
#
#   bench/daemon-cpu.sh [--seconds N] [--env VAR=VALUE] BINARY [BINARY ...]
#
# --env sets one variable for every daemon (e.g. GOGC=100). Run the list twice, A B A B,
# to see the noise. Needs root (the real servers switch users) and axbench's realenv.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=90 envs=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
	--env) envs+=("${2:?--env needs VAR=VALUE}"); shift 2 ;;
	-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "daemon-cpu: unknown flag $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "daemon-cpu: --seconds $seconds: want a positive whole number" >&2; exit 2; }
[[ $# -gt 0 ]] || { echo "daemon-cpu: name at least one axprobe binary" >&2; exit 2; }
for bin in "$@"; do
	[[ -x $bin ]] || { echo "daemon-cpu: $bin is not an executable" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/axbench" ./bench/axbench
"$work/axbench" realenv --env "$work/real.env" >"$work/realenv.log" 2>&1 &
pids+=("$!")
for _ in $(seq 600); do [[ -s $work/real.env ]] && break; sleep 0.5; done
[[ -s $work/real.env ]] || { echo "daemon-cpu: the real servers did not start (log: $work/realenv.log)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$work/real.env"

tls="ca_file: $CA_FILE, server_name: localhost"
auth="auth: { username: $MAIL_USER, password_file: $PASSWORD_FILE }"
cat >"$work/axprobe.yaml" <<YAML
socket: $work/axprobe.sock
http: { listen: "127.0.0.1:0" }
log: { level: warn }
targets:
  - name: axigen
    vip: 127.0.0.1
    interval: 1s
    fast_interval: 1s
    timeout: 800ms
    degraded_after: 500ms
    cert_warn_before: 1h
    checks:
      - { name: smtp, protocol: smtp, port: ${SMTP##*:}, tls: starttls, $tls, $auth }
      - { name: imap, protocol: imap, port: ${IMAP##*:}, tls: starttls, $tls, $auth }
      - { name: pop3, protocol: pop3, port: ${POP3##*:}, tls: starttls, $tls, $auth }
      - { name: imaps, protocol: imap, port: ${IMAPS##*:}, tls: implicit, $tls, $auth }
      - { name: webmail, protocol: http, port: ${HTTP##*:}, critical: false }
      - { name: webmail-tls, protocol: http, port: ${HTTPS##*:}, tls: implicit, $tls, critical: false }
YAML

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf '| binary | CPU over %ss | RSS at the end |\n|---|---:|---:|\n' "$seconds"
for bin in "$@"; do
	env "${envs[@]}" "$bin" run --config "$work/axprobe.yaml" >"$work/axprobe.log" 2>&1 &
	pid=$!
	sleep 10
	kill -0 "$pid" 2>/dev/null || { echo "daemon-cpu: $bin exited (log: $work/axprobe.log)" >&2; exit 1; }
	t0=$(ticks "$pid")
	sleep "$seconds"
	t1=$(ticks "$pid")
	rss=$(awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	printf '| %s | %s s | %s |\n' "$bin" "$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}')" "$rss"
done
