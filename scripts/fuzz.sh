#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) in their own build directory
# and runs each for a bounded time: first over its regressions (inputs that once crashed) and
# seed corpus, then fuzzing from them. A crash, leak or UB report fails the run; the input is
# kept in $FUZZ_DIR/<target>/crash-* (copy it to tests/fuzz/regressions/<target>/ with the fix).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; CGSCOPE_FUZZ_BUILD_DIR=build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
build=${CGSCOPE_FUZZ_BUILD_DIR:-build-fuzz}
work=${FUZZ_DIR:-$(mktemp -d /tmp/cgscope-fuzz.XXXXXX)}
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs clang)" >&2; exit 1; }
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGSCOPE_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" --target fuzz_targets

total=0
status=0
for src in tests/fuzz/fuzz_*.cpp; do
  target=$(basename "$src" .cpp)
  bin=$build/tests/fuzz/$target
  corpus=$work/$target
  mkdir -p "$corpus"
  # Regressions first, as plain inputs: each must run clean.
  if compgen -G "tests/fuzz/regressions/$target/*" >/dev/null; then
    "$bin" -runs=0 tests/fuzz/regressions/"$target"/* >"$work/$target.regressions.log" 2>&1 \
      || { echo "fuzz.sh: $target: a regression input fails again (see $work/$target.regressions.log)" >&2; status=1; }
  fi
  set +e
  (cd "$corpus" && "$OLDPWD/$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    "$corpus" "$OLDPWD/tests/fuzz/corpus/$target") >"$work/$target.log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -1)
  total=$((total + ${runs:-0}))
  if ((rc != 0)); then
    echo "fuzz.sh: $target FAILED (exit $rc): $(grep -m1 -E 'ERROR|SUMMARY' "$work/$target.log")" >&2
    echo "fuzz.sh: the input: $(ls "$corpus"/crash-* "$corpus"/leak-* "$corpus"/timeout-* "$corpus"/oom-* 2>/dev/null | head -1)" >&2
    status=1
  else
    echo "fuzz.sh: $target: ${runs:-0} executions in ${seconds} s, no crash"
  fi
done
echo "fuzz.sh: $total executions over all targets (logs and corpora in $work)"
exit "$status"
