#!/usr/bin/env bash
# Boots Debian 12's kernel in qemu with the host's / as its root, runs PAYLOAD (a bash script)
# in the guest and exits with the payload's exit status. See docs/testing.md, "The vm suite".
#
#   tests/vm/run-in-guest.sh [-e NAME=VALUE]... [--timeout SECONDS] [--no-nfs] [--disk MB] [--shell] PAYLOAD RESULTS_DIR
#
# --disk MB: an empty virtio-blk disk of that size (/dev/vda in the guest; modprobe virtio_blk),
# a sparse file that is removed afterwards: block I/O through a real block layer.
# --shell: after the payload, a root shell on the guest console in this terminal (exit it to
# power off); for debugging, not for tests.
#
# In the guest: a pure cgroup v2 hierarchy, the kernel NFS server on loopback (unless --no-nfs),
# no network to anything outside the VM. The payload runs as root with its working directory
# and $CGSCOPE_VM_RESULTS on RESULTS_DIR (shared read-write); whatever it writes there is on the
# host afterwards, next to payload.sh (the copy it ran), payload.log (its output), exit-status, guest-timings and console.log.
# It sources "$CGSCOPE_VM_LIB" (tests/vm/guest-lib.sh) for the NFS client helpers. Host paths
# are the same in the guest (read-only), so host-built binaries run there as they are.
#
# Exit status: the payload's; 124 when the guest did not finish within the timeout; 125 when
# the harness itself failed (boot, NFS server, bad arguments). Either way the reason and the tail
# of the guest console are printed.
#
# Environment: CGSCOPE_VM_ACCEL=auto|kvm|tcg (auto: kvm when the host's KVM can run this kernel),
# CGSCOPE_VM_CPUS (2), CGSCOPE_VM_MEMORY_MB (1536), CGSCOPE_VM_TIMEOUT (seconds, 300),
# CGSCOPE_VM_DEBUG=1 (kernel messages and set -x of the guest init on the console),
# CGSCOPE_VM_CMDLINE (more guest kernel parameters, e.g. "clocksource=tsc tsc=reliable"),
# CGSCOPE_VM_TCG_THREAD=multi|single (TCG: one host thread per vCPU, or all vCPUs on one: the
# kernel's live code patching, e.g. when a tracepoint is enabled, can oops the guest under
# multi-threaded TCG — seen on 6.12 as "Oops: int3" in ttwu_do_activate when cgscope attached),
# CGSCOPE_VM_ICOUNT (TCG only: qemu's -icount options, e.g. "shift=0,sleep=off": the guest's
# clocks count its executed instructions, 1 ns each, instead of following the host's; see
# docs/testing.md, "Instruction-count mode"),
# CGSCOPE_VM_CACHE and CGSCOPE_VM_KERNEL (tests/vm/kernel.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
harness_error=125

usage() {
  sed -n 's/^#   //p' "${BASH_SOURCE[0]}" | head -1 >&2
  exit "$harness_error"
}
die() {
  echo "run-in-guest: $*" >&2
  exit "$harness_error"
}

env_lines=()
timeout_s=${CGSCOPE_VM_TIMEOUT:-300}
nfs=1
shell=0
disk_mb=0
while (($#)); do
  case $1 in
    -e)
      [[ ${2:-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "-e needs NAME=VALUE, got '${2:-}'"
      env_lines+=("export ${2%%=*}=$(printf '%q' "${2#*=}")")
      shift 2
      ;;
    --timeout)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs a number of seconds"
      timeout_s=$2
      shift 2
      ;;
    --no-nfs) nfs=0; shift ;;
    --disk)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "--disk needs a size in MB"
      disk_mb=$2
      shift 2
      ;;
    --shell) shell=1; shift ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
(($# == 2)) || usage
payload=$(realpath -e -- "$1" 2>/dev/null) || die "payload $1 does not exist"
[[ -f $payload && -r $payload ]] || die "payload $payload is not a readable file"
mkdir -p -- "$2" || die "cannot create the results directory $2"
results=$(realpath -e -- "$2")

# The guest reads the whole host root through qemu: that takes root, as do its NFS and eBPF.
[[ $(id -u) -eq 0 ]] || die "must run as root (qemu shares the host's / into the guest)"
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found (scripts/install-deps.sh)"
# The kernel command line carries the guest init's path and qemu's -virtfs takes a path list
# separated by commas: keep both simple.
[[ $here != *[[:space:],]* && $results != *[[:space:],]* ]] \
  || die "the repository and results paths must not contain spaces or commas"

# The guest mounts its own /run, /dev, /proc and /sys over the host's (its /tmp is the host's,
# through the overlay): the repository and the binaries it runs must live elsewhere.
case $here/ in
  /run/* | /dev/* | /proc/* | /sys/*)
    die "the repository ($here) must not be under /run, /dev, /proc or /sys: the guest has its own" ;;
esac

kernel_env=$("$here/kernel.sh") || die "preparing the guest kernel failed (see above)"
eval "$kernel_env"

# KVM only when its hardware backend is loaded: a /dev/kvm backed by kvm_pvm (nested, no
# VMX/SVM) opens fine but cannot run an unmodified kernel.
accel=${CGSCOPE_VM_ACCEL:-auto}
if [[ $accel == auto ]]; then
  accel=tcg
  if [[ -r /dev/kvm && -w /dev/kvm ]] && [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]]; then
    accel=kvm
  fi
fi
case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel "tcg,thread=${CGSCOPE_VM_TCG_THREAD:-multi}" -cpu max) ;;
  *) die "CGSCOPE_VM_ACCEL must be auto, kvm or tcg, not '$accel'" ;;
esac
# Instruction counting runs all vCPUs on one host thread (qemu refuses it with multi-threaded
# TCG) and has no meaning under KVM.
if [[ -n ${CGSCOPE_VM_ICOUNT:-} ]]; then
  [[ $accel == tcg ]] || die "CGSCOPE_VM_ICOUNT needs TCG (CGSCOPE_VM_ACCEL=tcg), not $accel"
  [[ $CGSCOPE_VM_ICOUNT =~ ^[a-z0-9=,]+$ ]] || die "CGSCOPE_VM_ICOUNT '$CGSCOPE_VM_ICOUNT' is not a list of qemu -icount options"
  accel_args=(-accel 'tcg,thread=single' -cpu max -icount "$CGSCOPE_VM_ICOUNT")
fi

rm -f -- "$results"/{exit-status,exit-status.tmp,payload.log,console.log,guest-timings,harness-error,guest.env}
# The guest mounts its own /run, /dev, ... over the host's: run a copy from the results share.
cp -- "$payload" "$results/payload.sh"
{
  echo "# written by run-in-guest.sh, sourced by guest-init.sh"
  printf 'export CGSCOPE_VM_PAYLOAD=%q\n' /run/cgscope-vm/payload.sh
  printf 'export CGSCOPE_VM_PAYLOAD_SOURCE=%q\n' "$payload"
  printf 'export CGSCOPE_VM_KVER=%q\n' "$KVER"
  printf 'export CGSCOPE_VM_MODULES=%q\n' "$MODULES_DIR"
  printf 'export CGSCOPE_VM_BOOT=%q\n' "$(dirname "$VMLINUZ")"
  printf 'export CGSCOPE_VM_NFS=%q\n' "$nfs"
  printf 'export CGSCOPE_VM_DEBUG=%q\n' "${CGSCOPE_VM_DEBUG:-0}"
  printf 'export CGSCOPE_VM_ACCEL=%q\n' "$accel"
  printf 'export CGSCOPE_VM_ICOUNT=%q\n' "${CGSCOPE_VM_ICOUNT:-}"
  printf 'export CGSCOPE_VM_SHELL=%q\n' "$shell"
  for line in "${env_lines[@]}"; do echo "$line"; done
} >"$results/guest.env"

cmdline="console=ttyS0 panic=-1 rdinit=/init cgscope.init=$here/guest-init.sh"
[[ ${CGSCOPE_VM_DEBUG:-0} == 1 ]] || cmdline+=" quiet"
[[ -z ${CGSCOPE_VM_CMDLINE:-} ]] || cmdline+=" $CGSCOPE_VM_CMDLINE"

# The serial console goes to console.log; with --shell also to (and from) this terminal.
if ((shell)); then
  console=(-chardev "stdio,id=console,signal=off,logfile=$results/console.log")
  stdin=/dev/stdin
  timeout_fg=(--foreground)
else
  console=(-chardev "file,id=console,path=$results/console.log")
  stdin=/dev/null
  timeout_fg=()
fi

disk_args=()
if ((disk_mb > 0)); then
  rm -f -- "$results/scratch.img"
  truncate -s "${disk_mb}M" "$results/scratch.img"
  disk_args=(-drive "file=$results/scratch.img,if=virtio,format=raw,cache=unsafe")
fi

start_s=$EPOCHREALTIME
set +e
timeout "${timeout_fg[@]}" --kill-after=10 "$timeout_s" "$qemu" "${accel_args[@]}" \
  -smp "${CGSCOPE_VM_CPUS:-2}" -m "${CGSCOPE_VM_MEMORY_MB:-1536}" \
  -nodefaults -no-user-config -display none -vga none -no-reboot -nic none \
  "${console[@]}" -serial chardev:console \
  -kernel "$VMLINUZ" -initrd "$INITRD" -append "$cmdline" \
  -virtfs "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" "${disk_args[@]}" \
  <"$stdin" 2>"$results/qemu.log" | { if ((shell)); then cat; else cat >>"$results/qemu.log"; fi; }
qemu_status=${PIPESTATUS[0]}
set -e
rm -f -- "$results/scratch.img"
elapsed_s=$(awk -v a="$start_s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

explain() {
  echo "run-in-guest: $*" >&2
  if [[ -s $results/qemu.log ]]; then
    echo "--- qemu ($results/qemu.log) ---" >&2
    tail -n 20 "$results/qemu.log" >&2
  fi
  if [[ -s $results/console.log ]]; then
    echo "--- last lines of the guest console ($results/console.log) ---" >&2
    tail -n 40 "$results/console.log" | tr -d '\r' >&2
  fi
  if [[ -s $results/payload.log ]]; then
    echo "--- last lines of the payload output ($results/payload.log) ---" >&2
    tail -n 20 "$results/payload.log" >&2
  fi
}

if [[ -f $results/exit-status ]]; then
  status=$(cat "$results/exit-status")
  [[ $status =~ ^[0-9]+$ ]] || { explain "unreadable exit-status '$status'"; exit "$harness_error"; }
  echo "run-in-guest: $accel${CGSCOPE_VM_ICOUNT:+ (icount $CGSCOPE_VM_ICOUNT)}, ${elapsed_s}s boot to power-off, payload exit status $status" \
    "(guest uptime: $(tr '\n' ' ' <"$results/guest-timings" 2>/dev/null))" >&2
  exit "$status"
fi
if ((qemu_status == 124 || qemu_status == 137)); then
  explain "the guest did not finish within ${timeout_s}s (timeout; qemu killed)"
  exit 124
fi
if [[ -s $results/harness-error ]]; then
  explain "the guest could not run the payload: $(cat "$results/harness-error")"
else
  explain "the guest stopped without an exit status (qemu status $qemu_status):" \
    "boot failure, kernel panic or guest init crash"
fi
exit "$harness_error"
