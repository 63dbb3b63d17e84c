#!/usr/bin/env bash
# Runs the ava suite and ends with one plain summary line, "tests: N passed, N failed", that any
# CI log reader understands; the exit code is non-zero when any test failed.
# A whole-suite run (no arguments) keeps every `krew-wasm:` line the tests' processes printed
# (test/helpers/cli.ts) and then runs the docs check (test/docs/errors.check.ts): each message
# docs/errors.md lists must have been printed by some test.
set -uo pipefail
log=$(mktemp)
messages=$(mktemp -d)
trap 'rm -rf "$log" "$messages"' EXIT
export KREW_WASM_TEST_MESSAGE_LOG=$messages
node_modules/.bin/ava "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ $# -eq 0 ]; then
  node_modules/.bin/ava --config ava.docs.config.mjs 2>&1 | tee -a "$log"
  docs=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] && status=$docs
fi
# Counted from ava's line per test (its closing summary leaves out the passes when something failed).
count() { grep -cE "$1" "$log"; }
known=$(count '^ +✔ \[expected fail\]')
passed=$(( $(count '^ +✔ ') - known ))
failed=$(count '^ +✘ ')
skipped=$(count '^ +- \[skip\]')
echo "tests: $passed passed, $failed failed$( [ "$known" -gt 0 ] && echo ", $known known failures")$( [ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then echo "no test ran" >&2; exit 1; fi
exit "$status"
