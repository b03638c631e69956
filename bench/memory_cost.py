#!/usr/bin/env python3
"""Cost of the memory collector's page-cache programs on the path they slow most: buffered 4k
reads that hit the page cache (every read(2) runs cache_get_pages), side by side in one run.

Workload: fio sequential 4k buffered reads (psync, one job) of a file already in the page cache,
RUNTIME seconds per run, reads/s with nothing attached vs each tracer, interleaved rounds;
ns per event of each program from kernel.bpf_stats_enabled.

Usage: bench/memory_cost.py [--build build] [--rounds 5] [--runtime 3]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from tracing import Tracer, interleaved, machine_line, print_per_event


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", type=int, default=3, help="seconds of fio per run")
    ap.add_argument("--file", default="/var/tmp/cgscope-memory-bench.dat")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("memory_cost.py: needs root (loads BPF programs, enables kernel.bpf_stats_enabled)")

    snapshot = [f"{args.build}/cgscope", "snapshot", "--interval", "1s", "--count", "0", "--json", "--bpf", "required"]
    tracers = [
        Tracer("none", None, None),
        Tracer("empty tp_btf", [f"{args.build}/bench/cgscope_empty_tracer", "filemap"], re.compile("ready")),
        Tracer("cgscope memory collector", snapshot + ["--collectors", "memory"], re.compile(r"^\{")),
        Tracer("cgscope all collectors", snapshot, re.compile(r"^\{")),
    ]
    fio = ["fio", "--name=cached", f"--filename={args.file}", "--rw=read", "--bs=4k", "--ioengine=psync",
           "--size=64M", "--invalidate=0", f"--runtime={args.runtime}", "--time_based", "--output-format=json"]
    # Lay the file out and read it once: from then on every read hits the page cache.
    subprocess.run(fio[:-3] + ["--runtime=1", "--output-format=terse"], check=True, capture_output=True)

    def run_fio(_tracer, _stats):
        out = subprocess.run(fio, check=True, capture_output=True, text=True).stdout
        return json.loads(out[out.find("{"):])["jobs"][0]["read"]["iops"]

    iops, per_event, _ = interleaved(tracers, args.rounds, run_fio, " reads/s")
    os.unlink(args.file)

    base = iops["none"]
    print(machine_line())
    print(f"\n## fio 4k buffered reads from the page cache (psync), {args.runtime} s per run, "
          f"{args.rounds} interleaved rounds\n")
    print("| tracer | median reads/s | ratio to untraced (median of per-round ratios) | spread (min-max) |")
    print("|---|---|---|---|")
    for t in tracers:
        ratios = [x / b for x, b in zip(iops[t.name], base)]
        print(f"| {t.name} | {statistics.median(iops[t.name]):.0f} | {statistics.median(ratios):.3f} |"
              f" {min(ratios):.3f}-{max(ratios):.3f} |")
    print_per_event(tracers, per_event)


if __name__ == "__main__":
    main()
