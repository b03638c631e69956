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
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  stress-ng linux-perf bpftrace util-linux procps python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} packages"
