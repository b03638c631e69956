#!/usr/bin/env bash
# Cost of the NFS collector on a real NFS client (in the test VM: Debian 12's kernel, kernel nfsd
# on loopback; see docs/testing.md): slowdown of a stat/open/close loop on NFSv3 with the
# collector attached vs not (interleaved rounds, medians) and ns/event per program.
#
#   bench/nfs_cost.sh [BUILD_DIR]     (ROUNDS=5 OPS=400 by default; needs root and qemu)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
results=$(mktemp -d /tmp/cgscope-nfs-bench.XXXXXX)
"$here/../tests/vm/run-in-guest.sh" --timeout 1500 -e "CGSCOPE_BIN=$build/cgscope" \
  -e "ROUNDS=${ROUNDS:-5}" -e "OPS=${OPS:-400}" "$here/nfs_cost_guest.sh" "$results" >"$results/host.log" 2>&1 ||
  { tail -30 "$results/host.log"; exit 1; }
python3 - "$results/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"metadata loop (stat+open+close), median of {len(r['runs']['off'])} interleaved rounds:")
print(f"  without cgscope {r['median_off_s']:.3f} s, with the NFS collector {r['median_traced_s']:.3f} s, "
      f"slowdown {100 * (r['slowdown'] - 1):+.1f}%")
print(f"  runs: off {r['runs']['off']}  traced {r['runs']['traced']}")
print("ns per event (kernel.bpf_stats_enabled, in the VM under TCG):")
for name, p in sorted(r["programs"].items(), key=lambda kv: -kv[1]["events"]):
    print(f"  {name:<18} {p['events']:>8} events  {p['ns_per_event']:>8.0f} ns")
PY
echo "raw results: $results"
