#!/usr/bin/env bash
# Guest side of bench/nfs_cost.sh (runs in the test VM through tests/vm/run-in-guest.sh): an NFS
# metadata loop (stat + open + close, workload.py meta) and fio (4 KiB direct random reads and
# writes) without tracing, with empty programs on the NFS collector's tracepoints and functions
# (the floor any tracer there pays), and with cgscope's NFS collector attached
# (kernel.bpf_stats_enabled off), interleaved; then ns per event of each NFS program from one
# more traced round with kernel.bpf_stats_enabled on.
# Writes results.json to the results directory.
set -u
source "$CGSCOPE_VM_LIB"
R=$CGSCOPE_VM_RESULTS
W=$(dirname "$CGSCOPE_VM_PAYLOAD_SOURCE")/../tests/vm/nfs/workload.py
ROUNDS=${ROUNDS:-5}
OPS=${OPS:-400}
FIO_MB=${FIO_MB:-4}
mount_v3_pair || exit 1
mkdir -p "$NFS_V3_A/bench"
cg_create bench/meta >/dev/null
run_meta() { cg_run bench/meta python3 "$W" meta "$NFS_V3_A/bench" "$OPS" | sed -n 's/^seconds=\([0-9.]*\).*/\1/p'; }
# fio: FIO_MB of 4 KiB random reads and writes (half each, O_DIRECT: every one is a READ or
# WRITE RPC) on an 8 MiB file; prints the seconds spent in them (fio's mean latency times the
# count, for reads and writes: ns resolution, where fio's job runtime has ms; fio's start-up
# and file layout are not part of it).
run_fio() {
  cg_run bench/meta fio --name=nfs --filename="$NFS_V3_A/bench/fio.dat" --size=8M --io_size="${FIO_MB}M" \
    --bs=4k --rw=randrw --rwmixread=50 --direct=1 --ioengine=psync --randrepeat=1 \
    --output-format=json --output="$R/fio.json" >/dev/null 2>"$R/fio.err" ||
    { echo "fio failed: $(tail -3 "$R/fio.err")" >&2; exit 1; }
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1]))["jobs"][0]
print(sum(j[d]["lat_ns"]["mean"] * j[d]["total_ios"] for d in ("read", "write")) / 1e9)' "$R/fio.json"
}
# Warm up: files exist, caches primed, and the first runs (several times slower under TCG
# while code is translated) are not measured.
for ((w = 0; w < ${WARMUP:-5}; w++)); do run_meta >/dev/null; run_fio >/dev/null; done
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
# Cached negative dentries: from nfs_lookup_revalidate_exit (above) on 6.1 and later, by fexit
# on older kernels (collector/nfs/nfs.cpp: nfs_revalidate_exit_covers_cache_hits).
IFS=. read -r kmajor kminor _ <<<"$(uname -r)"
if ((kmajor < 6 || (kmajor == 6 && kminor < 1))); then
  floor_args+=(--fexit nfs_lookup_revalidate --fexit nfs4_lookup_revalidate)
fi
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
echo "${CGSCOPE_VM_ICOUNT:-}" >"$R/icount"
: >"$R/runs.txt"
orders=("off empty traced" "traced off empty" "empty traced off")
for ((r = 0; r < ROUNDS; r++)); do
  for mode in ${orders[r % 3]}; do
    case $mode in
      traced) start_cgscope ;;
      empty) start_empty ;;
    esac
    # A file written (and flushed on close) while traced: the collector's files map is not
    # empty, as on a host with writers; the loop's own files are only read.
    cg_run bench/meta sh -c "echo $r >>'$NFS_V3_A/bench/written'"
    echo "$r meta $mode $(run_meta)" >>"$R/runs.txt"
    echo "$r fio $mode $(run_fio)" >>"$R/runs.txt"
    case $mode in
      traced) stop_cgscope ;;
      empty) stop_empty ;;
    esac
  done
done
# ns per event: one more traced round with kernel.bpf_stats_enabled (which costs time itself,
# so it is not part of the slowdown above); the programs' totals after each workload.
start_cgscope
sysctl -q kernel.bpf_stats_enabled=1
run_meta >/dev/null
bpftool prog show --json >"$R/progs-meta.json"
run_fio >/dev/null
bpftool prog show --json >"$R/progs-fio.json"
sysctl -q kernel.bpf_stats_enabled=0
stop_cgscope
python3 - "$R" "$OPS" "$FIO_MB" <<'PY'
import json, random, statistics, sys
from pathlib import Path
R, ops, fio_mb = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
runs = {w: {"off": [], "empty": [], "traced": []} for w in ("meta", "fio")}
for line in (R / "runs.txt").read_text().splitlines():
    _, workload, mode, s = line.split()
    runs[workload][mode].append(float(s))
def totals(name):
    return {p["name"]: (p["run_cnt"], p["run_time_ns"])
            for p in json.loads((R / name).read_text()) if p.get("run_cnt")}
after_meta, after_fio = totals("progs-meta.json"), totals("progs-fio.json")
def programs(now, before, per):
    out = {}
    for k, (n, ns) in now.items():
        n0, ns0 = before.get(k, (0, 0))
        if n > n0:
            out[k] = {"events": n - n0, "events_per_op": (n - n0) / per, "ns_per_event": (ns - ns0) / (n - n0)}
    return out
rng = random.Random(1)  # bootstrap with a fixed seed: reproducible
def summary(r, per):
    out = {"runs": r}
    for mode in r:
        out[f"median_{mode}_s"] = statistics.median(r[mode])
    # Paired: each round's ratio (the three runs of a round are adjacent), then the median; the
    # host's load drifts between rounds by more than the effect measured. The bracket: 95%
    # interval of that median, bootstrap over the rounds.
    for key, a, b in (("slowdown", "traced", "off"), ("floor", "empty", "off"), ("over_floor", "traced", "empty")):
        rs = [x / y for x, y in zip(r[a], r[b])]
        meds = sorted(statistics.median(rng.choices(rs, k=len(rs))) for _ in range(2000))
        out[f"paired_{key}"] = statistics.median(rs)
        out[f"paired_{key}_ci"] = [meds[50], meds[1949]]
        out[key] = out[f"median_{a}_s"] / out[f"median_{b}_s"]
    out["op_us"] = 1e6 * out["median_off_s"] / per
    return out
fio_ios = fio_mb * 256
out = {
    "clocksource": (R / "clocksource").read_text().strip(),
    "icount": (R / "icount").read_text().strip(),
    "meta": summary(runs["meta"], ops) | {"ops": ops, "programs": programs(after_meta, {}, ops)},
    "fio": summary(runs["fio"], fio_ios) | {"ops": fio_ios, "programs": programs(after_fio, after_meta, fio_ios)},
}
(R / "results.json").write_text(json.dumps(out, indent=1))
PY
