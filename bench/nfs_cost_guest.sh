#!/usr/bin/env bash
# Guest side of bench/nfs_cost.sh (runs in the test VM through tests/vm/run-in-guest.sh): an NFS
# metadata loop (stat + open + close, workload.py meta) without tracing, with empty programs on
# the NFS collector's tracepoints and functions (the floor any tracer there pays), and with
# cgscope's NFS collector attached (kernel.bpf_stats_enabled off), interleaved; then ns per event
# of each NFS program from one more traced round with kernel.bpf_stats_enabled on.
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
# Warm up: files exist, caches primed, and the first runs (several times slower under TCG
# while code is translated) are not measured.
for ((w = 0; w < ${WARMUP:-5}; w++)); do run_meta >/dev/null; done
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
# The tracepoints and functions of the collector's default program groups (collector/nfs/nfs.cpp:
# nfs, nfs_rpc_io, nfs_open, dirty_pages, sunrpc, negative_dentries by fexit).
floor_args=()
for tp in nfs_revalidate_inode nfs_getattr nfs_invalidate_mapping nfs_fsync nfs_writeback_inode nfs_setattr \
  nfs_lookup nfs_lookup_revalidate nfs_create nfs_mkdir nfs_unlink nfs_rmdir nfs_rename nfs_atomic_open; do
  floor_args+=(--tp "${tp}_enter" --tp "${tp}_exit")
done
for tp in nfs_sillyrename_rename nfs_initiate_read nfs_readpage_done nfs_initiate_write nfs_writeback_done \
  nfs_initiate_commit nfs_commit_done writeback_dirty_folio rpc_task_begin rpc_stats_latency xprt_retransmit \
  rpc_timeout_status; do
  floor_args+=(--tp "$tp")
done
floor_args+=(--fexit nfs_lookup_revalidate --fexit nfs4_lookup_revalidate)
EMPTY=$CGSCOPE_BUILD/bench/cgscope_empty_tracer
start_empty() {
  "$EMPTY" "${floor_args[@]}" >"$R/empty.out" 2>"$R/empty.err" &
  empty_pid=$!
  for ((i = 0; i < 1200; i++)); do grep -q ready "$R/empty.out" 2>/dev/null && return; sleep 0.1; done
  echo "the empty tracer did not start: $(tail -3 "$R/empty.err")" >&2
  exit 1
}
stop_empty() {
  kill -INT $empty_pid
  wait $empty_pid
}
cat /sys/devices/system/clocksource/clocksource0/current_clocksource >"$R/clocksource"
: >"$R/runs.txt"
orders=("off empty traced" "traced off empty" "empty traced off")
for ((r = 0; r < ROUNDS; r++)); do
  for mode in ${orders[r % 3]}; do
    case $mode in
      traced) start_cgscope; s=$(run_meta); stop_cgscope ;;
      empty) start_empty; s=$(run_meta); stop_empty ;;
      off) s=$(run_meta) ;;
    esac
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
import json, random, statistics, sys
from pathlib import Path
R = Path(sys.argv[1])
runs = {"off": [], "empty": [], "traced": []}
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
    "median_empty_s": statistics.median(runs["empty"]),
    "median_traced_s": statistics.median(runs["traced"]),
    "clocksource": (R / "clocksource").read_text().strip(),
    "programs": {k: {"events": v[0], "ns_per_event": v[1] / v[0]} for k, v in per_prog.items()},
}
out["slowdown"] = out["median_traced_s"] / out["median_off_s"]
# Paired: each round's ratio (the three runs of a round are adjacent), then the median; the
# host's load drifts between rounds by more than the effect measured.
ratios = lambda a, b: [x / y for x, y in zip(runs[a], runs[b])]
ratio = lambda a, b: statistics.median(ratios(a, b))
out["paired_slowdown"] = ratio("traced", "off")
out["paired_floor"] = ratio("empty", "off")
out["paired_over_floor"] = ratio("traced", "empty")
# 95% interval of each paired median: bootstrap over the rounds (fixed seed: reproducible).
rng = random.Random(1)
def interval(a, b):
    rs = ratios(a, b)
    meds = sorted(statistics.median(rng.choices(rs, k=len(rs))) for _ in range(2000))
    return [meds[50], meds[1949]]
out["paired_slowdown_ci"] = interval("traced", "off")
out["paired_floor_ci"] = interval("empty", "off")
out["paired_over_floor_ci"] = interval("traced", "empty")
out["floor"] = out["median_empty_s"] / out["median_off_s"]
out["over_floor"] = out["median_traced_s"] / out["median_empty_s"]
(R / "results.json").write_text(json.dumps(out, indent=1))
PY
