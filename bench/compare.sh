#!/usr/bin/env bash
# Side-by-side figures for docs/benchmarks.md: builds the benchmarks if
# needed, then runs bench/compare.py (real postmap vs cmap, in-process
# lookups vs their anchors, interleaved repetitions, medians, goal ratios).
#
#   bench/compare.sh                 # build-bench/, 5 repetitions (~10 min)
#   bench/compare.sh --quick         # smoke test: 1 repetition
#   BUILD=dir bench/compare.sh --out /tmp/report.md
#
# Needs Debian's postfix, postfix-lmdb, libdb5.3-dev, liblmdb-dev and
# libbenchmark-dev (scripts/setup.sh installs them). Take figures on a quiet
# machine: the report records the load average at its start and end.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-bench}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --wrap-mode=nodownload -Dbench=true -Dtests=false \
    -Dbuildtype=release >/dev/null
fi
ninja -C "$build" -j"${JOBS:-2}" >/dev/null
exec python3 bench/compare.py --build-dir "$build" "$@"
