#!/usr/bin/env bash
# Cost of the collectors' fallbacks on the kernels that need them (issue 25), in the test VM:
# the page cache through fentry/fexit on filemap_read/filemap_fault against the filemap
# tracepoints, and block submission seen at block_rq_insert against block_io_start.
#
#   bench/fallback_cost.sh [BUILD_DIR]   (SERIES="6.1 6.12" ROUNDS=5 RUNTIME=3 by default; root, qemu)
#
# Per kernel: fio 4 KiB buffered reads of a cached file on ext4 (a virtio disk), reads/s with no
# tracer and with the memory collector by each page-cache probe the kernel has (interleaved
# rounds, medians); then 4 KiB direct writes under mq-deadline with the io collector; ns per
# event of each program from kernel.bpf_stats_enabled. Times are TCG's (emulated): compare
# probes within one kernel, not with the host's numbers.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
for series in ${SERIES:-6.1 6.12}; do
  results=$(mktemp -d "/tmp/cgscope-fallback-$series.XXXXXX")
  CGSCOPE_VM_KERNEL_SERIES=$series "$here/../tests/vm/run-in-guest.sh" --timeout "${TIMEOUT:-1800}" --no-nfs --disk 256 \
    -e "CGSCOPE_BIN=$build/cgscope" -e "ROUNDS=${ROUNDS:-5}" -e "RUNTIME=${RUNTIME:-3}" \
    "$here/fallback_cost_guest.sh" "$results" >"$results/host.log" 2>&1 || { tail -30 "$results/host.log"; exit 1; }
  python3 - "$results/results.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
print(f"kernel {r['kernel']} (TCG, {r['rounds']} interleaved rounds of {r['runtime']} s of fio 4 KiB cached reads):")
base = statistics.median(r["reads"]["none"])
for probe, runs in r["reads"].items():
    m = statistics.median(runs)
    print(f"  {probe:<12} {m:>10.0f} reads/s  ({100 * (base / m - 1):+.1f}% time per read vs none)  runs {[round(x) for x in runs]}")
print("  ns per event (kernel.bpf_stats_enabled):")
for probe, progs in r["programs"].items():
    for name, p in sorted(progs.items()):
        if p["events"]:
            print(f"    {probe:<12} {name:<18} {p['events']:>9} events {p['ns']:>8.0f} ns")
PY
  echo "raw results: $results"
done
