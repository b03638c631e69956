#!/bin/busybox sh
# shellcheck shell=dash
# /init of the vm harness's initramfs (built by tests/vm/kernel.sh): loads the modules that
# reach the root, mounts the host's / (9p, read-only) under a tmpfs overlay and hands over to
# the guest init named on the kernel command line (cgscope.init=PATH, a path on the host's /).
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
  echo "cgscope-vm initramfs: $*" >/dev/console
  # No shell to fall back to: power off so that the host sees the failure at once.
  echo o >/proc/sysrq-trigger
  sleep 10
}

mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

for m in $(cat /modules.order); do
  insmod "/modules/$m" || fail "insmod $m failed"
done

guest_init=
for arg in $(cat /proc/cmdline); do
  case $arg in
    cgscope.init=*) guest_init=${arg#cgscope.init=} ;;
  esac
done
[ -n "$guest_init" ] || fail "no cgscope.init= on the kernel command line"

mkdir -p /lower /rw
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro root /lower \
  || fail "mounting the host root (9p tag 'root') failed"
mount -t tmpfs -o mode=755 rw /rw || fail "tmpfs for the overlay failed"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
  || fail "overlay of the host root failed"
[ -x "/newroot$guest_init" ] || fail "guest init $guest_init is not executable in the host root"

umount /proc
# The console is open on /dev: move it rather than unmounting it.
mount --move /dev /newroot/dev || fail "moving /dev into the new root failed"
exec switch_root /newroot /bin/bash "$guest_init"
