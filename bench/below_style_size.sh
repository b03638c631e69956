#!/usr/bin/env bash
# Bytes per cgroup-sample if our typical-mix samples were stored the way below stores frames:
# CBOR per sample, zstd -3 per frame (below --compress), and zstd with the first frame of each
# chunk of 16 as the dictionary of the others (below --dict-compress-chunk-size 16).
set -euo pipefail
build=${1:-build}
samples=256
dir=$(mktemp -d /var/tmp/cgscope-below-style-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$build/bench/cgscope_below_style_frames" "$dir" "$samples"
cgroup_samples=$(cat "$dir/cgroup_samples")
per_frame=0 chunked=0 i=0 key=
for f in "$dir"/frame*; do
  per_frame=$((per_frame + $(zstd -3 -q -c "$f" | wc -c)))
  if ((i % 16 == 0)); then
    key=$f
    chunked=$((chunked + $(zstd -3 -q -c "$f" | wc -c)))
  else
    chunked=$((chunked + $(zstd -3 -q -c -D "$key" "$f" | wc -c)))
  fi
  i=$((i + 1))
done
awk -v a="$per_frame" -v b="$chunked" -v n="$cgroup_samples" \
  'BEGIN { printf "zstd -3 per frame: %.1f bytes per cgroup-sample\nzstd, dictionary chunks of 16: %.1f bytes per cgroup-sample\n", a / n, b / n }'
