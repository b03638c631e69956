#!/usr/bin/env bash
# Cost of the CPU demand sampler: CPU time of its thread ("cgscope-demand") per second, with N
# idle cgroups that have a CPU quota (50%), each N in turn. Root; on a hybrid host (v1 cpu +
# cpuacct, cgroup2 at /sys/fs/cgroup/unified) or pure v2 (/sys/fs/cgroup).
#
#   bench/demand_cost.sh [BUILD_DIR] [SECONDS]     (COUNTS="0 10 100" SLOT=100ms by default)
#
# Runs `cgscope snapshot --bpf off` and reads se.sum_exec_runtime of the sampler thread from
# /proc/PID/task/TID/sched (ns precision; stat's utime/stime are 10 ms ticks) SECONDS apart,
# after a few seconds for the interval read to hand it the quota'd cgroups. The last column is
# the cost above the wake-up alone (the 0 row), per cgroup read.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
secs=${2:-30}
bin=$build/cgscope
base=cgscope-demand-bench-$$
cg=/sys/fs/cgroup
if [[ -d $cg/cpu && -d $cg/unified ]]; then
  dirs=("$cg/unified/$base" "$cg/cpu/$base")
  [[ $(realpath $cg/cpuacct) != $(realpath $cg/cpu) ]] && dirs+=("$cg/cpuacct/$base")  # not co-mounted
  quota() { echo 50000 >"$cg/cpu/$base/$1/cpu.cfs_quota_us"; }
else
  dirs=("$cg/$base")
  echo +cpu >"$cg/cgroup.subtree_control"
  quota() { echo "50000 100000" >"$cg/$base/$1/cpu.max"; }
fi
cleanup() {
  [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  for d in "${dirs[@]}"; do
    [[ -d $d ]] && find "$d" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null
    rmdir "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT
for d in "${dirs[@]}"; do mkdir -p "$d"; done
[[ ${#dirs[@]} -eq 1 ]] && echo +cpu >"$cg/$base/cgroup.subtree_control"

runtime_ms() { awk '/se.sum_exec_runtime/ {print $3}' "$1/sched"; }
printf '%8s %10s %12s %22s\n' cgroups "CPU ms/s" "us per slot" "us per cgroup and slot"
slot_ms=$(awk -v s="${SLOT:-100ms}" 'BEGIN { v = s + 0; if (s !~ /ms$/) v *= 1000; print v }')
made=0
empty=""  # us per slot with no cgroup to read: the wake-up alone
for n in ${COUNTS:-0 10 100}; do
  while ((made < n)); do
    made=$((made + 1))
    for d in "${dirs[@]}"; do mkdir -p "$d/c$made"; done
    quota "c$made"
  done
  "$bin" snapshot --bpf off -c 0 -i 1s --demand-slot "${SLOT:-100ms}" >/dev/null &
  pid=$!
  sleep 3
  task=""
  for t in /proc/$pid/task/*; do [[ $(cat "$t/comm") == cgscope-demand ]] && task=$t; done
  [[ -n $task ]] || { echo "no cgscope-demand thread in $pid" >&2; exit 1; }
  a=$(runtime_ms "$task")
  sleep "$secs"
  b=$(runtime_ms "$task")
  kill -INT "$pid"
  wait "$pid" || true
  pid=""
  per_slot=$(awk -v a="$a" -v b="$b" -v s="$secs" -v slot="$slot_ms" 'BEGIN { print (b - a) / s * slot }')
  ((n == 0)) && empty=$per_slot
  awk -v n="$n" -v a="$a" -v b="$b" -v s="$secs" -v p="$per_slot" -v e="$empty" 'BEGIN {
    printf "%8d %10.3f %12.1f %22s\n", n, (b - a) / s, p, n && e != "" ? sprintf("%.1f", (p - e) / n) : "-" }'
done
