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

# start_cgscope NAME SECONDS [ARGS...]: one interval of SECONDS, in the background; returns
# once the NFS programs are attached (the first sample is taken right after attaching).
start_cgscope() {
  local name=$1 secs=$2 i
  shift 2
  rm -f "$R/$name.ready"
  "$CGSCOPE_BIN" snapshot --json -i "${secs}s" -c "${COUNT:-1}" --collectors nfs --ready-file "$R/$name.ready" \
    "$@" >"$R/$name.json" 2>"$R/$name.err" &
  CGSCOPE_PID=$!
  CGSCOPE_DEADLINE=$(($(date +%s) + secs * ${COUNT:-1} + 120))
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
# wait_cgscope NAME: its exit status. One that outlives its intervals by two minutes is hung:
# where each of its threads waits in the kernel goes to NAME.hang, then it is killed.
wait_cgscope() {
  while kill -0 "$CGSCOPE_PID" 2>/dev/null && (($(date +%s) < CGSCOPE_DEADLINE)); do sleep 1; done
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
count_word() { grep -c " $1\$" "$2" || true; }

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

# negative STORY_NAME DIR_A DIR_B PREFIX: B looks names up, A creates them, B looks again.
# In a directory of its own, new to B: B's first lookup caches the directory's attributes, so
# the story plays within their timeout (acdirmin 30 s), never across a revalidation.
negative() {
  local name=$1 a=$2 b=$3 p=$4 n names_a=() names_b=()
  mkdir "$NFS_EXPORT_DIR/$p"
  for n in 1 2 3 4 5; do
    names_a+=("$a/$p/blob-$n")
    names_b+=("$b/$p/blob-$n")
  done
  start_cgscope "$name" "${SECS:-25}" ${NEGATIVE_PROBE:+--nfs-negative "$NEGATIVE_PROBE"} || return 1
  cg_run nfs/idle sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done' &
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.first"
  cg_run nfs/a python3 "$here/workload.py" create "${names_a[@]}"
  cg_run nfs/b python3 "$here/workload.py" stat "${names_b[@]}" >"$R/$name.second"
  wait %1 2>/dev/null
  fact "${name}_first_enoent" "$(count_word ENOENT "$R/$name.first")"
  fact "${name}_second_enoent" "$(count_word ENOENT "$R/$name.second")"
  fact "${name}_mount_b" "$(awk -v m="$b" '$2 == m { print $4 }' /proc/mounts)"
  wait_cgscope "$name"
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
  start_cgscope "$name" "${SECS:-40}" || return 1
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
  wait_cgscope "$name"
}

section v3
if mount_v3_pair; then
  negative neg_v3 "$NFS_V3_A" "$NFS_V3_B" blob-v3
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
if mount_v4_pair; then
  negative neg_v4 "$NFS_V4_A" "$NFS_V4_B" blob-v4
  shared shared_v4 "$NFS_V4_A" "$NFS_V4_B" reg4
  nfs_umount_all
fi

section lifecycle
# cgscope runs while the mounts go away, the module is unloaded and loaded, and they come back.
mount_v3_pair
COUNT=12 start_cgscope lifecycle 3
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
for ((until = $(date +%s) + 90; $(date +%s) < until; )); do
  all_attached && { reattached=yes; break; }
  sleep 0.2
done
fact lifecycle_reattached $reattached
sleep 3
cg_run nfs/b python3 "$here/workload.py" stat "$NFS_V3_B/life-2" "$NFS_V3_B/life-3"
wait_cgscope lifecycle
fact done yes
exit 0
