#!/usr/bin/env bash
# Runs the ava suite and ends with one plain summary line, "tests: N passed, N failed", that any
# CI log reader understands; the exit code is ava's.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
node_modules/.bin/ava "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -oE '^ +([0-9]+) tests? passed' "$log" | grep -oE '[0-9]+' | tail -1)
failed=$(grep -oE '^ +([0-9]+) tests? failed' "$log" | grep -oE '[0-9]+' | tail -1)
skipped=$(grep -oE '^ +([0-9]+) tests? skipped' "$log" | grep -oE '[0-9]+' | tail -1)
echo "tests: ${passed:-0} passed, ${failed:-0} failed${skipped:+, $skipped skipped}"
if [ "$status" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
