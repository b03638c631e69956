#!/usr/bin/env bash
# Sets up (packages, build) and runs every test suite with CTest.
#
# Suites that need root/eBPF/a display/qemu skip themselves (with the reason) where the machine
# cannot run them. Where it can (root with a BTF kernel), or under CI, a skipped test is a
# failure: set CGSCOPE_ALLOW_SKIPS=1 to accept skips anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${CGSCOPE_BUILD_DIR:-build}

if [[ $(id -u) -eq 0 ]]; then
  bash scripts/install-deps.sh
else
  echo "test.sh: not root: skipping package installation; root-only suites will skip" >&2
fi
bash scripts/build.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 300 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed.*/\1/p' "$log" | tail -1)
skipped=$(grep -c '(Skipped)' "$log" || true)
disabled=$(grep -cE '^\s+[0-9]+ - .*\(Disabled\)$' "$log" || true)
total=${total:-0}; failed=${failed:-0}
passed=$((total - failed - skipped))
echo
echo "cgscope tests by label:"
ctest --test-dir "$build_dir" --print-labels >/dev/null 2>&1 && for label in unit bpf vm ui; do
  n=$(ctest --test-dir "$build_dir" -N -L "^${label}\$" 2>/dev/null | sed -n 's/^Total Tests: //p')
  [[ -n "$n" && "$n" != 0 ]] && echo "  $label: $n tests"
done
echo "$passed passed, $failed failed, $skipped skipped, $disabled disabled (DISABLED_ in the source, each with its reason)"

if [[ $status -ne 0 ]]; then
  exit "$status"
fi
if ((total == 0)); then
  echo "test.sh: no tests ran" >&2
  exit 1
fi
required=0
if [[ ${CI:-} == true ]] || { [[ $(id -u) -eq 0 ]] && [[ -r /sys/kernel/btf/vmlinux ]]; }; then
  required=1
fi
if ((skipped > 0 && required == 1)) && [[ ${CGSCOPE_ALLOW_SKIPS:-0} != 1 ]]; then
  echo "test.sh: $skipped tests skipped on a machine that can run them (root, BTF): failing." >&2
  grep '(Skipped)' "$log" >&2 || true
  exit 1
fi

# The parsers of outside input under libFuzzer (ASan + UBSan), a bounded time each
# (CGSCOPE_FUZZ_SECONDS, default 20; 0 skips; see docs/security.md).
fuzz_seconds=${CGSCOPE_FUZZ_SECONDS:-20}
if ((fuzz_seconds > 0)); then
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
