#!/usr/bin/env bash
# Sets up and builds libmaps (scripts/setup.sh), then runs every test:
#  1. the plain build's suites: unit, cli, fuzz corpus replays, and compat
#     (differential tests against real postmap and libdb);
#  2. the sanitizer stage (scripts/fuzz.sh): unit, cli and corpus replays
#     under ASan + UBSan, and each libFuzzer target for FUZZ_SECONDS (60).
# Ends with "N passed, N failed"; a skipped test counts as failed.
# SKIP_FUZZ=1 leaves out stage 2 (for a quick local run).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

meson test -C build --num-processes 2 --print-errorlogs
plain=$?

fuzz_log=$(mktemp)
trap 'rm -f "$fuzz_log"' EXIT
sanitizer=0
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh 2>&1 | tee "$fuzz_log"
  sanitizer=${PIPESTATUS[0]}
fi

python3 - "$fuzz_log" build/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json <<'PY'
import json, os, re, sys
passed = failed = 0
for path in sys.argv[2:]:
    if path.startswith("build-fuzz") and os.path.getsize(sys.argv[1]) == 0:
        continue  # stage 2 skipped
    if not os.path.exists(path):
        failed += 1  # the stage did not get as far as its tests
        continue
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:  # FAIL, TIMEOUT, ERROR, SKIP: a skip is not a pass
            failed += 1
for line in open(sys.argv[1], errors="replace"):
    if re.match(r"fuzz \S+: OK", line):
        passed += 1
    elif re.match(r"fuzz \S+: FAILED", line):
        failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
summary=$?
[ $plain -eq 0 ] && [ $sanitizer -eq 0 ] && [ $summary -eq 0 ]
