#!/usr/bin/env bash
# Checks run as bash -c '...' with their own $(...), expanded there, not here:
# shellcheck disable=SC2016
# Tests axprobe's packages (scripts/build-packages.sh): builds the .deb and the .rpm,
# checks the .rpm with rpm -qpl / -qpi / -qpc, then on THIS machine installs the .deb with
# dpkg, checks what it put where, runs `axprobe check-config` on the installed example,
# starts the installed daemon as the packaged axprobe user against axigen-standin (socket,
# /metrics, the packaged VCS and OCF agents against it), upgrades it (the edited config
# stays), removes it (the config stays) and purges it (the config goes).
#
# Run as root (dpkg) on Debian; it refuses to run when an axprobe package is already
# installed. Needs Go, rpm, xmllint, curl. Prints PASS/FAIL per check and exits 1 on any
# failure; whatever it installed or started is purged or stopped on exit.
#
#   sudo scripts/test-package.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/axpkg.XXXXXX)
chmod 0755 "$work" # the axprobe user reads its config and serves its socket under here
daemon_pid=
installed=false

# shellcheck source=scripts/lib/checks.sh
source "$repo/scripts/lib/checks.sh"
# shellcheck source=scripts/lib/standin.sh
source "$repo/scripts/lib/standin.sh"

cleanup() {
	set +e
	if [[ -n $daemon_pid ]]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	if [[ -n ${standin_pid:-} ]]; then
		kill "$standin_pid" 2>/dev/null
		wait "$standin_pid" 2>/dev/null
	fi
	if $installed; then
		dpkg --purge axprobe >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "test-package: must run as root (it installs the .deb with dpkg)" >&2
	exit 1
fi
if dpkg-query -W -f='${Status}' axprobe 2>/dev/null | grep -q 'installed\|config-files'; then
	echo "test-package: an axprobe package is already on this machine; purge it first (dpkg --purge axprobe)" >&2
	exit 1
fi
for tool in rpm xmllint curl go; do
	command -v "$tool" >/dev/null || {
		echo "test-package: $tool missing (scripts/install-test-deps.sh installs it)" >&2
		exit 1
	}
done

echo "== build"
check "go vet of the packaging program (build/package, its own module)" bash -c "cd '$repo/build/package' && go vet ."
dist=$work/dist
if "$repo/scripts/build-packages.sh" "$dist" >"$work/build.out" 2>&1; then
	pass "scripts/build-packages.sh"
else
	fail "scripts/build-packages.sh"
	show "$work/build.out" 30
	exit 1
fi
deb=$(grep '\.deb$' "$work/build.out")
rpmf=$(grep '\.rpm$' "$work/build.out")
version=$(dpkg-deb -f "$deb" Version)
version=${version%-1}
echo "   $deb"
echo "   $rpmf"

# The files every package must hold.
want_files=(
	/usr/bin/axprobe /usr/bin/axprobe-monitor
	/usr/lib/systemd/system/axprobe.service
	/etc/axprobe/axprobe.yaml
	/usr/lib/ocf/resource.d/axprobe/axigen
	/opt/VRTSvcs/bin/Axigen/monitor /opt/VRTSvcs/bin/Axigen/online /opt/VRTSvcs/bin/Axigen/offline
	/opt/VRTSvcs/bin/Axigen/clean /opt/VRTSvcs/bin/Axigen/axigen-lib.sh /opt/VRTSvcs/bin/Axigen/AxigenAgent
	/usr/libexec/axprobe/axigen-vcs-init
	/usr/share/axprobe/vcs/AxigenTypes.cf
	/usr/share/axprobe/prometheus/alerts.yml /usr/share/axprobe/prometheus/slo.yml
	/usr/share/axprobe/grafana/axprobe.json
	/usr/share/doc/axprobe/README.md /usr/share/doc/axprobe/DEPLOY.md /usr/share/doc/axprobe/CONFIG.md
)

echo "== rpm (rpm -qpl, -qpi, -qpc)"
rpm -qpl "$rpmf" >"$work/rpm.list" 2>"$work/rpm.err"
for f in "${want_files[@]}"; do
	grep -qxF "$f" "$work/rpm.list" || fail "rpm -qpl lacks $f"
done
pass "rpm -qpl lists all ${#want_files[@]} expected files ($(wc -l <"$work/rpm.list") in all)"
rpm -qpi "$rpmf" >"$work/rpm.info" 2>&1
for field in "Name        : axprobe" "Version     : $version" "Architecture: x86_64" "Summary     : Health-probe daemon"; do
	if grep -qF "$field" "$work/rpm.info"; then pass "rpm -qpi: $field"; else fail "rpm -qpi lacks '$field'"; fi
done
check "rpm -qpc: /etc/axprobe/axprobe.yaml is the config file" \
	bash -c "[[ \$(rpm -qpc '$rpmf' 2>/dev/null) == /etc/axprobe/axprobe.yaml ]]"
# %config(noreplace): rpm's flags say "c" (config) and "n" (noreplace).
check "rpm: the config is %config(noreplace), mode 0640 root:axprobe" \
	bash -c "rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME}\n]' '$rpmf' 2>/dev/null |
		grep -qx '/etc/axprobe/axprobe.yaml cn -rw-r----- root:axprobe'"
check "rpm: %pre creates the axprobe user" bash -c "rpm -qp --scripts '$rpmf' 2>/dev/null | grep -q 'useradd --system'"

echo "== deb: dpkg -i"
check "dpkg-deb: /etc/axprobe/axprobe.yaml is a conffile" \
	bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/axprobe/axprobe.yaml"
if dpkg -i "$deb" >"$work/last.out" 2>&1; then
	installed=true
	pass "dpkg -i $(basename "$deb")"
else
	installed=true
	fail "dpkg -i"
	show "$work/last.out" 20
	exit 1
fi
for f in "${want_files[@]}"; do
	[[ -e $f || -L $f ]] || fail "installed package lacks $f"
done
pass "every expected file is installed"
check "axprobe system user and group exist, no login shell" \
	bash -c '[[ $(getent passwd axprobe | cut -d: -f7) == /usr/sbin/nologin ]] && getent group axprobe >/dev/null && (( $(id -u axprobe) < 1000 ))'
check "/etc/axprobe is 750 root:axprobe, the config 640 root:axprobe" \
	bash -c '[[ $(stat -c "%a %U:%G" /etc/axprobe) == "750 root:axprobe" && $(stat -c "%a %U:%G" /etc/axprobe/axprobe.yaml) == "640 root:axprobe" ]]'
check "axprobe version is the package's ($version)" bash -c "/usr/bin/axprobe version | grep -qF -- '$version'"
check "no packaged file points at /usr/local/bin or /opt/axprobe (paths rewritten)" \
	bash -c "! dpkg -L axprobe | while read -r f; do [[ -f \$f && ! \$f =~ \.png$ && ! \$f =~ /usr/bin/ ]] && echo \"\$f\"; done | xargs grep -lE '/usr/local/bin/axprobe|/opt/axprobe/bin' 2>/dev/null | grep ."
check "the unit starts /usr/bin/axprobe" grep -qx 'ExecStart=/usr/bin/axprobe run --config /etc/axprobe/axprobe.yaml' /usr/lib/systemd/system/axprobe.service
if command -v systemd-analyze >/dev/null 2>&1; then
	check "systemd-analyze verify the installed unit" bash -c \
		'systemd-analyze verify /usr/lib/systemd/system/axprobe.service >"$0" 2>&1; ! grep -qiE "unknown|invalid|ignoring|failed|not executable" "$0"' "$work/verify.out"
fi
check "OCF agent meta-data is valid XML" bash -c \
	'OCF_ROOT=/usr/lib/ocf /usr/lib/ocf/resource.d/axprobe/axigen meta-data | xmllint --noout -'

echo "== check-config on the installed example (as the axprobe user)"
code=0
runuser -u axprobe -- /usr/bin/axprobe check-config --config /etc/axprobe/axprobe.yaml >"$work/last.out" 2>&1 || code=$?
if [[ $code == 1 ]] && grep -q 'password_file: .*/etc/axprobe/probe.pw' "$work/last.out"; then
	pass "check-config before the probe password exists: exit 1 naming /etc/axprobe/probe.pw"
else
	fail "check-config before the password files: exit $code"
	show "$work/last.out" 1000
fi
# What the admin does after installing (docs/DEPLOY.md, "Packages"): one file for every
# password_file the example names (the list follows the example as checks are added).
mapfile -t pwfiles < <(sed -n 's/^[[:space:]]*password_file:[[:space:]]*\(\/etc\/axprobe\/[A-Za-z0-9._-]*\)[[:space:]]*$/\1/p' /etc/axprobe/axprobe.yaml | sort -u)
((${#pwfiles[@]} > 0)) || fail "the installed example names no password_file under /etc/axprobe"
for pw in "${pwfiles[@]}"; do
	install -m 0640 -o root -g axprobe /dev/null "$pw"
	echo "not-a-real-password" >"$pw"
done
check "check-config on the installed example with its password files: exit 0" \
	runuser -u axprobe -- /usr/bin/axprobe check-config --config /etc/axprobe/axprobe.yaml

echo "== the installed daemon as the axprobe user, against axigen-standin"
base=$(free_ports 7) || {
	fail "no seven free consecutive ports"
	exit 1
}
build_static "$work" test-package axigen-standin
mkdir -p "$work/run" "$work/axigen"
chown axprobe:axprobe "$work/run"
chmod 0750 "$work/run"
pidfile=$work/axigen/axigen.pid
sock=$work/run/axprobe.sock
"$work/axigen-standin" --base-port "$base" --pidfile "$pidfile" </dev/null >"$work/standin.log" 2>&1 &
standin_pid=$!
standin_config "$sock" "$base" "$pidfile" >"$work/axprobe.yaml"
chmod 0644 "$work/axprobe.yaml"
runuser -u axprobe -- /usr/bin/axprobe run --config "$work/axprobe.yaml" </dev/null >"$work/daemon.log" 2>&1 &
daemon_pid=$!
# The shim believes only root or --daemon-uid (docs/SOCKET.md, "Who may answer").
axuid=$(id -u axprobe)
before=$failed
wait_code 110 30 "axprobe-monitor --daemon-uid $axuid through the daemon's socket: 110 (online, 100 %)" \
	/usr/bin/axprobe-monitor --socket "$sock" --target axigen --daemon-uid "$axuid"
((failed == before)) || { show "$work/daemon.log" && show "$work/standin.log"; }
# The daemon's pid is runuser's child; its real uid must be axprobe's.
dpid=$(pgrep -P "$daemon_pid" -x axprobe || echo "$daemon_pid")
check "the daemon runs as the axprobe user (uid $(id -u axprobe)), not root" \
	bash -c "[[ \$(awk '/^Uid:/ {print \$2}' /proc/$dpid/status) == $(id -u axprobe) ]]"
check "the socket belongs to the axprobe user" bash -c "[[ \$(stat -c %U '$sock') == axprobe ]]"
check "/metrics answers: axigen online" bash -c \
	"curl -fsS --max-time 10 http://127.0.0.1:$((base + 6))/metrics | grep -qx 'axprobe_state{state=\"online\",target=\"axigen\"} 1'"
# Without --daemon-uid the shim does not trust a daemon that is not root's: 100, never 110.
# The packaged VCS monitor (its AxprobeMonitor default rewritten to /usr/bin/axprobe-monitor)
# passes no uid, so it must answer the same 100: 99 would mean it found no axprobe-monitor.
check "axprobe-monitor without --daemon-uid refuses the non-root daemon's answer: 100" bash -c \
	"/usr/bin/axprobe-monitor --socket '$sock' --target axigen; [[ \$? == 100 ]]"
check "the packaged VCS monitor runs /usr/bin/axprobe-monitor (its default): 100, not 99" bash -c \
	"/opt/VRTSvcs/bin/Axigen/monitor axigen_app ProbeSocket 1 '$sock' ProbeTarget 1 axigen PidFile 1 '$pidfile' ProcessName 1 axigen-standin; [[ \$? == 100 ]]"
kill "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=

echo "== upgrade: the edited config stays"
echo "# edited by the admin" >>/etc/axprobe/axprobe.yaml
next="$version.1"
if (cd "$repo/build/package" && go run . --repo "$repo" --bin "$dist/bin" --version "$next" --out "$work/dist2" --formats deb) >"$work/last.out" 2>&1 &&
	dpkg -i "$work/dist2"/axprobe_*.deb >>"$work/last.out" 2>&1; then
	pass "dpkg -i of version $next over $version"
else
	fail "upgrade to $next"
	show "$work/last.out"
fi
check "after the upgrade dpkg reports $next" bash -c "[[ \$(dpkg-query -W -f='\${Version}' axprobe) == '$next-1' ]]"
check "after the upgrade the admin's edit of axprobe.yaml is still there" grep -qx '# edited by the admin' /etc/axprobe/axprobe.yaml

echo "== remove (config kept) and purge (config gone)"
check "dpkg -r axprobe" dpkg -r axprobe
check "after remove: binaries gone" bash -c '[[ ! -e /usr/bin/axprobe && ! -e /usr/bin/axprobe-monitor && ! -e /usr/lib/ocf/resource.d/axprobe/axigen ]]'
check "after remove: /etc/axprobe/axprobe.yaml kept, with the edit" grep -qx '# edited by the admin' /etc/axprobe/axprobe.yaml
check "after remove: dpkg says config-files" bash -c "[[ \$(dpkg-query -W -f='\${Status}' axprobe) == 'deinstall ok config-files' ]]"
check "dpkg -P axprobe" dpkg -P axprobe
installed=false
check "after purge: /etc/axprobe gone (config and password files)" bash -c '[[ ! -e /etc/axprobe ]]'
check "after purge: dpkg knows no axprobe" bash -c "! dpkg-query -W -f='\${Status}' axprobe 2>/dev/null | grep -q ."

checks_summary
