#!/usr/bin/env bash
# Payload of the vm NFS collector suite (tests/vm/vm_test.py nfs-boot): the registry stories on
# real NFS clients, each under its own `cgscope snapshot --json` run. Asserts nothing itself:
# facts.txt (KEY=VALUE), one NDJSON file per scenario and the kernel's own trace of the same
# run go to the results directory; the host-side checks (tests/vm/nfs_checks.py) assert.
#
# Needs: CGSCOPE_BIN (the host-built cgscope).
set -u
# shellcheck source=tests/vm/guest-lib.sh
source "$CGSCOPE_VM_LIB"

R=$CGSCOPE_VM_RESULTS
here=$(dirname "$CGSCOPE_VM_PAYLOAD_SOURCE")
workload() { python3 "$here/workload.py" "$@"; }
facts=$R/facts.txt
: >"$facts"
fact() { printf '%s=%s\n' "$1" "$2" >>"$facts"; }
section() { echo "== $1 ($(now_ms) ms)"; }
T=/sys/kernel/tracing

# start_cgscope NAME INTERVAL [ARGS...]: cgscope in the background until stop_cgscope; returns
# once the NFS programs are attached (the first sample is taken right after attaching). A
# scenario is one interval: INTERVAL "story" is longer than any story, and stop_cgscope's
# SIGINT ends it, so what is measured does not depend on how fast the guest runs (under TCG on
# a loaded host a story takes anywhere from 5 s to a minute). A number of seconds gives
# intervals of that length instead (the life cycle).
# With RECORD=1 it is `cgscope record` instead, into /run/cgscope-NAME.db (SQLite's WAL wants a
# local filesystem, not 9p), printing each interval as `snapshot` would: PRINT=json (NAME.json)
# or PRINT=table with VIEW (NAME.txt); replay_cgscope then replays the file.
start_cgscope() {
  local name=$1 every=$2 i
  shift 2
  [[ $every == story ]] && every=3600
  rm -f "$R/$name.ready"
  if [[ ${RECORD:-0} == 1 ]]; then
    local out=$R/$name.json
    [[ ${PRINT:-json} == table ]] && out=$R/$name.txt
    rm -f "/run/cgscope-$name.db"
    "$CGSCOPE_BIN" record -o "/run/cgscope-$name.db" -i "${every}s" --collectors nfs \
      --print "${PRINT:-json}" --view "${VIEW:-summary}" --ready-file "$R/$name.ready" "$@" >"$out" 2>"$R/$name.err" &
  else
    "$CGSCOPE_BIN" snapshot --json -i "${every}s" -c 0 --collectors "${COLLECTORS:-nfs}" --ready-file "$R/$name.ready" \
      "$@" >"$R/$name.json" 2>"$R/$name.err" &
  fi
  CGSCOPE_PID=$!
  for ((i = 0; i < 1200; i++)); do
    if [[ -e $R/$name.ready ]]; then
      fact "${name}_attached_ms" "$(now_ms)"
      fact "${name}_programs" "$(bpftool prog show 2>/dev/null | grep -c 'name nfs_\|name neg_\|name rpc_\|name xprt_')"
      return 0
    fi
    sleep 0.1
  done
  fact "${name}_attached_ms" never
  return 1
}
# stop_cgscope NAME: SIGINT (the interval in progress ends with a last sample), then its exit
# status. One still running two minutes later is hung: where each of its threads waits in the
# kernel goes to NAME.hang, then it is killed.
stop_cgscope() {
  kill -INT "$CGSCOPE_PID" 2>/dev/null
  local deadline=$(($(date +%s) + 120))
  while kill -0 "$CGSCOPE_PID" 2>/dev/null && (($(date +%s) < deadline)); do sleep 0.2; done
  if kill -0 "$CGSCOPE_PID" 2>/dev/null; then
    local t
    for t in /proc/"$CGSCOPE_PID"/task/*; do
      echo "== thread ${t##*/} $(cat "$t/comm") wchan=$(cat "$t/wchan") state=$(awk '/^State/ { print $2 }' "$t/status")"
      cat "$t/stack" 2>&1
    done >"$R/$1.hang"
    kill -9 "$CGSCOPE_PID"
    wait "$CGSCOPE_PID"
    fact "$1_cgscope_exit" hung
    return
  fi
  wait "$CGSCOPE_PID"
  fact "$1_cgscope_exit" $?
}
# start_advise NAME / stop_advise NAME: `cgscope advise` beside the story's collector, one
# interval as long as the story (SIGINT ends it and it analyzes what it measured): NAME.advise.json.
start_advise() {
  rm -f "$R/$1.advise.ready"
  "$CGSCOPE_BIN" advise --json --collectors nfs -i 3600s --duration 3600s --min-intervals 1 \
    --ready-file "$R/$1.advise.ready" >"$R/$1.advise.json" 2>"$R/$1.advise.err" &
  ADVISE_PID=$!
  local i
  for ((i = 0; i < 1200; i++)); do
    [[ -e $R/$1.advise.ready ]] && return 0
    sleep 0.1
  done
  return 1
}
stop_advise() {
  kill -INT "$ADVISE_PID" 2>/dev/null
  wait "$ADVISE_PID"
  fact "$1_advise_exit" $?
}
# advise_replay NAME: `cgscope advise --replay` of the story's recording: NAME.advise_replay.json.
advise_replay() {
  "$CGSCOPE_BIN" advise --replay "/run/cgscope-$1.db" --json --min-intervals 1 >"$R/$1.advise_replay.json" \
    2>"$R/$1.advise_replay.err"
  fact "$1_advise_replay_exit" $?
}
count_word() { grep -c " $1\$" "$2" || true; }
# replay_cgscope NAME: the recording of a RECORD=1 run, replayed: NAME.replay.json (--json) and
# NAME.replay.txt (--view nfs), for the host to compare with what the live run printed.
replay_cgscope() {
  local db=/run/cgscope-$1.db
  "$CGSCOPE_BIN" snapshot --replay "$db" --json >"$R/$1.replay.json" 2>"$R/$1.replay.err"
  fact "$1_replay_json_exit" $?
  "$CGSCOPE_BIN" snapshot --replay "$db" --view nfs >"$R/$1.replay.txt" 2>>"$R/$1.replay.err"
  fact "$1_replay_txt_exit" $?
  cp "$db" "$R/$1.db"
}

# Kernel tracepoints recorded independently of cgscope (tracefs), for the accuracy check.
trace_start() {
  echo 0 >$T/tracing_on
  echo 32768 >$T/buffer_size_kb
  : >$T/trace
  local e
  for e in nfs_revalidate_inode_enter nfs_revalidate_inode_exit nfs_getattr_enter nfs_getattr_exit \
    nfs_fsync_enter nfs_fsync_exit nfs_initiate_commit nfs_commit_done; do
    echo 1 >"$T/events/nfs/$e/enable"
  done
  echo 1 >$T/tracing_on
}
trace_stop() {
  echo 0 >$T/tracing_on
  cp $T/trace "$R/$1.trace"
  echo 0 >$T/events/nfs/enable
  fact "$1_trace_entries" "$(awk '/entries-in-buffer/ { print $3 }' "$R/$1.trace" | head -1)"
}

for cg in nfs/a nfs/b nfs/idle; do cg_create "$cg" >/dev/null; done
fact cgroup_id_a "$(stat -c %i $CG_ROOT/nfs/a)"
fact cgroup_id_b "$(stat -c %i $CG_ROOT/nfs/b)"
fact cgroup_id_idle "$(stat -c %i $CG_ROOT/nfs/idle)"

# story_names DIR_A DIR_B PREFIX: a new directory PREFIX in the export, and the caller's arrays
# names_a and names_b of the same five names in it, as A and B see them.
story_names() {
  local n
  mkdir "$NFS_EXPORT_DIR/$3"
  names_a=() names_b=()
  for n in 1 2 3 4 5; do
    names_a+=("$1/$3/blob-$n")
    names_b+=("$2/$3/blob-$n")
  done
}

# negative STORY_NAME DIR_A DIR_B PREFIX: B looks names up, A creates them, B looks again.
# In a directory of its own, new to B: B's first lookup caches the directory's attributes, so
# the story plays within their timeout (acdirmin 30 s), never across a revalidation.
negative() {
  local name=$1 a=$2 b=$3 p=$4 names_a names_b
  story_names "$a" "$b" "$p"
  if [[ ${ADVISE:-0} == 1 ]]; then start_advise "$name" || fact "${name}_advise_ready" never; fi
  start_cgscope "$name" story ${NEGATIVE_PROBE:+--nfs-negative "$NEGATIVE_PROBE"} || return 1
  cg_run nfs/idle sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done' &
  local idle=$!
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.first"
  cg_run nfs/a python3 "$here/workload.py" create "${names_a[@]}"
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.second"
  wait "$idle" 2>/dev/null  # not %1: that is cgscope, which runs until stop_cgscope
  fact "${name}_first_enoent" "$(count_word ENOENT "$R/$name.first")"
  fact "${name}_second_enoent" "$(count_word ENOENT "$R/$name.second")"
  fact "${name}_mount_b" "$(awk -v m="$b" '$2 == m { print $4 }' /proc/mounts)"
  stop_cgscope "$name"
  if [[ ${ADVISE:-0} == 1 ]]; then stop_advise "$name"; fi
}

# shared STORY_NAME DIR_A DIR_B SUBDIR: A rewrites files that B stats and reads, then fsyncs.
shared() {
  local name=$1 a=$2 b=$3 d=$4
  mkdir -p "$a/$d"
  workload writer "$a/$d" 3 1  # the files exist before the run
  sync
  # Tracing first: its probe then runs before cgscope's at both enter and exit, so neither
  # side's durations include the other's cost (under TCG a program's run is not negligible).
  trace_start
  start_cgscope "$name" story || return 1
  CGSCOPE_WORKLOAD_PIDFILE=$R/$name.pid_writer cg_run nfs/a python3 "$here/workload.py" writer "$a/$d" 3 30 &
  local pa=$!
  CGSCOPE_WORKLOAD_PIDFILE=$R/$name.pid_reader cg_run nfs/b python3 "$here/workload.py" reader "$b/$d" 3 30 \
    "$NFS_EXPORT_DIR/$d" >"$R/$name.reader" &
  local pb=$!
  wait $pa
  CGSCOPE_WORKLOAD_PIDFILE=$R/$name.pid_fsync cg_run nfs/a python3 "$here/workload.py" fsync "$a/$d" 20 &
  local pf=$!
  wait $pb $pf
  trace_stop "$name"
  local w
  for w in writer reader fsync; do fact "${name}_pid_$w" "$(cat "$R/$name.pid_$w")"; done
  fact "${name}_reader" "$(cat "$R/$name.reader")"
  fact "${name}_mount_b" "$(awk -v m="$b" '$2 == m { print $4 }' /proc/mounts)"
  stop_cgscope "$name"
}

# remount STORY_NAME DIR_A DIR_B PREFIX: the negative-lookup story on B's mount, then, within the
# same interval, B is unmounted and mounted again with lookupcache=positive (the fix a user
# applies after failed pushes) and looks the names up once more. The kernel gives the new
# superblock the old one's dev; cgscope must still name the mount each event happened on.
remount() {
  local name=$1 a=$2 b=$3 p=$4 names_a names_b
  story_names "$a" "$b" "$p"
  RECORD=1 PRINT=table VIEW=nfs start_cgscope "$name" story || return 1
  local t0
  t0=$(now_ms)
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.first"
  cg_run nfs/a python3 "$here/workload.py" create "${names_a[@]}"
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.second"
  fact "${name}_dev_before" "$(stat -c %d "$b")"
  fact "${name}_mount_before" "$(awk -v m="$b" '$5 == m { print $1, $3 }' /proc/self/mountinfo)"
  umount "$b" && nfs_mount_v3 "$b" lookupcache=positive
  fact "${name}_dev_after" "$(stat -c %d "$b")"
  fact "${name}_mount_after" "$(awk -v m="$b" '$5 == m { print $1, $3 }' /proc/self/mountinfo)"
  fact "${name}_mount_b" "$(awk -v m="$b" '$2 == m { print $4 }' /proc/mounts)"
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.third"
  fact "${name}_story_ms" "$(($(now_ms) - t0))"
  fact "${name}_first_enoent" "$(count_word ENOENT "$R/$name.first")"
  fact "${name}_second_enoent" "$(count_word ENOENT "$R/$name.second")"
  fact "${name}_third_enoent" "$(count_word ENOENT "$R/$name.third")"
  stop_cgscope "$name"
  replay_cgscope "$name"
}

# wants SECTION: run this section? (CGSCOPE_VM_SECTIONS="collectors v3 ..." runs only those.)
wants() { [[ -z ${CGSCOPE_VM_SECTIONS:-} || " $CGSCOPE_VM_SECTIONS " == *" $1 "* ]]; }

# Every collector on this kernel (issue 25), one interval with work for each: block I/O through
# an I/O scheduler on a real virtio disk (direct, so it is the writer's), NFS page-cache reads
# cold then warm, reclaim under a memory limit, CPU. What loaded and how goes to the check.
collectors() {
  fact kernel "$(uname -r)"
  local pages=1024 dev sched
  modprobe -a virtio_blk ext4 2>/dev/null
  for ((i = 0; i < 50; i++)); do [[ -b /dev/vda ]] && break; sleep 0.1; done
  [[ -b /dev/vda ]] || { fact collectors_disk none; return 1; }
  mkfs.ext4 -q -F /dev/vda && mkdir -p /mnt/scratch && mount /dev/vda /mnt/scratch || return 1
  # A scheduler, so that dispatch may leave the submitter's context: the case block_io_start or
  # block_rq_insert is for.
  echo mq-deadline >/sys/block/vda/queue/scheduler 2>/dev/null
  sched=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/block/vda/queue/scheduler)
  dev=$(cat /sys/block/vda/dev)
  fact collectors_disk "$dev"
  fact collectors_scheduler "$sched"
  mount_v3_pair || return 1  # the NFS collector attaches with the first NFS mount
  head -c $((pages * 4096)) /dev/urandom >"$NFS_EXPORT_DIR/cache.dat"
  head -c $((32 << 20)) /dev/zero >/mnt/scratch/big.dat
  sync
  cg_create col/blk >/dev/null && cg_create col/cache >/dev/null && cg_create col/mem >/dev/null || return 1
  echo $((8 << 20)) >"$CG_ROOT/col/mem/memory.max"
  echo 3 >/proc/sys/vm/drop_caches
  fact collectors_id_blk "$(stat -c %i $CG_ROOT/col/blk)"
  fact collectors_id_cache "$(stat -c %i $CG_ROOT/col/cache)"
  fact collectors_id_mem "$(stat -c %i $CG_ROOT/col/mem)"
  fact collectors_cache_pages "$pages"
  sysctl -qw kernel.bpf_stats_enabled=1  # run counts: which programs fired
  COLLECTORS=cpu,io,memory,nfs start_cgscope collectors story --bpf required || return 1
  cg_run col/blk dd if=/dev/zero of=/mnt/scratch/direct.dat bs=64k count=64 oflag=direct status=none
  cg_run col/blk dd if=/mnt/scratch/direct.dat of=/dev/null bs=64k iflag=direct status=none
  cg_run col/cache cat "$NFS_V3_A/cache.dat" >/dev/null
  cg_run col/cache cat "$NFS_V3_A/cache.dat" >/dev/null
  cg_run col/mem dd if=/mnt/scratch/big.dat of=/dev/null bs=1M status=none
  bpftool prog show -j >"$R/collectors.progs.json" 2>/dev/null
  stop_cgscope collectors
  sysctl -qw kernel.bpf_stats_enabled=0
  # The same kernel, verbose: what libbpf said (for a failure's whole story).
  "$CGSCOPE_BIN" -v snapshot --json -i 1s -c 1 --bpf required >/dev/null 2>"$R/collectors.verbose.err"
  nfs_umount_all
  umount /mnt/scratch
}

if wants collectors; then
  section collectors
  collectors
fi

# The profiler on this kernel (issue 22): on-CPU samples with stack copies, unwound from the
# CFI of a program built without frame pointers (tests/bpf/profile_target.c, "chain").
profile_unwind() {
  local target
  target="$(dirname "$CGSCOPE_BIN")/tests/profile_target_nofp"
  fact profile_kernel "$(uname -r)"
  [[ -x $target ]] || { fact profile_target missing; return 1; }
  cg_create prof >/dev/null || return 1
  cg_run prof "$target" chain 30 &
  local pid=$!
  sleep 1
  "$CGSCOPE_BIN" profile --cgroup /prof -d 4s -F 99 --unwind dwarf -o "$R/profile.folded" 2>"$R/profile.err"
  fact profile_exit "$?"
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rmdir "$CG_ROOT/prof" 2>/dev/null
  return 0
}

if wants profile; then
  section profile
  profile_unwind
fi

section v3
if ! wants v3; then
  :
elif mount_v3_pair; then
  ADVISE=1 RECORD=1 negative neg_v3 "$NFS_V3_A" "$NFS_V3_B" blob-v3
  replay_cgscope neg_v3
  advise_replay neg_v3
  remount remount_v3 "$NFS_V3_A" "$NFS_V3_B" blob-rm
  umount "$NFS_V3_B" && nfs_mount_v3 "$NFS_V3_B"
  NEGATIVE_PROBE=fexit negative neg_v3_fexit "$NFS_V3_A" "$NFS_V3_B" blob-fx
  NEGATIVE_PROBE=kprobe negative neg_v3_kprobe "$NFS_V3_A" "$NFS_V3_B" blob-kp
  umount "$NFS_V3_B" && nfs_mount_v3 "$NFS_V3_B" lookupcache=positive
  negative neg_v3_positive "$NFS_V3_A" "$NFS_V3_B" blob-pos
  umount "$NFS_V3_B" && nfs_mount_v3 "$NFS_V3_B" actimeo=600
  shared shared_v3 "$NFS_V3_A" "$NFS_V3_B" reg
  umount "$NFS_V3_B" && nfs_mount_v3 "$NFS_V3_B" actimeo=0
  shared shared_v3_actimeo0 "$NFS_V3_A" "$NFS_V3_B" reg0
  nfs_umount_all
fi

section v4
if ! wants v4; then
  :
elif mount_v4_pair; then
  negative neg_v4 "$NFS_V4_A" "$NFS_V4_B" blob-v4
  shared shared_v4 "$NFS_V4_A" "$NFS_V4_B" reg4
  nfs_umount_all
fi

if ! wants lifecycle; then
  fact done yes
  exit 0
fi
section lifecycle
# cgscope runs while the mounts go away, the module is unloaded and loaded, and they come back.
mount_v3_pair
start_cgscope lifecycle 3
cg_run nfs/b python3 "$here/workload.py" stat "$NFS_V3_B/life-1"
nfs_umount_all
sleep 5
modprobe -r nfsv4 nfsv3 nfs
fact lifecycle_rmmod $?
fact lifecycle_nfs_module_after_rmmod "$([[ -e /sys/module/nfs ]] && echo loaded || echo unloaded)"
sleep 4
modprobe -a nfsv3 nfsv4
mount_v3_pair
# cgscope attaches again at its next sample (loading and attaching take seconds under TCG):
# wait until every NFS program it loaded is attached (has a link), not just loaded.
all_attached() {
  python3 - "$(bpftool prog show -j 2>/dev/null)" "$(bpftool link show -j 2>/dev/null)" <<'PY'
import json, re, sys
progs = {p["id"] for p in json.loads(sys.argv[1] or "[]") if re.match(r"(nfs|neg|rpc|xprt)_", p.get("name", ""))}
linked = {l.get("prog_id") for l in json.loads(sys.argv[2] or "[]")}
sys.exit(0 if progs and progs <= linked else 1)
PY
}
reattached=no
for ((until = $(date +%s) + 180; $(date +%s) < until; )); do
  all_attached && { reattached=yes; break; }
  sleep 0.2
done
fact lifecycle_reattached $reattached
sleep 3
cg_run nfs/b python3 "$here/workload.py" stat "$NFS_V3_B/life-2" "$NFS_V3_B/life-3"
stop_cgscope lifecycle
fact done yes
exit 0
