# shellcheck shell=bash
# Shell helpers for vm harness payloads (bash). guest-init.sh sources this file and starts the
# NFS server before the payload runs; a payload sources it for the client helpers:
#
#   source "$CGSCOPE_VM_LIB"
#   mount_v3_pair                      # $NFS_V3_A, $NFS_V3_B: two NFSv3 clients of one export
#   mount_v4_pair "" lookupcache=positive   # $NFS_V4_A, $NFS_V4_B: two NFSv4.2 clients
#   cg_create a; cg_run a stat "$NFS_V3_A/x"
#
# Every helper returns non-zero (with a message on stderr) when it fails.
#
# The server: kernel nfsd in the guest's root network namespace, exporting a tmpfs at
# $NFS_EXPORT_DIR to 127.0.0.0/8 and to the client namespaces' 10.77.0.0/16, fsid=0 (so the
# NFSv4 pseudo root "/" is the export). NFSv3 clients mount 127.0.0.1:$NFS_EXPORT_DIR.
#
# Two clients: NFSv3 mounts with nosharecache get a superblock and attribute cache each, which
# is enough for v3. NFSv4 mounts in one network namespace share one nfs_client (one lease, one
# delegation state) even with nosharecache, so each NFSv4 client gets its own network namespace
# (a veth pair to the root namespace: 10.77.N.1 here, 10.77.N.2 there) and its own UTS
# hostname nodeN (the NFSv4 client id is built from it), like two machines.

NFS_EXPORT_DIR=/srv/export
NFS_V3_A=/mnt/nfs/v3a
NFS_V3_B=/mnt/nfs/v3b
NFS_V4_A=/mnt/nfs/v4a
NFS_V4_B=/mnt/nfs/v4b
CG_ROOT=/sys/fs/cgroup

_vm_err() { echo "guest-lib: $*" >&2; }

# Starts rpcbind, mountd and nfsd serving $NFS_EXPORT_DIR. Called by guest-init.sh.
nfs_server_start() {
  modprobe -a nfsd nfsv3 nfsv4 || { _vm_err "modprobe nfsd nfsv3 nfsv4 failed"; return 1; }
  mkdir -p "$NFS_EXPORT_DIR" /run/rpc_pipefs /var/lib/nfs/v4recovery /run/rpcbind
  mount -t tmpfs -o size=512m,mode=1777 nfs-export "$NFS_EXPORT_DIR" || return 1
  mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd || return 1
  mount -t rpc_pipefs rpc_pipefs /run/rpc_pipefs || return 1
  local opts=rw,sync,no_subtree_check,no_root_squash,insecure,fsid=0
  echo "$NFS_EXPORT_DIR 127.0.0.0/8($opts) 10.77.0.0/16($opts)" >/etc/exports
  rpcbind -w || { _vm_err "rpcbind failed"; return 1; }
  exportfs -ra || { _vm_err "exportfs -ra failed"; return 1; }
  rpc.mountd || { _vm_err "rpc.mountd failed"; return 1; }
  # Before nfsd starts, or NFSv4 opens wait out the default 90 s grace period.
  echo 10 >/proc/fs/nfsd/nfsv4leasetime || return 1
  echo 10 >/proc/fs/nfsd/nfsv4gracetime || return 1
  rpc.nfsd 4 || { _vm_err "rpc.nfsd failed"; return 1; }
  # A fresh server has no client state to reclaim: end the grace period now instead of
  # making the first NFSv4 open wait 10 s.
  if [[ -w /proc/fs/nfsd/v4_end_grace ]]; then echo Y >/proc/fs/nfsd/v4_end_grace; fi
  grep -q . /proc/fs/nfsd/portlist || { _vm_err "nfsd has no listening ports"; return 1; }
}

# nfs_mount_v3 MOUNTPOINT [OPTIONS]: an NFSv3 client with its own superblock and caches.
nfs_mount_v3() {
  local mnt=$1 extra=${2:-}
  mkdir -p "$mnt"
  mount -t nfs -o "vers=3,nolock,nosharecache${extra:+,$extra}" "127.0.0.1:$NFS_EXPORT_DIR" "$mnt" \
    || { _vm_err "NFSv3 mount of $mnt (options '$extra') failed"; return 1; }
}

# mount_v3_pair [OPTIONS_A [OPTIONS_B]]: $NFS_V3_A and $NFS_V3_B, two clients of one export.
mount_v3_pair() {
  nfs_mount_v3 "$NFS_V3_A" "${1:-}" && nfs_mount_v3 "$NFS_V3_B" "${2:-}"
}

# nfs_client_ns N: network namespace cgscope-nfsN, linked to the root namespace by a veth pair
# (10.77.N.1 in the root namespace, where nfsd listens; 10.77.N.2 inside). Idempotent.
nfs_client_ns() {
  local n=$1 ns=cgscope-nfs$1
  [[ -e /run/netns/$ns ]] && return 0
  modprobe veth || { _vm_err "modprobe veth failed"; return 1; }
  if ! { ip netns add "$ns" &&
    ip link add "cgnfs$n-s" type veth peer name "cgnfs$n-c" netns "$ns" &&
    ip addr add "10.77.$n.1/24" dev "cgnfs$n-s" &&
    ip link set "cgnfs$n-s" up &&
    ip -n "$ns" addr add "10.77.$n.2/24" dev "cgnfs$n-c" &&
    ip -n "$ns" link set "cgnfs$n-c" up &&
    ip -n "$ns" link set lo up; }; then
    _vm_err "setting up network namespace $ns failed"
    return 1
  fi
}

# nfs_client_exec N COMMAND...: runs COMMAND in client N's network namespace with hostname nodeN
# (in a UTS namespace of its own; the mount namespace is the guest's, so mounts are global).
nfs_client_exec() {
  local n=$1
  shift
  nfs_client_ns "$n" || return 1
  # shellcheck disable=SC2016 # expanded by the inner sh
  nsenter "--net=/run/netns/cgscope-nfs$n" unshare -u -- \
    sh -c 'hostname "$0" && exec "$@"' "node$n" "$@"
}

# nfs_mount_v4 N MOUNTPOINT [OPTIONS]: an NFSv4.2 mount through client N (1, 2, ...).
nfs_mount_v4() {
  local n=$1 mnt=$2 extra=${3:-}
  mkdir -p "$mnt"
  nfs_client_exec "$n" mount -t nfs4 -o "vers=4.2${extra:+,$extra}" "10.77.$n.1:/" "$mnt" \
    || { _vm_err "NFSv4.2 mount of $mnt by client $n (options '$extra') failed"; return 1; }
}

# mount_v4_pair [OPTIONS_A [OPTIONS_B]]: $NFS_V4_A (client 1) and $NFS_V4_B (client 2).
mount_v4_pair() {
  nfs_mount_v4 1 "$NFS_V4_A" "${1:-}" && nfs_mount_v4 2 "$NFS_V4_B" "${2:-}"
}

# nfs_umount_all: unmounts every NFS mount (the server keeps running).
nfs_umount_all() {
  umount -a -t nfs,nfs4 || { _vm_err "unmounting the NFS mounts failed"; return 1; }
}

# cg_create NAME: creates the cgroup $CG_ROOT/NAME (a/b/c: parents too, each with every
# controller it has enabled for its children, so NAME gets cpu.max, memory.max, io.max, ...) and
# prints its path.
cg_create() {
  local dir=$CG_ROOT part controllers
  local -a parts
  IFS=/ read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    [[ -n $part ]] || continue
    if [[ $dir != "$CG_ROOT" ]]; then
      controllers=$(sed 's/\([^ ]*\)/+\1/g' "$dir/cgroup.controllers")
      if [[ -n $controllers ]] && ! echo "$controllers" >"$dir/cgroup.subtree_control"; then
        _vm_err "enabling '$controllers' in $dir failed"
        return 1
      fi
    fi
    dir=$dir/$part
    mkdir -p "$dir" || { _vm_err "creating cgroup $dir failed"; return 1; }
  done
  echo "$dir"
}

# cg_run NAME COMMAND...: runs COMMAND (in the foreground) inside cgroup NAME.
cg_run() {
  local cg=$1
  shift
  [[ -d $CG_ROOT/$cg ]] || cg_create "$cg" >/dev/null || return 1
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG_ROOT/$cg" "$@"
}

# cg_kill NAME: kills every process in cgroup NAME (cgroup.kill) and waits until it is empty.
cg_kill() {
  local cg=$CG_ROOT/$1 i
  echo 1 >"$cg/cgroup.kill" || { _vm_err "killing cgroup $1 failed"; return 1; }
  for ((i = 0; i < 100; i++)); do
    grep -q populated\ 0 "$cg/cgroup.events" && return 0
    sleep 0.1
  done
  _vm_err "cgroup $1 still has processes 10 s after cgroup.kill"
  return 1
}

# now_ms: wall-clock milliseconds without forking (bash's EPOCHREALTIME; the guest has no NTP
# that could step the clock during a run).
now_ms() {
  local us=${EPOCHREALTIME/[.,]/}
  echo $((us / 1000))
}
