#!/usr/bin/env bash
# Fresh Debian 12 as root: install packages, build. Afterwards run build/cgscope.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
