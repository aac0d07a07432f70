#!/usr/bin/env bash
# Checks the Prometheus alerting rules: `promtool check rules` (syntax, templates,
# lint) and `promtool test rules` (unit tests in imichat.rules_test.yml). Exits non-zero
# on any finding. Usage: alerts/check.sh  (PROMTOOL=/path/to/promtool to override).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
promtool="${PROMTOOL:-promtool}"

if ! command -v "$promtool" >/dev/null 2>&1; then
	echo "alerts/check.sh: promtool not found; install Debian's 'prometheus' package (apt-get install prometheus) or set PROMTOOL" >&2
	exit 1
fi

cd "$here"

# promtool exits 0 on lint warnings in some versions; treat any output line that is
# not a plain success report as a finding.
run() {
	local out rc=0
	out="$("$promtool" "$@" 2>&1)" || rc=$?
	printf '%s\n' "$out"
	if [ "$rc" -ne 0 ]; then
		echo "alerts/check.sh: promtool $* failed (exit $rc)" >&2
		exit "$rc"
	fi
	if printf '%s\n' "$out" | grep -Eiv '^(Checking |Unit Testing: |  SUCCESS|$)' | grep -q .; then
		echo "alerts/check.sh: promtool $* reported findings" >&2
		exit 1
	fi
}

run check rules --lint=all --lint-fatal imichat.rules.yml
run test rules imichat.rules_test.yml
echo "alerts/check.sh: OK"
