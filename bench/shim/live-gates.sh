#!/usr/bin/env bash
# Does reading the local facts at answer time slow the VCS monitor? Runs axprobe-monitor
# against two real daemons side by side in one hyperfine run: this tree's daemon (VIP,
# process and storage mount read at the moment of every answer) and a baseline daemon
# binary given as $BASELINE_AXPROBE (e.g. one built from an older commit), both watching
# the same axigen-standin with the same config, plus a hello-world binary for scale.
#
# Usage: BASELINE_AXPROBE=/path/to/old/axprobe bench/shim/live-gates.sh [extra hyperfine flags]
#        BENCH_RUNS=300 (default) BENCH_WARMUP=20
# Needs root (the storage gate's mount is a tmpfs) and hyperfine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${BASELINE_AXPROBE:?set BASELINE_AXPROBE to the daemon binary to compare against}"
[[ -x $BASELINE_AXPROBE ]] || { echo "live-gates: $BASELINE_AXPROBE is not an executable" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "live-gates: must run as root (it mounts a tmpfs)" >&2; exit 2; }
work=$(mktemp -d /tmp/axprobe-livegates.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	umount "$work/storage" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

build() { (cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$1" "$2"); }
build "$work/hello" ./bench/shim/hello
build "$work/axprobe-monitor" ./cmd/axprobe-monitor
build "$work/axprobe" ./cmd/axprobe
build "$work/axigen-standin" ./cmd/axigen-standin

mkdir "$work/storage"
mount -t tmpfs -o size=1m axprobe-livegates "$work/storage"
base=$((20000 + RANDOM % 20000))
"$work/axigen-standin" --ip 127.0.0.1 --base-port "$base" --pidfile "$work/axigen.pid" >"$work/standin.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/axigen.pid ]] && break; sleep 0.1; done

config() { # config <name>
	cat <<YAML
socket: $work/$1.sock
http: { listen: "" }
targets:
  - name: axigen
    vip: 127.0.0.1
    process: { pidfile: $work/axigen.pid, name: axigen-standin }
    storage: { path: $work/storage }
    checks:
      - { name: smtp, protocol: smtp, port: $base }
      - { name: imap, protocol: imap, port: $((base + 1)) }
      - { name: pop3, protocol: pop3, port: $((base + 2)) }
YAML
}
for d in new:"$work/axprobe" baseline:"$BASELINE_AXPROBE"; do
	name=${d%%:*} bin=${d#*:}
	config "$name" >"$work/$name.yaml"
	"$bin" run --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
	pids+=($!)
done
for name in new baseline; do
	ok=no
	for _ in $(seq 300); do
		code=0; "$work/axprobe-monitor" --socket "$work/$name.sock" >/dev/null 2>&1 || code=$?
		if ((code >= 101 && code <= 110)); then ok=yes; break; fi
		sleep 0.1
	done
	[[ $ok == yes ]] || { echo "live-gates: the $name daemon never answered online; log:" >&2; cat "$work/$name.log" >&2; exit 1; }
done

hyperfine -N -i --warmup "${BENCH_WARMUP:-20}" --runs "${BENCH_RUNS:-300}" --export-json "$work/h.json" "$@" \
	-n hello-world "$work/hello" \
	-n "axprobe-monitor → baseline daemon" "$work/axprobe-monitor --socket $work/baseline.sock" \
	-n "axprobe-monitor → this daemon (live facts)" "$work/axprobe-monitor --socket $work/new.sock" >&2
python3 "$repo/bench/report.py" hyperfine "$work/h.json" hello-world
