#!/usr/bin/env bash
# Guest side of bench/nfs_cost.sh (runs in the test VM through tests/vm/run-in-guest.sh): an NFS
# metadata loop (stat + open + close, workload.py meta) with and without cgscope's NFS collector
# attached (kernel.bpf_stats_enabled off), interleaved; then ns per event of each NFS program from
# one more traced round with kernel.bpf_stats_enabled on.
# Writes results.json to the results directory.
set -u
source "$CGSCOPE_VM_LIB"
R=$CGSCOPE_VM_RESULTS
W=$(dirname "$CGSCOPE_VM_PAYLOAD_SOURCE")/../tests/vm/nfs/workload.py
ROUNDS=${ROUNDS:-5}
OPS=${OPS:-400}
mount_v3_pair || exit 1
mkdir -p "$NFS_V3_A/bench"
cg_create bench/meta >/dev/null
run_meta() { cg_run bench/meta python3 "$W" meta "$NFS_V3_A/bench" "$OPS" | sed -n 's/^seconds=\([0-9.]*\).*/\1/p'; }
run_meta >/dev/null  # warm up: files exist, caches primed
start_cgscope() {
  rm -f "$R/ready"
  "$CGSCOPE_BIN" snapshot --json -i 600s -c 1 --collectors nfs --ready-file "$R/ready" >/dev/null 2>"$R/cgscope.err" &
  pid=$!
  for ((i = 0; i < 1200; i++)); do [[ -e $R/ready ]] && break; sleep 0.1; done
}
stop_cgscope() {
  kill -INT $pid
  wait $pid
}
: >"$R/runs.txt"
for ((r = 0; r < ROUNDS; r++)); do
  for mode in $( ((r % 2)) && echo "traced off" || echo "off traced"); do
    if [[ $mode == traced ]]; then
      start_cgscope
      s=$(run_meta)
      stop_cgscope
    else
      s=$(run_meta)
    fi
    echo "$r $mode $s" >>"$R/runs.txt"
  done
done
# ns per event: one more traced round with kernel.bpf_stats_enabled (which costs time itself,
# so it is not part of the slowdown above).
start_cgscope
sysctl -q kernel.bpf_stats_enabled=1
run_meta >/dev/null
bpftool prog show --json >"$R/progs-stats.json"
sysctl -q kernel.bpf_stats_enabled=0
stop_cgscope
python3 - "$R" <<'PY'
import json, statistics, sys
from pathlib import Path
R = Path(sys.argv[1])
runs = {"off": [], "traced": []}
for line in (R / "runs.txt").read_text().splitlines():
    _, mode, s = line.split()
    runs[mode].append(float(s))
per_prog = {}
for f in sorted(R.glob("progs-*.json")):
    for p in json.loads(f.read_text()):
        if p.get("run_cnt"):
            d = per_prog.setdefault(p["name"], [0, 0])
            d[0] += p["run_cnt"]
            d[1] += p["run_time_ns"]
out = {
    "runs": runs,
    "median_off_s": statistics.median(runs["off"]),
    "median_traced_s": statistics.median(runs["traced"]),
    "programs": {k: {"events": v[0], "ns_per_event": v[1] / v[0]} for k, v in per_prog.items()},
}
out["slowdown"] = out["median_traced_s"] / out["median_off_s"]
(R / "results.json").write_text(json.dumps(out, indent=1))
PY
