#!/usr/bin/env bash
# Measures the start-up cost of the VCS monitor shim.
#
# Builds (static, CGO_ENABLED=0 -trimpath -ldflags='-s -w') a hello-world Go binary,
# axprobe-monitor, the big axprobe binary and a fake daemon serving MONITOR on a temp
# socket, then runs hyperfine over /bin/true, hello-world, axprobe-monitor and
# "axprobe monitor" and prints a markdown table with the ratio axprobe-monitor / hello.
#
# Usage: bench/shim/run.sh [extra hyperfine flags]     (run from anywhere in the repo)
#        BENCH_RUNS=5 BENCH_WARMUP=1 bench/shim/run.sh    (a quick smoke run, as CI does)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/axprobe-bench.XXXXXX)
daemon_pid=""
cleanup() {
	if [[ -n "$daemon_pid" ]]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! command -v hyperfine >/dev/null; then
	echo "hyperfine not found; installing it with apt-get" >&2
	apt-get install -y hyperfine >&2
fi

build() { # build <output> <package>
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$1" "$2")
}
build "$work/hello" ./bench/shim/hello
build "$work/axprobe-monitor" ./cmd/axprobe-monitor
build "$work/fakedaemon" ./bench/shim/fakedaemon
big=yes
if ! build "$work/axprobe" ./cmd/axprobe 2>"$work/big.err"; then
	echo "cmd/axprobe does not build; leaving 'axprobe monitor' out:" >&2
	cat "$work/big.err" >&2
	big=no
fi

socket="$work/axprobe.sock"
"$work/fakedaemon" --socket "$socket" &
daemon_pid=$!
for _ in $(seq 100); do
	[[ -S "$socket" ]] && break
	sleep 0.05
done
[[ -S "$socket" ]] || { echo "fake daemon did not start" >&2; exit 1; }

# Check the shim really answers 110 before timing it.
set +e
"$work/axprobe-monitor" --socket "$socket" >/dev/null
code=$?
set -e
if [[ $code -ne 110 ]]; then
	echo "axprobe-monitor exited $code against the fake daemon, want 110" >&2
	exit 1
fi

cmds=(-n /bin/true /bin/true -n hello-world "$work/hello"
	-n axprobe-monitor "$work/axprobe-monitor --socket $socket")
if [[ $big == yes ]]; then
	cmds+=(-n "axprobe monitor" "$work/axprobe monitor --socket $socket")
fi
# The monitor exits 110 by design: -i ignores non-zero exit codes.
hyperfine -N -i --warmup "${BENCH_WARMUP:-20}" --runs "${BENCH_RUNS:-300}" --export-json "$work/result.json" "$@" "${cmds[@]}" >&2

python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
# Medians: this machine is shared, and a few slow outliers dominate the mean.
hello = res["hello-world"]["median"]
print("| command | median (ms) | mean (ms) | min (ms) | median × hello-world |")
print("|---|---:|---:|---:|---:|")
for name, r in res.items():
    print(f"| {name} | {r['median']*1e3:.2f} | {r['mean']*1e3:.2f} | {r['min']*1e3:.2f} | {r['median']/hello:.2f} |")
print()
print(f"axprobe-monitor / hello-world (median) = {res['axprobe-monitor']['median']/hello:.2f} (goal ≤ 2)")
PY
