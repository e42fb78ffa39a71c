#!/usr/bin/env bash
# Tests the deployment files against a fake node: axigen-standin plays Axigen (started and
# stopped by a fake /etc/init.d/axigen), a real `axprobe run` probes it on 127.0.0.1, and
# the VCS entry points (deploy/vcs/Axigen), the Application-agent MonitorProgram
# (deploy/vcs/application.cf), the init wrapper (deploy/vcs/axigen-vcs-init) and the
# Pacemaker agent (deploy/pacemaker/axigen, through ocf-tester) run against them.
#
# Also: shellcheck on every shell script under deploy/ and scripts/, the static build the
# Dockerfile uses, systemd-analyze verify on the unit (when it works here), and that the
# shim links none of the daemon's packages.
#
# Usage: scripts/test-deploy.sh
#   Runs from any directory. As root it installs missing tools with apt-get: the
#   packages shellcheck, resource-agents (ocf-tester), libxml2-utils and file).
# Exit status: 0 when every check passed, 1 otherwise. Everything runs under one
# temporary directory, and every process it starts is stopped on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/axdeploy.XXXXXX) # short: the socket path must stay under 108 bytes
daemon_pid=
lag_pid=

# cleanup stops what this script started: the daemon (by its pid) and any stand-in whose
# command line names this run's work directory, then removes the directory.
cleanup() {
	set +e
	local d
	for d in $daemon_pid $lag_pid; do
		kill "$d" 2>/dev/null
		wait "$d" 2>/dev/null
	done
	local p
	for p in /proc/[0-9]*; do
		if [[ $(cat "$p/comm" 2>/dev/null) == axigen-standin ]] &&
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$work/"; then
			kill -KILL "${p#/proc/}" 2>/dev/null
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=scripts/lib/checks.sh
source "$repo/scripts/lib/checks.sh"
# shellcheck source=scripts/lib/standin.sh
source "$repo/scripts/lib/standin.sh"

# need TOOL PACKAGE: makes sure TOOL is on PATH, installing PACKAGE with apt-get as root.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "installing $2 for $1"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; } || true
	fi
	command -v "$1" >/dev/null 2>&1
}

# standin_alive PID: PID is a running (not zombie) axigen-standin.
standin_alive() {
	[[ $1 =~ ^[0-9]+$ && $(cat "/proc/$1/comm" 2>/dev/null) == axigen-standin ]] &&
		! grep -qE '^State:[[:space:]]+[ZX]' "/proc/$1/status" 2>/dev/null
}

# standin_pid prints the pid in the fake node's pidfile if that process is a running
# axigen-standin.
standin_pid() {
	local pid
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	standin_alive "$pid" || return 1
	echo "$pid"
}

echo "== tools"
for t in shellcheck:shellcheck ocf-tester:resource-agents xmllint:libxml2-utils file:file; do
	if need "${t%%:*}" "${t#*:}"; then pass "tool ${t%%:*} available"; else fail "tool ${t%%:*} missing (package ${t#*:})"; fi
done

echo "== shellcheck"
while IFS= read -r f; do
	if [[ $f == *.sh ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba)?sh( |$)'; then
		if (cd "$repo" && shellcheck -x "${f#"$repo"/}") >"$work/last.out" 2>&1; then
			pass "shellcheck ${f#"$repo"/}"
		else
			fail "shellcheck ${f#"$repo"/}"
			show "$work/last.out" 30
		fi
	fi
done < <(find "$repo/deploy" "$repo/scripts" -type f | sort)

echo "== static build (the Dockerfile's command)"
bin=$work/bin
mkdir -p "$bin"
for flag in 'CGO_ENABLED=0' '-trimpath' '-s -w'; do
	if grep -qF -- "$flag" "$repo/Dockerfile"; then pass "Dockerfile builds with $flag"; else fail "Dockerfile does not build with $flag"; fi
done
build_static "$bin" test-deploy axprobe axprobe-monitor axigen-standin
for cmd in axprobe axprobe-monitor; do
	if file "$bin/$cmd" | grep -q 'statically linked' && ! ldd "$bin/$cmd" >/dev/null 2>&1; then
		pass "$cmd is statically linked"
	else
		fail "$cmd is not statically linked: $(file -b "$bin/$cmd")"
	fi
done
if "$bin/axprobe" version 2>&1 | grep -q test-deploy; then
	pass "-X main.version reaches axprobe version"
else
	fail "-X main.version does not reach axprobe version: $("$bin/axprobe" version 2>&1 | head -n 1)"
fi
deps=$(cd "$repo" && go list -deps ./cmd/axprobe-monitor)
if grep -qE 'internal/daemon|prometheus|koanf|emersion' <<<"$deps"; then
	fail "axprobe-monitor links daemon-side packages: $(grep -E 'internal/daemon|prometheus|koanf|emersion' <<<"$deps" | tr '\n' ' ')"
else
	pass "axprobe-monitor links no daemon-side package (internal/daemon, prometheus, koanf, go-imap/go-smtp)"
fi

echo "== systemd unit"
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$work/systemd"
	sed "s|/usr/local/bin/axprobe|$bin/axprobe|g" "$repo/deploy/systemd/axprobe.service" >"$work/systemd/axprobe.service"
	if systemd-analyze verify "$work/systemd/axprobe.service" >"$work/last.out" 2>&1 &&
		! grep -qiE 'unknown|invalid|ignoring|failed' "$work/last.out"; then
		pass "systemd-analyze verify axprobe.service"
	else
		fail "systemd-analyze verify axprobe.service"
		show "$work/last.out" 20
	fi
else
	echo "SKIP  systemd-analyze not available"
fi

echo "== fake node"
base=$(free_ports 6) || {
	fail "no six free consecutive ports found"
	exit 1
}
mkdir -p "$work/etc/init.d" "$work/run"
pidfile=$work/run/axigen.pid
sock=$work/axprobe.sock
maint=$work/run/axprobe.maintenance
init=$work/etc/init.d/axigen
cat >"$init" <<EOF
#!/bin/sh
# Fake /etc/init.d/axigen: runs axigen-standin on 127.0.0.1:$base-$((base + 5)).
# FAKE_AXIGEN_STOP_BROKEN=1 makes stop fail without stopping anything (to test clean).
pidfile=$pidfile
running() {
	pid=\$(cat "\$pidfile" 2>/dev/null) && [ -n "\$pid" ] &&
		[ "\$(cat "/proc/\$pid/comm" 2>/dev/null)" = axigen-standin ]
}
case \${1:-} in
start)
	running && exit 0
	"$bin/axigen-standin" --base-port $base --pidfile "\$pidfile" </dev/null >>"$work/standin.log" 2>&1 &
	i=0
	while [ \$i -lt 100 ]; do
		running && exit 0
		kill -0 \$! 2>/dev/null || exit 1
		sleep 0.1
		i=\$((i + 1))
	done
	exit 1 ;;
stop)
	if [ -n "\${FAKE_AXIGEN_STOP_BROKEN:-}" ]; then echo "stop broken on purpose" >&2; exit 1; fi
	running || exit 0
	kill -TERM "\$pid"
	i=0
	while [ \$i -lt 100 ]; do
		running || exit 0
		sleep 0.1
		i=\$((i + 1))
	done
	exit 1 ;;
status)
	running && exit 0
	exit 3 ;;
*)
	echo "usage: \$0 start|stop|status" >&2
	exit 2 ;;
esac
EOF
chmod 755 "$init"
cat >"$work/axprobe.yaml" <<EOF
socket: $sock
http:
  listen: ""
log:
  level: debug
targets:
  - name: axigen
    vip: 127.0.0.1
    process:
      pidfile: $pidfile
      name: axigen-standin
    maintenance_file: $maint
    intentional_offline: true
    interval: 300ms
    fast_interval: 100ms
    timeout: 250ms
    degraded_after: 0s
    checks:
      - { name: smtp, protocol: smtp, port: $base, banner_regex: "Axigen ESMTP" }
      - { name: imap, protocol: imap, port: $((base + 1)) }
      - { name: pop3, protocol: pop3, port: $((base + 2)) }
      - { name: webmail, protocol: http, port: $((base + 3)), expect_header: "Server: Axigen-Webmail", weight: 0.5 }
      - { name: webadmin, protocol: http, port: $((base + 4)), weight: 0.25 }
      - { name: cli, protocol: cli, port: $((base + 5)), weight: 0.25 }
EOF
expect_code 0 "axprobe check-config on the test config" "$bin/axprobe" check-config --config "$work/axprobe.yaml"
"$bin/axprobe" run --config "$work/axprobe.yaml" </dev/null >"$work/axprobe.log" 2>&1 &
daemon_pid=$!
for ((i = 0; i < 100; i++)); do
	[[ -S $sock ]] && break
	sleep 0.1
done
if [[ -S $sock ]]; then
	pass "axprobe run serves $sock"
else
	fail "axprobe run: no socket after 10s"
	show "$work/axprobe.log" 20
	exit 1
fi

echo "== VCS agent (deploy/vcs/Axigen)"
vcs=$repo/deploy/vcs/Axigen
args=(axigen_app PidFile 1 "$pidfile" ProcessName 1 axigen-standin ProbeSocket 1 "$sock"
	ProbeTarget 1 axigen AxprobeMonitor 1 "$bin/axprobe-monitor" InitScript 1 "$init"
	OnlineWaitSeconds 1 20)

wait_code 100 10 "monitor: Axigen not started -> 100" "$vcs/monitor" "${args[@]}"
expect_code 0 "online (with AEPTimeout tuple) exits 0" "$vcs/online" "${args[@]}" AEPTimeout 1 300
expect_code 101-110 "monitor right after online returned: online waited for axprobe" "$vcs/monitor" "${args[@]}"
wait_code 110 15 "monitor: Axigen up -> 110" "$vcs/monitor" "${args[@]}"
expect_code 110 "monitor: tuples reordered, unknown tuples, empty vector, AEPTimeout" \
	"$vcs/monitor" axigen_app AEPTimeout 1 60 Extra 2 a b ProbeTarget 1 axigen Empty 0 \
	AxprobeMonitor 1 "$bin/axprobe-monitor" ProbeSocket 1 "$sock" PidFile 1 "$pidfile"
expect_code 99 "monitor: count that is not a number -> 99" "$vcs/monitor" axigen_app ProbeSocket x "$sock"
expect_code 99 "monitor: count beyond the arguments -> 99" "$vcs/monitor" axigen_app ProbeSocket 3 "$sock"
expect_code 99 "monitor: two values for ProbeSocket -> 99" "$vcs/monitor" axigen_app ProbeSocket 2 "$sock" "$sock"
expect_code 99 "monitor: OnlineWaitSeconds with a leading zero -> 99" "$vcs/monitor" "${args[@]}" OnlineWaitSeconds 1 010
expect_code 99 "monitor: missing AxprobeMonitor -> 99" "$vcs/monitor" "${args[@]}" AxprobeMonitor 1 "$work/nonexistent"
expect_code 99 "monitor: no arguments -> 99" "$vcs/monitor"

echo "== Application agent MonitorProgram (deploy/vcs/application.cf)"
monprog=$(sed -n 's/^ *MonitorProgram = "\(\/usr\/local\/bin\/axprobe-monitor[^"]*\)".*/\1/p' "$repo/deploy/vcs/application.cf")
monprog=${monprog//\/usr\/local\/bin\/axprobe-monitor/$bin/axprobe-monitor}
monprog=${monprog//\/run\/axprobe\/axprobe.sock/$sock}
if [[ $monprog == "$bin/axprobe-monitor "* ]]; then
	pass "application.cf has an axprobe-monitor MonitorProgram"
	expect_code 110 "MonitorProgram: Axigen up -> 110" sh -c "$monprog"
else
	fail "application.cf: no MonitorProgram = \"/usr/local/bin/axprobe-monitor ...\" found"
fi

echo "== init wrapper (deploy/vcs/axigen-vcs-init)"
wrap=("$repo/deploy/vcs/axigen-vcs-init" --init "$init" --monitor "$bin/axprobe-monitor" --socket "$sock" --target axigen)
expect_code 110 "axigen-vcs-init status: up -> 110" "${wrap[@]}" status
expect_code 99 "axigen-vcs-init: unknown action -> 99" "${wrap[@]}" restart
expect_code 99 "axigen-vcs-init: unknown option -> 99" "${wrap[@]}" --bogus status

echo "== maintenance (intentional_offline: true)"
touch "$maint"
wait_code 200 10 "VCS monitor: maintenance file -> 200 passed through" "$vcs/monitor" "${args[@]}"
expect_code 100 "axigen-vcs-init status: maintenance -> 100" "${wrap[@]}" status
expect_code 0 "OCF monitor: maintenance, Axigen running -> 0 (running, health not judged)" env OCF_RESKEY_init_script="$init" OCF_RESKEY_pidfile="$pidfile" \
	OCF_RESKEY_process_name=axigen-standin OCF_RESKEY_axprobe_monitor="$bin/axprobe-monitor" \
	OCF_RESKEY_socket="$sock" OCF_RESKEY_target=axigen "$repo/deploy/pacemaker/axigen" monitor
rm -f "$maint"
wait_code 101-110 10 "VCS monitor: maintenance over -> online" "$vcs/monitor" "${args[@]}"

echo "== offline and clean"
expect_code 0 "offline exits 0" "$vcs/offline" "${args[@]}" AEPTimeout 1 300
if standin_pid >/dev/null; then fail "offline left the stand-in running"; else pass "offline stopped the stand-in"; fi
wait_code 100 10 "monitor after offline -> 100" "$vcs/monitor" "${args[@]}"
if [[ -n ${monprog:-} ]]; then expect_code 100 "MonitorProgram: Axigen down -> 100" sh -c "$monprog"; fi
expect_code 100 "axigen-vcs-init status: down -> 100" "${wrap[@]}" status

expect_code 0 "axigen-vcs-init start" "${wrap[@]}" start
wait_code 110 15 "axigen-vcs-init status after start -> 110" "${wrap[@]}" status
victim=$(standin_pid || true)
expect_code 0 "clean (reason 2) with a broken init stop exits 0" \
	env FAKE_AXIGEN_STOP_BROKEN=1 "$vcs/clean" axigen_app 2 "${args[@]:1}" AEPTimeout 1 60
if [[ -n $victim ]] && ! standin_alive "$victim"; then
	pass "clean killed the stand-in (pid $victim)"
else
	fail "clean left the stand-in (pid ${victim:-none}) running"
fi
wait_code 100 10 "monitor after clean -> 100" "$vcs/monitor" "${args[@]}"

sleep 60 >/dev/null 2>&1 &
stranger=$!
echo "$stranger" >"$pidfile"
expect_code 0 "clean with a pidfile naming another program exits 0" "$vcs/clean" axigen_app 4 "${args[@]:1}"
if kill -0 "$stranger" 2>/dev/null; then pass "clean spared pid $stranger (sleep, not axigen-standin)"; else fail "clean killed pid $stranger, which is not axigen-standin"; fi
kill "$stranger" 2>/dev/null || true
wait "$stranger" 2>/dev/null || true
rm -f "$pidfile"
expect_code 1 "clean without a clean reason exits 1" "$vcs/clean" axigen_app

echo "== switchover: offline and stop return only once axprobe says offline"
# A second daemon on the same stand-in without a process gate: it learns that Axigen
# stopped only from the listeners, three failed rounds (about 1-2 s) after the process
# went. An entry point that returned as soon as the init script did would leave the very
# next monitor saying online; with the wait it says 100.
lagsock=$work/lag.sock
cat >"$work/lag.yaml" <<EOF
socket: $lagsock
http:
  listen: ""
targets:
  - &lag
    name: axigen
    vip: 127.0.0.1
    interval: 1s
    fast_interval: 300ms
    timeout: 250ms
    rise: 1
    fall: 3
    degraded_after: 0s
    checks:
      - { name: smtp, protocol: smtp, port: $base }
      - { name: imap, protocol: imap, port: $((base + 1)) }
  # For the OCF 1.1 mapping: "dead" is offline while Axigen runs (its one critical check
  # goes to a port nothing listens on); "half" (axigen's schedule, a YAML merge key) is
  # online below full confidence.
  - name: dead
    vip: 127.0.0.1
    interval: 1s
    fast_interval: 300ms
    timeout: 250ms
    rise: 1
    fall: 1
    checks:
      - { name: gone, protocol: tcp, port: 1, critical: true }
  - <<: *lag
    name: half
    checks:
      - { name: smtp, protocol: smtp, port: $base }
      - { name: gone, protocol: tcp, port: 1, weight: 0.25 }
EOF
"$bin/axprobe" run --config "$work/lag.yaml" </dev/null >"$work/lag.log" 2>&1 &
lag_pid=$!
lagargs=(axigen_app PidFile 1 "$pidfile" ProcessName 1 axigen-standin ProbeSocket 1 "$lagsock"
	ProbeTarget 1 axigen AxprobeMonitor 1 "$bin/axprobe-monitor" InitScript 1 "$init"
	OnlineWaitSeconds 1 20 OfflineWaitSeconds 1 20)
lagmon=("$bin/axprobe-monitor" --socket "$lagsock" --target axigen)
wait_code 100 10 "second daemon (no process gate) answers, Axigen stopped -> 100" "${lagmon[@]}"
expect_code 0 "VCS online" "$vcs/online" "${lagargs[@]}" AEPTimeout 1 300
wait_code 110 15 "VCS monitor after online -> 110" "$vcs/monitor" "${lagargs[@]}"
expect_code 0 "VCS offline exits 0" "$vcs/offline" "${lagargs[@]}" AEPTimeout 1 300
expect_code 100 "VCS monitor right after offline returned -> 100 (offline waited for axprobe)" "$vcs/monitor" "${lagargs[@]}"

ocf=(env OCF_RESOURCE_INSTANCE=axigen_app OCF_RESKEY_init_script="$init" OCF_RESKEY_pidfile="$pidfile" OCF_RESKEY_process_name=axigen-standin
	OCF_RESKEY_axprobe_monitor="$bin/axprobe-monitor" OCF_RESKEY_socket="$lagsock" OCF_RESKEY_target=axigen
	OCF_RESKEY_start_timeout=20 OCF_RESKEY_offline_wait=20 OCF_RESKEY_CRM_meta_timeout=60000)
agent=$repo/deploy/pacemaker/axigen
expect_code 0 "OCF start" "${ocf[@]}" "$agent" start
wait_code 110 15 "axprobe-monitor after OCF start -> 110" "${lagmon[@]}"
expect_code 0 "OCF stop" "${ocf[@]}" "$agent" stop
expect_code 100 "axprobe-monitor right after OCF stop returned -> 100 (stop waited for axprobe)" "${lagmon[@]}"
expect_code 7 "OCF monitor after stop -> 7" "${ocf[@]}" "$agent" monitor
expect_code 0 "OCF stop again (idempotent)" "${ocf[@]}" "$agent" stop

# The wait is bounded: a daemon that keeps saying online (here: Axigen left running by an
# init script whose stop does nothing) costs OfflineWaitSeconds, and offline says so.
expect_code 0 "VCS online again" "$vcs/online" "${lagargs[@]}"
wait_code 110 15 "VCS monitor -> 110" "$vcs/monitor" "${lagargs[@]}"

echo "== OCF 1.1 mapping of the Pacemaker agent (Axigen running)"
wait_code 100 10 "axprobe-monitor --target dead -> 100" "$bin/axprobe-monitor" --socket "$lagsock" --target dead
wait_code 101-109 10 "axprobe-monitor --target half -> 101-109" "$bin/axprobe-monitor" --socket "$lagsock" --target half
expect_code 0 "OCF monitor: process runs, axprobe 110 -> 0" "${ocf[@]}" "$agent" monitor
expect_code 1 "OCF monitor: process runs, axprobe 100 -> 1 (not 7: only a clean stop is 7)" \
	"${ocf[@]}" OCF_RESKEY_target=dead "$agent" monitor
expect_code 190 "OCF monitor: online below 100 % for an OCF 1.1 caller -> 190" \
	"${ocf[@]}" OCF_RESKEY_target=half OCF_RA_VERSION_MAJOR=1 OCF_RA_VERSION_MINOR=1 "$agent" monitor
expect_code 0 "OCF monitor: online below 100 % for an OCF 1.0 caller -> 0" \
	"${ocf[@]}" OCF_RESKEY_target=half OCF_RA_VERSION_MAJOR=1 OCF_RA_VERSION_MINOR=0 "$agent" monitor
expect_code 0 "OCF monitor: online below 100 %, no OCF version given -> 0" \
	"${ocf[@]}" OCF_RESKEY_target=half "$agent" monitor
expect_code 0 "OCF start on a degraded target succeeds (already running)" \
	"${ocf[@]}" OCF_RESKEY_target=half OCF_RA_VERSION_MAJOR=1 OCF_RA_VERSION_MINOR=1 "$agent" start

t0=$(date +%s)
expect_code 0 "VCS offline with a broken init stop and OfflineWaitSeconds 2 exits 0" \
	env FAKE_AXIGEN_STOP_BROKEN=1 "$vcs/offline" "${lagargs[@]}" OfflineWaitSeconds 1 2
t1=$(date +%s)
if grep -q 'OfflineWaitSeconds ran out' "$work/last.out" && ((t1 - t0 <= 6)); then
	pass "offline logged that OfflineWaitSeconds ran out and returned after $((t1 - t0))s"
else
	fail "offline: no 'OfflineWaitSeconds ran out' line, or it took $((t1 - t0))s (want <= 6)"
	show "$work/last.out" 5
fi
expect_code 0 "VCS offline (working init stop) after that" "$vcs/offline" "${lagargs[@]}"
if standin_pid >/dev/null; then fail "the stand-in still runs after offline"; else pass "the stand-in is stopped"; fi
kill "$lag_pid" 2>/dev/null || true
wait "$lag_pid" 2>/dev/null || true
lag_pid=

echo "== Pacemaker agent (deploy/pacemaker/axigen) with ocf-tester"
if command -v ocf-tester >/dev/null 2>&1; then
	expect_code 0 "ocf-tester deploy/pacemaker/axigen" ocf-tester -n axigen \
		-o init_script="$init" -o pidfile="$pidfile" -o process_name=axigen-standin \
		-o axprobe_monitor="$bin/axprobe-monitor" -o socket="$sock" -o target=axigen \
		-o start_timeout=20 "$repo/deploy/pacemaker/axigen"
	show "$work/last.out" 1000
	if standin_pid >/dev/null; then fail "ocf-tester left the stand-in running"; else pass "ocf-tester left nothing running"; fi
else
	fail "ocf-tester not available: Pacemaker agent not tested"
fi

if kill -0 "$daemon_pid" 2>/dev/null; then
	pass "axprobe daemon still running at the end"
else
	fail "axprobe daemon died during the test"
	show "$work/axprobe.log" 20
fi

if ! checks_summary; then
	echo "RESULT: FAIL"
	exit 1
fi
echo "RESULT: PASS"
