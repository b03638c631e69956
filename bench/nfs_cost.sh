#!/usr/bin/env bash
# Cost of the NFS collector on a real NFS client (in the test VM: Debian 12's kernel, kernel nfsd
# on loopback; see docs/testing.md): slowdown of a stat/open/close loop on NFSv3 with the
# collector attached, and with empty programs on the same tracepoints (the floor), vs neither
# (interleaved rounds, medians); ns/event per program.
#
#   bench/nfs_cost.sh [BUILD_DIR]     (ROUNDS=5 OPS=400 WARMUP=5 by default; needs root and qemu)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
results=$(mktemp -d /tmp/cgscope-nfs-bench.XXXXXX)
"$here/../tests/vm/run-in-guest.sh" --timeout 1500 -e "CGSCOPE_BIN=$build/cgscope" -e "CGSCOPE_BUILD=$build" \
  -e "ROUNDS=${ROUNDS:-5}" -e "OPS=${OPS:-400}" -e "WARMUP=${WARMUP:-5}" "$here/nfs_cost_guest.sh" "$results" >"$results/host.log" 2>&1 ||
  { tail -30 "$results/host.log"; exit 1; }
python3 - "$results/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"metadata loop (stat+open+close), median of {len(r['runs']['off'])} interleaved rounds:")
print(f"  without tracing {r['median_off_s']:.3f} s, empty programs {r['median_empty_s']:.3f} s, "
      f"NFS collector {r['median_traced_s']:.3f} s (guest clocksource {r['clocksource']})")
print(f"  slowdown {100 * (r['slowdown'] - 1):+.1f}%: floor (empty programs) {100 * (r['floor'] - 1):+.1f}%, "
      f"cgscope over the floor {100 * (r['over_floor'] - 1):+.1f}%")
pct = lambda k: f"{100 * (r[k] - 1):+.1f}% [{100 * (r[k + '_ci'][0] - 1):+.1f}, {100 * (r[k + '_ci'][1] - 1):+.1f}]"
print("  paired (median of per-round ratios, [95% bootstrap interval]):")
print(f"    slowdown {pct('paired_slowdown')}, floor {pct('paired_floor')}, over the floor {pct('paired_over_floor')}")
print(f"  runs: off {r['runs']['off']}  empty {r['runs']['empty']}  traced {r['runs']['traced']}")
print("ns per event (kernel.bpf_stats_enabled, in the VM under TCG):")
for name, p in sorted(r["programs"].items(), key=lambda kv: -kv[1]["events"]):
    print(f"  {name:<18} {p['events']:>8} events  {p['ns_per_event']:>8.0f} ns")
PY
echo "raw results: $results"
