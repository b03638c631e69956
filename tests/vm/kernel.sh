#!/usr/bin/env bash
# Prepares the guest kernel and initramfs of the vm test harness in a cache directory and prints
# where they are, as shell assignments (KVER=, VMLINUZ=, INITRD=, MODULES_DIR=).
#
#   tests/vm/kernel.sh            # fetch/unpack/build what is missing, print the paths
#
# The kernel is Debian's own (a release pinned in tests/vm/kernels.txt: 6.1 of Debian 12, 6.12
# of Debian 13 and bookworm-backports), fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`: nothing kernel-related is ever installed on the host. The initramfs holds busybox-static, the modules needed to
# reach the root filesystem (virtio-pci, 9p, overlay) and tests/vm/initramfs-init.sh.
#
# Environment:
#   CGSCOPE_VM_CACHE          cache directory (default ${XDG_CACHE_HOME:-/var/cache}/cgscope-vm)
#   CGSCOPE_VM_KERNEL_SERIES  a series of tests/vm/kernels.txt (6.1, 6.12): its pinned release;
#                             if the mirror lost it, the newest linux-image of that series
#                             (default: the first series of kernels.txt)
#   CGSCOPE_VM_KERNEL         a kernel release to use instead, e.g. 6.1.0-57-amd64
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

# pinned SERIES: the release kernels.txt pins for a series ("" if the series is not there).
pinned() {
  awk -v s="$1" '$1 !~ /^#/ && NF >= 2 && ($1 == s || s == "") { print $2; exit }' "$here/kernels.txt"
}
# newest_of SERIES: the newest linux-image-SERIES.* release apt knows (generic flavour only).
newest_of() {
  apt-cache pkgnames "linux-image-$1" 2>/dev/null \
    | sed -n "s/^linux-image-\($(sed 's/\./\\./g' <<<"$1")[.-][0-9][^ ]*-amd64\)\$/\1/p" \
    | grep -v -e '-cloud-amd64$' -e '-rt-amd64$' | sort -V | tail -1
}
# newest_cached_of SERIES: the newest unpacked release of a series.
newest_cached_of() {
  newest_cached_list | grep -E "^$(sed 's/\./\\./g' <<<"$1")[.-]" | tail -1
}
newest_cached_list() {
  find "$cache" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null | xargs -r -n1 basename | sort -V
}

series=${CGSCOPE_VM_KERNEL_SERIES:-}
kver=${CGSCOPE_VM_KERNEL:-}
if [[ -z $kver ]]; then
  [[ -n $series ]] || series=$(awk '$1 !~ /^#/ && NF >= 2 { print $1; exit }' "$here/kernels.txt")
  kver=$(pinned "$series")
  [[ -n $kver ]] || die "no series '$series' in $here/kernels.txt"
fi
[[ $kver =~ ^[0-9][A-Za-z0-9._+-]*$ ]] || die "unexpected kernel release '$kver'"

if [[ ! -e $cache/$kver/.complete ]] && ! fetch_kernel "$kver"; then
  [[ -z ${CGSCOPE_VM_KERNEL:-} ]] || die "no kernel $kver in $cache and it cannot be fetched"
  # The mirror dropped the pinned release (a newer one replaced it): the newest of the series.
  newer=$(newest_of "$series")
  if [[ -n $newer && $newer != "$kver" ]] && { [[ -e $cache/$newer/.complete ]] || fetch_kernel "$newer"; }; then
    echo "vm kernel: WARNING: linux-image-$kver is gone from the mirror; using $newer of series $series" \
      "(update tests/vm/kernels.txt)" >&2
    kver=$newer
  else
    # Offline: the newest release of the series in the cache.
    fallback=$(newest_cached_of "$series")
    [[ -n $fallback ]] || die "no kernel $kver in $cache and it cannot be fetched (apt-get update? mirror reachable?)"
    echo "vm kernel: using the cached $fallback instead of $kver" >&2
    kver=$fallback
  fi
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
