#!/usr/bin/env bash
# Cost of the NFS collector on a real NFS client (in the test VM: Debian 12's kernel, kernel nfsd
# on loopback; see docs/testing.md): slowdown of a stat/open/close loop and of fio (4 KiB direct
# random I/O) on NFSv3 with the collector attached, and with empty programs on the same
# tracepoints (the floor), vs neither (interleaved rounds, medians); ns/event per program.
#
#   bench/nfs_cost.sh [BUILD_DIR]     (ROUNDS=5 OPS=400 FIO_MB=4 WARMUP=5 by default; root, qemu)
#
# Instruction-count mode (docs/performance.md): CGSCOPE_VM_CPUS=1 CGSCOPE_VM_ICOUNT=shift=0,sleep=off
# makes the guest's clocks count executed instructions, so times are instruction counts.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
results=$(mktemp -d /tmp/cgscope-nfs-bench.XXXXXX)
"$here/../tests/vm/run-in-guest.sh" --timeout "${TIMEOUT:-3600}" -e "CGSCOPE_BIN=$build/cgscope" -e "CGSCOPE_BUILD=$build" \
  -e "ROUNDS=${ROUNDS:-5}" -e "OPS=${OPS:-400}" -e "FIO_MB=${FIO_MB:-4}" -e "WARMUP=${WARMUP:-5}" \
  "$here/nfs_cost_guest.sh" "$results" >"$results/host.log" 2>&1 || { tail -30 "$results/host.log"; exit 1; }
python3 - "$results/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
clock = f"guest clocksource {r['clocksource']}" + (f", icount {r['icount']}: 1 ns = 1 instruction" if r["icount"] else "")
pct = lambda w, k: f"{100 * (w[k] - 1):+.1f}% [{100 * (w[k + '_ci'][0] - 1):+.1f}, {100 * (w[k + '_ci'][1] - 1):+.1f}]"
for key, title, unit in (("meta", "metadata loop (stat+open+close)", "loop op"), ("fio", "fio 4 KiB direct randrw", "I/O")):
    w = r[key]
    print(f"{title}, {w['ops']} {unit}s, median of {len(w['runs']['off'])} interleaved rounds ({clock}):")
    print(f"  without tracing {w['median_off_s']:.3f} s ({w['op_us']:.1f} us per {unit}), "
          f"empty programs {w['median_empty_s']:.3f} s, NFS collector {w['median_traced_s']:.3f} s")
    print("  paired (median of per-round ratios, [95% bootstrap interval]):")
    print(f"    slowdown {pct(w, 'paired_slowdown')}, floor {pct(w, 'paired_floor')}, "
          f"over the floor {pct(w, 'paired_over_floor')}")
    print(f"  runs: off {w['runs']['off']}  empty {w['runs']['empty']}  traced {w['runs']['traced']}")
    print(f"  ns per event (kernel.bpf_stats_enabled), events per {unit}:")
    for name, p in sorted(w["programs"].items(), key=lambda kv: -kv[1]["events"]):
        print(f"    {name:<28} {p['events_per_op']:>6.2f}  {p['ns_per_event']:>8.0f} ns")
PY
echo "raw results: $results"
