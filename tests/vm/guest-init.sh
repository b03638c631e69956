#!/bin/bash
# PID 1 of the vm harness's guest (started by tests/vm/initramfs-init.sh after switch_root into
# the host's / with a tmpfs overlay). Sets up a plain machine: kernel filesystems, a pure cgroup
# v2 hierarchy, the guest kernel's modules, loopback, the kernel NFS server; runs the payload
# named in guest.env; writes its exit status into the results share and powers off.
#
# Files in the results share (the host's RESULTS_DIR, mounted at $CGSCOPE_VM_RESULTS):
#   guest.env       written by the host: CGSCOPE_VM_PAYLOAD, CGSCOPE_VM_KVER, CGSCOPE_VM_MODULES,
#                   CGSCOPE_VM_BOOT, CGSCOPE_VM_NFS and the payload's own variables (run-in-guest.sh -e)
#   payload.log     the payload's stdout and stderr
#   exit-status     the payload's exit status (written last)
#   guest-timings   guest uptime in seconds at each stage
#   harness-error   why the guest could not run the payload, when it could not
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
export CGSCOPE_VM_RESULTS=/run/cgscope-vm
CGSCOPE_VM_LIB=$(cd "$(dirname "$0")" && pwd)/guest-lib.sh
export CGSCOPE_VM_LIB

uptime_s() {
  local up _
  read -r up _ </proc/uptime
  echo "$up"
}
log() { echo "[cgscope-vm $(uptime_s)s] $*" >/dev/console; }
stage() {
  log "$1"
  [[ -d $CGSCOPE_VM_RESULTS ]] && echo "$1 $(uptime_s)" >>"$CGSCOPE_VM_RESULTS/guest-timings"
}
power_off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}
harness_fail() {
  log "harness error: $*"
  if mountpoint -q "$CGSCOPE_VM_RESULTS" 2>/dev/null; then
    echo "$*" >"$CGSCOPE_VM_RESULTS/harness-error"
  fi
  power_off
}
must() { "$@" || harness_fail "failed: $*"; }

exec </dev/console >/dev/console 2>&1

# Kernel filesystems. /dev (devtmpfs) was moved here by the initramfs.
must mount -t proc proc /proc
must mount -t sysfs sysfs /sys
mountpoint -q /dev || must mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
must mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
must mount -t tmpfs -o mode=1777 tmpfs /dev/shm
must mount -t tmpfs -o mode=755 tmpfs /run
# /tmp stays the host's, through the overlay (writes land in the guest's tmpfs upper layer), so
# a checkout or build under the host's /tmp (CI clones there) is visible in the guest.
mkdir -p "$CGSCOPE_VM_RESULTS"
must mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "$CGSCOPE_VM_RESULTS"
stage userspace
[[ -r $CGSCOPE_VM_RESULTS/guest.env ]] || harness_fail "no guest.env in the results share"
# shellcheck source=/dev/null
source "$CGSCOPE_VM_RESULTS/guest.env"
[[ ${CGSCOPE_VM_DEBUG:-0} == 1 ]] && set -x

must mount -t tracefs tracefs /sys/kernel/tracing
must mount -t debugfs debugfs /sys/kernel/debug
must mount -t bpf -o mode=700 bpf /sys/fs/bpf
# A pure cgroup v2 hierarchy (the host here is hybrid): every controller enabled for children.
must mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
controllers=$(sed 's/\([^ ]*\)/+\1/g' /sys/fs/cgroup/cgroup.controllers)
[[ -z $controllers ]] || must sh -c "echo '$controllers' >/sys/fs/cgroup/cgroup.subtree_control"

# The guest kernel's modules, unpacked in the host's cache, in the place modprobe looks.
mkdir -p "/lib/modules/$CGSCOPE_VM_KVER"
must mount --bind -o ro "$CGSCOPE_VM_MODULES" "/lib/modules/$CGSCOPE_VM_KVER"
# Its config and System.map where an installed kernel has them (libbpf reads /boot/config-*
# for __kconfig externs; this kernel has no /proc/config.gz).
for f in config System.map; do
  [[ -f $CGSCOPE_VM_BOOT/$f-$CGSCOPE_VM_KVER ]] && cp "$CGSCOPE_VM_BOOT/$f-$CGSCOPE_VM_KVER" /boot/
done
must hostname cgscope-vm
must ip link set lo up

# shellcheck source=tests/vm/guest-lib.sh
source "$CGSCOPE_VM_LIB"
if [[ ${CGSCOPE_VM_NFS:-1} == 1 ]]; then
  nfs_server_start || harness_fail "the NFS server did not start (see the console log above)"
  stage nfsd-serving
fi

# The payload: a bash script on the host's / (read-only here), run from the results share.
stage payload-start
cd "$CGSCOPE_VM_RESULTS" || harness_fail "cd $CGSCOPE_VM_RESULTS"
bash "$CGSCOPE_VM_PAYLOAD" >payload.log 2>&1 </dev/null
status=$?
cd /
stage payload-end
log "payload exited with status $status"
if [[ ${CGSCOPE_VM_SHELL:-0} == 1 ]]; then
  log "root shell on the console (run-in-guest.sh --shell); exit it to power off"
  (cd "$CGSCOPE_VM_RESULTS" && setsid -c bash -i)
fi

echo "$status" >"$CGSCOPE_VM_RESULTS/exit-status.tmp"
mv "$CGSCOPE_VM_RESULTS/exit-status.tmp" "$CGSCOPE_VM_RESULTS/exit-status"
power_off
