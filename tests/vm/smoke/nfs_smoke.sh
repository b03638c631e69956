#!/usr/bin/env bash
# Payload of the vm smoke suite (run by tests/vm/vm_test.py through run-in-guest.sh): one boot
# records what the guest offers. It asserts nothing itself: every observation goes into
# facts.txt (KEY=VALUE lines) or a file of its own in the results directory, and the host-side
# checks in vm_test.py assert on them, one CTest test each.
#
# Needs: CGSCOPE_BIN (the host-built cgscope, run-in-guest.sh -e CGSCOPE_BIN=...).
set -u
# shellcheck source=tests/vm/guest-lib.sh
source "$CGSCOPE_VM_LIB"

facts=$CGSCOPE_VM_RESULTS/facts.txt
: >"$facts"
fact() { printf '%s=%s\n' "$1" "$2" >>"$facts"; }
section() {
  echo "== $1 ($(now_ms) ms)"
  fact "section_$1_start_ms" "$(now_ms)"
}

section cgroup
fact cgroup_fstype "$(stat -f -c %T /sys/fs/cgroup)"
fact cgroup_v1_mounts "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"
fact cgroup2_mounts "$(awk '$3 == "cgroup2"' /proc/mounts | wc -l)"
fact cgroup_subtree_control "$(cat /sys/fs/cgroup/cgroup.subtree_control)"
cg_create smoke/probe >/dev/null
fact cgroup_probe_self "$(cg_run smoke/probe cat /proc/self/cgroup)"
fact cgroup_probe_has_cpu_max "$([[ -e /sys/fs/cgroup/smoke/probe/cpu.max ]] && echo yes || echo no)"
fact cgroup_probe_has_memory_max "$([[ -e /sys/fs/cgroup/smoke/probe/memory.max ]] && echo yes || echo no)"

section nfsd
fact nfsd_versions "$(cat /proc/fs/nfsd/versions)"
fact nfsd_threads "$(cat /proc/fs/nfsd/threads)"
fact nfsd_portlist "$(tr '\n' ' ' </proc/fs/nfsd/portlist)"
fact rpcinfo_programs "$(rpcinfo -p 127.0.0.1 | awk 'NR > 1 { print $5 "/" $2 }' | sort -u | tr '\n' ' ')"
fact showmount_exports "$(showmount --no-headers -e 127.0.0.1 | awk '{ print $1 }' | tr '\n' ' ')"

# cross_visibility PREFIX DIR_A DIR_B: each client reads a file the other one wrote.
cross_visibility() {
  local p=$1 a=$2 b=$3
  fact "${p}_dev_a" "$(stat -c %d "$a")"
  fact "${p}_dev_b" "$(stat -c %d "$b")"
  echo "written by A" >"$a/$p-from-a"
  echo "written by B" >"$b/$p-from-b"
  fact "${p}_b_reads_a" "$(cat "$b/$p-from-a" 2>&1)"
  fact "${p}_a_reads_b" "$(cat "$a/$p-from-b" 2>&1)"
  fact "${p}_server_sees" "$(cd "$NFS_EXPORT_DIR" && printf '%s ' "$p"-from-*)"
}

# measure_stale PREFIX DIR_A DIR_B: A grows a file B has looked at; how long B's stat() keeps
# reporting the old size (the attribute cache), and that a fresh open() on B is fresh at once.
measure_stale() {
  local p=$1 a=$2 b=$3 f=$1-stale
  python3 "$(dirname "$CGSCOPE_VM_PAYLOAD_SOURCE")/stale_probe.py" "$p" "$a/$f" "$b/$f" \
    "$NFS_EXPORT_DIR/$f" >>"$facts"
  fact "${p}_mount_opts_b" "$(awk -v m="$b" '$2 == m { print $4 }' /proc/mounts)"
}

section v3
if mount_v3_pair; then
  fact v3_mounted yes
  cross_visibility v3 "$NFS_V3_A" "$NFS_V3_B"
  measure_stale v3 "$NFS_V3_A" "$NFS_V3_B"
else
  fact v3_mounted no
fi

section v4
if mount_v4_pair; then
  fact v4_mounted yes
  fact v4_mount_opts_a "$(awk -v m="$NFS_V4_A" '$2 == m { print $4 }' /proc/mounts)"
  cross_visibility v4 "$NFS_V4_A" "$NFS_V4_B"
  # The server's view: one NFSv4 client per namespace, named after its hostname.
  fact v4_server_clients "$(cat /proc/fs/nfsd/clients/*/info 2>/dev/null | sed -n 's/^name: //p' \
    | tr '\n' ' ')"
  measure_stale v4 "$NFS_V4_A" "$NFS_V4_B"
else
  fact v4_mounted no
fi

section tracepoints
for sys in nfs nfs4 sunrpc nfsd; do
  if [[ -d /sys/kernel/tracing/events/$sys ]]; then
    find "/sys/kernel/tracing/events/$sys" -mindepth 1 -maxdepth 1 -type d -printf "$sys:%f\n" | sort
  fi
done >tracepoints.txt
for sys in nfs nfs4 sunrpc nfsd; do fact "tracepoints_$sys" "$(grep -c "^$sys:" tracepoints.txt)"; done
ls /sys/kernel/btf >btf.txt
fact btf_modules "$(grep -xE 'vmlinux|nfs|nfsv3|nfsv4|sunrpc|nfsd|lockd' btf.txt | tr '\n' ' ')"
# The layout of an exit event the NFS collector will read.
cp /sys/kernel/tracing/events/nfs/nfs_revalidate_inode_exit/format nfs_revalidate_inode_exit.format \
  2>/dev/null
cp /sys/kernel/tracing/events/sunrpc/rpc_stats_latency/format rpc_stats_latency.format 2>/dev/null

section cgscope
# A busy cgroup, so the snapshot has a row measured by eBPF in the pure v2 hierarchy.
cg_run smoke/busy sh -c 'while :; do :; done' &
busy=$!
timeout 120 "$CGSCOPE_BIN" snapshot --json --count 1 --bpf required \
  >cgscope-snapshot.json 2>cgscope-snapshot.err
fact cgscope_status "$?"
cg_kill smoke/busy
wait "$busy" 2>/dev/null

section end
exit 0
