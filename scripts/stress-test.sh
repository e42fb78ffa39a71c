#!/usr/bin/env bash
# Runs the unit suite (go test -race ./..., without AXPROBE_INTEGRATION) RUNS times in a row
# while a load generator keeps every core busy, then prints, for every test that ran, how
# many runs it was in and how many of them it failed. A test that passes alone and fails
# here is a defect: tests wait on events, never on a few hundred milliseconds of wall clock
# (docs/TESTING.md, "On a loaded machine").
#
#   scripts/stress-test.sh [RUNS]         # default 20
#
# Environment:
#   STRESS_PKGS   packages to test (default ./...)
#   STRESS_LOAD   busy processes beside the suite (default: one per core)
#   STRESS_TIMEOUT  go test -timeout of one run (default 10m)
#
# Exits 0 when no run failed, 1 otherwise (the failing tests' output is printed), 2 on a
# usage error. The busy processes stop with the script, even when it is killed: each one
# spins only while the script's process exists. Needs jq (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
case ${1:-} in
-h | --help) usage; exit 0 ;;
esac
runs=${1:-20}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]] || ((runs > 1000)); then
	echo "stress-test: RUNS must be a whole number from 1 to 1000, not \"$runs\"" >&2
	exit 2
fi
load=${STRESS_LOAD:-$(nproc)}
if ! [[ $load =~ ^[0-9]+$ ]] || ((load > 64)); then
	echo "stress-test: STRESS_LOAD must be a whole number from 0 to 64, not \"$load\"" >&2
	exit 2
fi
read -r -a pkgs <<<"${STRESS_PKGS:-./...}"
timeout=${STRESS_TIMEOUT:-10m}
command -v jq >/dev/null || { echo "stress-test: needs jq (scripts/install-test-deps.sh)" >&2; exit 2; }

work=$(mktemp -d)
busy=()
gotest=""
cleanup() {
	for pid in "${busy[@]}" $gotest; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Build once, unloaded, so every run tests rather than compiles.
echo "stress-test: building the test binaries"
env -u AXPROBE_INTEGRATION go test -race -count=1 -run '^$' "${pkgs[@]}" >/dev/null

for ((i = 0; i < load; i++)); do
	sh -c 'while kill -0 "$1" 2>/dev/null; do :; done' busy "$$" &
	busy+=("$!")
done
echo "stress-test: $runs runs of go test -race ${pkgs[*]} beside $load busy processes on $(nproc) cores"

failed_runs=0
start=$SECONDS
for ((run = 1; run <= runs; run++)); do
	t0=$SECONDS
	json=$work/run$run.json
	# In the background and waited for, so a signal stops the script (and the run) at once.
	env -u AXPROBE_INTEGRATION go test -race -count=1 -json -timeout "$timeout" "${pkgs[@]}" >"$json" 2>"$work/run$run.err" &
	gotest=$!
	wait "$gotest" || true
	gotest=""
	# One line per finished test or package: "pass|fail<TAB>package<TAB>test<TAB>seconds"
	# (test "" for the package itself).
	jq -r 'select(.Action == "pass" or .Action == "fail") | [.Action, .Package, (.Test // ""), (.Elapsed // 0)] | @tsv' "$json" >"$work/run$run.tsv" 2>/dev/null || true
	fails=$(awk -F'\t' '$1 == "fail"' "$work/run$run.tsv" | wc -l)
	if [[ -s $work/run$run.err ]] && ! grep -q . "$work/run$run.tsv"; then
		fails=1 # nothing ran: a build or tool failure
	fi
	printf 'run %d/%d: %d s, %s\n' "$run" "$runs" $((SECONDS - t0)) "$([[ $fails -eq 0 ]] && echo ok || echo "FAILED")"
	if ((fails > 0)); then
		failed_runs=$((failed_runs + 1))
		# The output of each failed test (or package, for a failure outside any test).
		jq -j --slurpfile failed <(jq -c 'select(.Action == "fail") | [.Package, (.Test // "")]' "$json") \
			'select(.Action == "output") | select([.Package, (.Test // "")] as $k | $failed | index([$k])) | .Output' \
			"$json" | sed 's/^/    /' | tail -n 120
		sed 's/^/    /' "$work/run$run.err" | tail -n 40
	fi
done

echo
echo "stress-test: runs and failures per test ($runs runs, $((SECONDS - start)) s; subtests only where one failed)"
printf '%6s %6s  %s\n' runs fails test
cat "$work"/run*.tsv | awk -F'\t' '
	{ name = ($3 == "" ? $2 " (package)" : $2 "." $3); runs[name]++; if ($1 == "fail") fails[name]++ }
	{ if ($3 ~ /\//) sub_[name] = 1 }
	END { for (n in runs) if (!(n in sub_) || fails[n] > 0) printf "%6d %6d  %s\n", runs[n], fails[n] + 0, n }' |
	sort -k2,2nr -k3,3
echo
echo "stress-test: the slowest packages (mean seconds per run, under load)"
cat "$work"/run*.tsv | awk -F'\t' '$3 == "" { t[$2] += $4; n[$2]++ } END { for (p in t) printf "%8.1f  %s\n", t[p] / n[p], p }' |
	sort -rn | head -n 8
tests=$(cat "$work"/run*.tsv | awk -F'\t' '$3 != "" && $3 !~ /\//' | cut -f2,3 | sort -u | wc -l)
echo "stress-test: $runs runs, $failed_runs failed; $tests top-level tests per run"
((failed_runs == 0))
