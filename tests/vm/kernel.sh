#!/usr/bin/env bash
# Prepares the guest kernel and initramfs of the vm test harness in a cache directory and prints
# where they are, as shell assignments (KVER=, VMLINUZ=, INITRD=, MODULES_DIR=).
#
#   tests/vm/kernel.sh            # fetch/unpack/build what is missing, print the paths
#
# The kernel is Debian's own (the linux-image-6.1.0-NN-amd64 that linux-image-amd64 depends
# on), fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing kernel-related
# is ever installed on the host. The initramfs holds busybox-static, the modules needed to
# reach the root filesystem (virtio-pci, 9p, overlay) and tests/vm/initramfs-init.sh.
#
# Environment:
#   CGSCOPE_VM_CACHE   cache directory (default ${XDG_CACHE_HOME:-/var/cache}/cgscope-vm)
#   CGSCOPE_VM_KERNEL  kernel release to use, e.g. 6.1.0-57-amd64 (default: what apt says
#                      linux-image-amd64 depends on; offline, the newest one in the cache)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${CGSCOPE_VM_CACHE:-${XDG_CACHE_HOME:-/var/cache}/cgscope-vm}
busybox=/bin/busybox
# Modules the initramfs loads, in this order of targets; each target's dependencies come first.
root_modules=(virtio_pci 9pnet_virtio 9p overlay)

die() {
  echo "vm kernel: $*" >&2
  exit 1
}

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip flock; do
  command -v "$tool" >/dev/null || die "'$tool' not found (run scripts/install-deps.sh as root)"
done
if [[ ! -x $busybox ]] || ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is missing or not static (install busybox-static: scripts/install-deps.sh)"
fi

mkdir -p "$cache"
# Several worktrees and test processes may prepare the cache at once: one at a time.
exec 9>"$cache/.lock"
flock 9

newest_cached() {
  find "$cache" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null \
    | xargs -r -n1 basename | sort -V | tail -1
}

# fetch_kernel KVER: downloads and unpacks linux-image-KVER into $cache/KVER; 1 on failure.
fetch_kernel() {
  local kver=$1 kdir=$cache/$1 deb
  rm -rf "$kdir" "$kdir.tmp" "$cache/download"
  mkdir -p "$cache/download"
  # apt drops privileges to _apt for downloads: let it write there.
  if id _apt >/dev/null 2>&1; then chown _apt "$cache/download"; fi
  echo "vm kernel: downloading linux-image-$kver into $cache" >&2
  if ! (cd "$cache/download" && apt-get download -q "linux-image-$kver" >&2); then
    echo "vm kernel: apt-get download linux-image-$kver failed (apt-get update? mirror reachable?)" >&2
    rm -rf "$cache/download"
    return 1
  fi
  deb=$(find "$cache/download" -name "linux-image-${kver}_*.deb" | head -1)
  [[ -n $deb ]] || die "apt-get download left no linux-image-${kver}_*.deb in $cache/download"
  mkdir -p "$kdir.tmp"
  dpkg-deb -x "$deb" "$kdir.tmp"
  [[ -f $kdir.tmp/boot/vmlinuz-$kver && -d $kdir.tmp/lib/modules/$kver ]] \
    || die "$deb has no boot/vmlinuz-$kver or lib/modules/$kver"
  # The .deb ships no modules.dep: generate it (into the unpacked tree only).
  depmod -b "$kdir.tmp" "$kver"
  rm -rf "$cache/download"
  mv "$kdir.tmp" "$kdir"
  touch "$kdir/.complete"
}

# The kernel release: what linux-image-amd64 depends on, else the newest unpacked one.
kver=${CGSCOPE_VM_KERNEL:-}
if [[ -z $kver ]]; then
  kver=$(apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -1) || true
fi
if [[ -z $kver ]]; then
  kver=$(newest_cached)
  [[ -n $kver ]] || die "apt does not know linux-image-amd64 and the cache $cache is empty:" \
    "run 'apt-get update' (needs the Debian mirror) or set CGSCOPE_VM_KERNEL"
fi
[[ $kver =~ ^[0-9][A-Za-z0-9._+-]*$ ]] || die "unexpected kernel release '$kver'"

if [[ ! -e $cache/$kver/.complete ]] && ! fetch_kernel "$kver"; then
  # Offline with an older kernel in the cache (and none asked for by name): use that one.
  fallback=$(newest_cached)
  [[ -z ${CGSCOPE_VM_KERNEL:-} && -n $fallback ]] || die "no kernel $kver in $cache and it cannot be fetched"
  echo "vm kernel: using the cached $fallback instead of $kver" >&2
  kver=$fallback
fi
kdir=$cache/$kver
modules_dir=$kdir/lib/modules/$kver

# The initramfs depends on the init script, busybox and the kernel: rebuild when one changes.
stamp=$(cat "$here/initramfs-init.sh" "$busybox" "$kdir/.complete" | sha256sum | cut -c1-16)
initrd=$kdir/initrd-$stamp.cpio.gz
if [[ ! -f $initrd ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
  cp "$busybox" "$work/bin/busybox"
  cp "$here/initramfs-init.sh" "$work/init"
  chmod 755 "$work/init"
  : >"$work/modules.order"
  for target in "${root_modules[@]}"; do
    # "insmod /path/x.ko" lines, dependencies first; "builtin x" for what is built in.
    deps=$(modprobe -d "$kdir" -S "$kver" --show-depends "$target") \
      || die "modprobe --show-depends $target failed for $kver"
    while read -r verb path _; do
      [[ $verb == insmod ]] || continue
      name=$(basename "$path")
      grep -qxF "${name%%.ko*}.ko" "$work/modules.order" && continue
      case $path in
        *.ko) cp "$path" "$work/modules/" ;;
        *.ko.xz) xz -dc "$path" >"$work/modules/${name%.xz}" ;;
        *.ko.zst) zstd -qdc "$path" >"$work/modules/${name%.zst}" ;;
        *.ko.gz) gzip -dc "$path" >"$work/modules/${name%.gz}" ;;
        *) die "unknown module file $path" ;;
      esac
      echo "${name%%.ko*}.ko" >>"$work/modules.order"
    done <<<"$deps"
  done
  # The kernel opens /dev/console for init before anything is mounted.
  mknod -m 600 "$work/dev/console" c 5 1 2>/dev/null || true
  (cd "$work" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) \
    >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  # Older initramfs images of this kernel are obsolete.
  find "$kdir" -maxdepth 1 -name 'initrd-*.cpio.gz' ! -name "$(basename "$initrd")" -delete
fi

printf 'KVER=%s\nVMLINUZ=%s\nINITRD=%s\nMODULES_DIR=%s\n' \
  "$kver" "$kdir/boot/vmlinuz-$kver" "$initrd" "$modules_dir"
