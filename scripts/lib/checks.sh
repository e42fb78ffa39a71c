# shellcheck shell=bash disable=SC2154 # $work is the sourcing script's
# The PASS/FAIL bookkeeping of the deployment test scripts (test-deploy.sh,
# test-package.sh, test-container.sh). Source it after setting $work (the script's
# temporary directory: a command's output goes to $work/last.out); call pass/fail or one
# of the checks below per check, and checks_summary at the end (it returns 1 when any
# check failed).

passed=0
failed=0
failures=()

pass() {
	passed=$((passed + 1))
	printf 'PASS  %s\n' "$1"
}

fail() {
	failed=$((failed + 1))
	failures+=("$1")
	printf 'FAIL  %s\n' "$1"
}

# show FILE [LINES]: the last LINES (default 15) lines of FILE, indented under a check.
show() {
	sed 's/^/      | /' "$1" | tail -n "${2:-15}"
}

# check NAME CMD...: passes NAME when CMD succeeds; else shows its output.
check() {
	local name=$1
	shift
	if "$@" >"$work/last.out" 2>&1; then
		pass "$name"
	else
		fail "$name"
		show "$work/last.out"
	fi
}

# in_range CODE WANT: CODE equals WANT, or lies in WANT written as "LOW-HIGH".
in_range() {
	if [[ $2 == *-* ]]; then
		(($1 >= ${2%-*} && $1 <= ${2#*-}))
	else
		(($1 == $2))
	fi
}

# expect_code WANT NAME CMD...: runs CMD and checks its exit status; WANT may be a range
# "101-110".
expect_code() {
	local want=$1 name=$2 code=0
	shift 2
	"$@" >"$work/last.out" 2>&1 || code=$?
	if in_range "$code" "$want"; then
		pass "$name (exit $code)"
	else
		fail "$name: exit $code, want $want"
		show "$work/last.out"
	fi
}

# wait_code WANT SECONDS NAME CMD...: runs CMD every 0.1 s until its exit status is WANT,
# at most SECONDS; passes or fails NAME.
wait_code() {
	local want=$1 seconds=$2 name=$3 code=0 i
	shift 3
	for ((i = 0; i < seconds * 10; i++)); do
		code=0
		"$@" >"$work/last.out" 2>&1 || code=$?
		if in_range "$code" "$want"; then
			pass "$name (exit $code after ~$((i / 10)).$((i % 10))s)"
			return 0
		fi
		sleep 0.1
	done
	fail "$name: exit $code after ${seconds}s, want $want"
	show "$work/last.out"
}

# checks_summary prints the counts and every failed check's name; returns 1 if any failed.
checks_summary() {
	echo
	echo "== summary: $passed passed, $failed failed"
	if ((failed > 0)); then
		printf '  FAILED: %s\n' "${failures[@]}"
		return 1
	fi
}
