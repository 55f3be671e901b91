#!/usr/bin/env bash
# Sets up and builds libmaps (scripts/setup.sh), then runs every test suite
# (unit, cli, compat against real postmap) and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
meson test -C build --num-processes 2 --print-errorlogs
status=$?
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
# A skipped test is not a pass: count it as failed for the closing line.
print(f"{passed} passed, {failed + skipped} failed")
sys.exit(1 if failed + skipped else 0)
PY
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
