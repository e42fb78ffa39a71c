# shellcheck shell=bash
# The PASS/FAIL bookkeeping of the deployment test scripts (test-deploy.sh,
# test-package.sh, test-container.sh). Source it; call pass/fail per check and
# checks_summary at the end (it returns 1 when any check failed).

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

# checks_summary prints the counts and every failed check's name; returns 1 if any failed.
checks_summary() {
	echo
	echo "== summary: $passed passed, $failed failed"
	if ((failed > 0)); then
		printf '  FAILED: %s\n' "${failures[@]}"
		return 1
	fi
}
