#!/usr/bin/env bash
# Installs every Debian 12 package cgscope needs to build, run and test.
# Idempotent and non-interactive; run as root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

packages=(
  # build
  build-essential cmake ninja-build pkg-config ccache
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev libcap-dev
  # profiler (issue 6): DWARF/ELF symbolization, pprof output
  libdw-dev libprotobuf-dev protobuf-compiler
  # recordings (issue 7)
  libsqlite3-dev sqlite3
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  stress-ng fio e2fsprogs linux-perf bpftrace util-linux procps coreutils python3 zstd
  # fuzzing (tests/fuzz, scripts/fuzz.sh): libFuzzer and the sanitizer runtimes of clang
  libclang-rt-dev
  # profiler tests: go tool pprof reads our pprof output, headless Chromium opens the SVG
  golang-go chromium
  # profiler tests: JIT code with a perf map (node --perf-basic-prof)
  nodejs
  # vm suite (tests/vm): qemu boots Debian's kernel with an NFS server and clients inside;
  # the guest runs these host binaries from the host's / shared over 9p. Nothing kernel-related
  # is installed on the host: tests/vm/kernel.sh fetches the kernel .deb into a cache.
  qemu-system-x86 nfs-kernel-server rpcbind nfs-common busybox-static kmod cpio iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

# Services must not start on the host (nfs-kernel-server, rpcbind): a policy-rc.d that exits
# 101 forbids it for the duration of the install; whatever was there before is restored.
policy=/usr/sbin/policy-rc.d
policy_backup=
if [[ -e $policy ]]; then
  policy_backup=$(mktemp)
  cp -p "$policy" "$policy_backup"
fi
restore_policy() {
  if [[ -n $policy_backup ]]; then
    mv -f "$policy_backup" "$policy"
  else
    rm -f "$policy"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# cgscope install-deps: no service starts during package installation\nexit 101\n' >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} packages"
