#!/usr/bin/env bash
# Cost of `cgscope advise --replay` over 1 hour x 1000 cgroups at 1 s (target: < 2 s, < 300 MiB).
#
#   bash bench/advise_replay.sh            (from the project root; no root needed)
#
# Environment:
#   BUILD_DIR                  build directory with cgscope and bench/cgscope_make_recording
#                              (default build; a Release build: -DCMAKE_BUILD_TYPE=Release)
#   CGSCOPE_ADVISE_RECORDING   the recording, written once and reused (default
#                              /tmp/cgscope-advise-1h-1000.db; remove it after changing the generator)
#   RUNS                       runs of advise (default 5)
#   CGSCOPE                    the cgscope binary to measure (default BUILD_DIR's)
#
# The recording is written by bench/make_recording.cpp (the recording benchmark's typical mix plus
# run-delay blame, CPU demand slots, memory, block I/O and NFS). Each run is
# `/usr/bin/time -v cgscope advise --replay FILE --json > /dev/null`; the script prints every run's
# wall time and maximum RSS, then the medians.
set -euo pipefail

build=${BUILD_DIR:-build}
file=${CGSCOPE_ADVISE_RECORDING:-/tmp/cgscope-advise-1h-1000.db}
runs=${RUNS:-5}
cgscope=${CGSCOPE:-$build/cgscope}
maker=$build/bench/cgscope_make_recording

need() {
  if [[ ! -x $1 ]]; then
    echo "missing $1: ninja -C $build cgscope cgscope_make_recording" >&2
    exit 1
  fi
}
need "$cgscope"

if [[ ! -s $file ]]; then
  need "$maker"
  echo "writing $file (1000 cgroups x 3600 s; a few minutes)" >&2
  start=$(date +%s)
  "$maker" "$file" 1000 3600 >&2
  echo "written in $(($(date +%s) - start)) s" >&2
fi
echo "recording: $file, $(du -m "$file" | cut -f1) MiB" >&2

# The page cache holds the file after the first run: every run reads it from memory (what a
# replay right after copying a recording sees); run 0 warms it and is not counted.
"$cgscope" advise --replay "$file" --json > /dev/null

walls=() rss=()
for ((i = 1; i <= runs; i++)); do
  log=$(mktemp)
  /usr/bin/time -v "$cgscope" advise --replay "$file" --json > /dev/null 2> "$log"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  user=$(awk -F': ' '/User time/ {print $2}' "$log")
  sys=$(awk -F': ' '/System time/ {print $2}' "$log")
  rm -f "$log"
  # m:ss.cc -> seconds
  secs=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }')
  walls+=("$secs")
  rss+=("$kb")
  printf 'run %d: wall %.2f s (user %s s, sys %s s), max RSS %.1f MiB\n' "$i" "$secs" "$user" "$sys" \
    "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf 'median of %d runs: wall %.2f s, max RSS %.1f MiB (targets: < 2 s, < 300 MiB)\n' "$runs" \
  "$(median "${walls[@]}")" "$(awk -v k="$(median "${rss[@]}")" 'BEGIN { print k / 1024 }')"
