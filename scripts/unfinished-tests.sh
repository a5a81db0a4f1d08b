#!/usr/bin/env bash
# Names the tests a `swift test` log shows as started and never passed, failed or skipped (for a run cut off by a
# timeout). Swift Testing lines look like "◇ Test name() started." / "✔ Test name() passed after …" / "✘ Test name()
# failed …"; XCTest's like "Test Case '-[Suite test]' started." / "… passed (…)" / "… failed (…)".
set -euo pipefail
log=${1:?usage: unfinished-tests.sh LOG}
started=$(mktemp); ended=$(mktemp)
trap 'rm -f "$started" "$ended"' EXIT
sed -n -e 's/^.*◇ Test \(.*\) started\.$/\1/p' -e "s/^Test Case '\(.*\)' started\.\$/\1/p" "$log" | sort -u > "$started"
sed -n -e 's/^.*[✔✘↳] Test \(.*\) \(passed\|failed\|skipped\).*$/\1/p' -e 's/^.*➜ Test \(.*\) skipped.*$/\1/p' \
       -e "s/^Test Case '\(.*\)' \(passed\|failed\|skipped\).*\$/\1/p" "$log" | sed 's/ with [0-9]* test cases\{0,1\}$//' | sort -u > "$ended"
comm -23 "$started" "$ended" | sed 's/^/  /'
