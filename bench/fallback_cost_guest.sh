#!/usr/bin/env bash
# Guest side of bench/fallback_cost.sh: writes results.json to the results directory.
set -u
source "$CGSCOPE_VM_LIB"
R=$CGSCOPE_VM_RESULTS
ROUNDS=${ROUNDS:-5}
RUNTIME=${RUNTIME:-3}
modprobe -a virtio_blk ext4
for ((i = 0; i < 50; i++)); do [[ -b /dev/vda ]] && break; sleep 0.1; done
mkfs.ext4 -q -F /dev/vda && mkdir -p /mnt/b && mount /dev/vda /mnt/b || exit 1
echo mq-deadline >/sys/block/vda/queue/scheduler
head -c 64M /dev/zero >/mnt/b/cached.dat
cat /mnt/b/cached.dat >/dev/null
cg_create bench >/dev/null

probes=(none)
# The page-cache probes this kernel has: the tracepoints need mm_filemap_get_pages.
if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q "'btf_trace_mm_filemap_get_pages'"; then
  probes+=(tracepoint)
fi
probes+=(fentry)

start() {  # start PROBE COLLECTORS
  rm -f "$R/ready"
  "$CGSCOPE_BIN" snapshot --json -i 600s -c 0 --bpf required --collectors "$2" --page-cache-probe "$1" \
    --ready-file "$R/ready" >/dev/null 2>"$R/cgscope-$1.err" &
  pid=$!
  for ((i = 0; i < 1200; i++)); do [[ -e $R/ready ]] && return 0; sleep 0.1; done
  echo "cgscope did not start: $(tail -3 "$R/cgscope-$1.err")" >&2
  exit 1
}
stop() { kill -INT $pid; wait $pid; }
reads() {
  cg_run bench fio --name=cached --filename=/mnt/b/cached.dat --rw=read --bs=4k --ioengine=psync --size=64M \
    --invalidate=0 --runtime="$RUNTIME" --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["jobs"][0]["read"]["iops"])'
}
progs() {  # progs FILE: the collector programs' run counts and times
  bpftool prog show -j >"$1" 2>/dev/null
}

# Warm up (TCG translates code the first time).
for ((w = 0; w < 2; w++)); do reads >/dev/null; done
declare -A runs
for ((round = 0; round < ROUNDS; round++)); do
  for probe in "${probes[@]}"; do
    [[ $probe == none ]] || start "$probe" memory
    runs[$probe]+="$(reads) "
    [[ $probe == none ]] || stop
  done
done

# ns per event: one more run per probe with the statistics on, then block writes for io.
sysctl -qw kernel.bpf_stats_enabled=1
for probe in "${probes[@]}"; do
  [[ $probe == none ]] && continue
  start "$probe" memory,io
  reads >/dev/null
  cg_run bench dd if=/dev/zero of=/mnt/b/direct.dat bs=4k count=4000 oflag=direct status=none
  progs "$R/progs-$probe.json"
  stop
done
sysctl -qw kernel.bpf_stats_enabled=0
for probe in "${probes[@]}"; do echo "$probe ${runs[$probe]}"; done >"$R/runs.txt"

python3 - "$R" "$(uname -r)" "$ROUNDS" "$RUNTIME" "${probes[@]}" <<'PY' >"$R/results.json"
import json, sys
R, kernel, rounds, runtime, probes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
out = {"kernel": kernel, "rounds": rounds, "runtime": runtime, "reads": {}, "programs": {}}
runs = {}
for line in open(f"{R}/runs.txt"):
    probe, *vals = line.split()
    out["reads"][probe] = [float(v) for v in vals]
wanted = ("cache_", "io_")
for probe in probes:
    if probe == "none":
        continue
    progs = {}
    for p in json.load(open(f"{R}/progs-{probe}.json")):
        name = p.get("name", "")
        if name.startswith(wanted) and p.get("run_cnt"):
            progs[name] = {"events": p["run_cnt"], "ns": p["run_time_ns"] / p["run_cnt"]}
    out["programs"][probe] = progs
print(json.dumps(out))
PY
