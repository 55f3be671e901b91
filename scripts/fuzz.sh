#!/usr/bin/env bash
# The sanitizer stage: a clang build with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (build-fuzz/), the unit suite and every corpus
# replay under the sanitizers, then each fuzzer for FUZZ_SECONDS (default 60)
# on a scratch copy of its corpus, two at a time. Any crash, leak or
# sanitizer report fails the stage. Prints executions per second per target.
#
#   scripts/fuzz.sh                 (after scripts/setup.sh)
#   FUZZ_SECONDS=600 scripts/fuzz.sh
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz --wrap-mode=nodownload \
    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dwerror="${LIBMAPS_WERROR:-false}" >/dev/null || exit 1
else
  meson configure build-fuzz -Dwerror="${LIBMAPS_WERROR:-false}" >/dev/null || exit 1
fi
ninja -C build-fuzz -j"$(nproc)" || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Unit tests and corpus replays under the sanitizers (the slow differential
# suites run in the plain build only).
meson test -C build-fuzz --suite unit --suite cli --suite fuzz \
  --num-processes 2 --print-errorlogs || exit 1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
run_one() {
  local name=$1 exe=build-fuzz/tests/fuzz/$1_fuzzer dict=()
  [ -f "tests/fuzz/$1_fuzzer.dict" ] && dict=(-dict="tests/fuzz/$1_fuzzer.dict")
  mkdir -p "$work/$name/corpus" "build-fuzz/fuzz-artifacts/$name"
  cp -r "tests/fuzz/corpus/$name/." "$work/$name/corpus/"
  # -max_len keeps inputs within each target's own size cap.
  "$exe" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -timeout=30 \
    -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/fuzz-artifacts/$name/" "$work/$name/corpus" \
    >"$work/$name/log" 2>&1
}
names=$(ls tests/fuzz/corpus | grep -v README)
set -- $names
while [ $# -gt 0 ]; do
  run_one "$1" & p1=$!
  p2=
  if [ $# -gt 1 ]; then run_one "$2" & p2=$!; fi
  for n in 1 2; do
    pid=$([ $n = 1 ] && echo $p1 || echo $p2)
    [ -n "$pid" ] || continue
    name=$([ $n = 1 ] && echo "$1" || echo "$2")
    if wait "$pid"; then
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name/log" | grep -o '[0-9]*$')
      rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$work/$name/log" | grep -o '[0-9]*$')
      echo "fuzz $name: OK, ${execs:-?} executions in ${seconds}s (${rate:-?}/s)"
    else
      echo "fuzz $name: FAILED"; tail -40 "$work/$name/log"
      for a in build-fuzz/fuzz-artifacts/"$name"/*; do
        [ -f "$a" ] || continue
        echo "input $a:"; od -A d -c "$a" | head -20
      done
      status=1
    fi
  done
  shift; [ $# -gt 0 ] && shift
done
exit $status
