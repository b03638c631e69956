#!/usr/bin/env python3
"""Cost of the I/O collector, side by side in one run (root, BTF kernel).

Workload: fio 4k random direct reads (psync, one job) on a file under /var/tmp (the root disk),
RUNTIME seconds per run. For each tracer:
(a) ns per event of each BPF program from kernel.bpf_stats_enabled, and the cost per I/O of the
    block programs (sum over them of run_time_ns, divided by fio's I/O count);
(b) fio IOPS with the tracer attached / IOPS with nothing attached, interleaved rounds.
Tracers: nothing; empty tp_btf programs on the same tracepoints (the floor); cgscope with only
the I/O collector; cgscope with every collector (what users run); a per-cgroup biolatency in
bpftrace; and, with --biolatency PATH, a libbpf-tools biolatency you built yourself (not part of
this project).

--device loop runs fio on a loop device backed by a file in /dev/shm instead of a file on the root
disk: no device latency and far less noise (a virtual disk's IOPS vary by +-15% run to run), so
the tracers' CPU cost shows in IOPS; --scheduler picks its I/O scheduler (mq-deadline makes the
collector decide the owner at submission, none at issue).

Usage: bench/io_cost.py [--build build] [--rounds 5] [--runtime 5] [--biolatency PATH]
                        [--device disk|loop] [--scheduler none|mq-deadline]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

from tracing import Tracer, interleaved, machine_line, print_per_event

# Per-cgroup block I/O latency: the cgroup of the task that issues the request.
BPFTRACE_BIOLAT = r"""
tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; @cg[args->dev, args->sector] = cgroup; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  @usecs[@cg[args->dev, args->sector]] = hist((nsecs - @start[args->dev, args->sector]) / 1000);
  delete(@start[args->dev, args->sector]); delete(@cg[args->dev, args->sector]);
}
"""

def is_block_program(name):
    """Programs on the block tracepoints: cgscope's io_*, the empty floor's, biolatency's and
    bpftrace's (named after the tracepoint, cut at 15 characters by the kernel)."""
    return name.startswith(("io_", "block_", "empty_io", "empty_rq"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", type=int, default=5, help="seconds of fio per run")
    ap.add_argument("--file", default="/var/tmp/cgscope-io-bench.dat")
    ap.add_argument("--no-bpftrace", action="store_true")
    ap.add_argument("--biolatency", help="path of a libbpf-tools biolatency binary to compare with")
    ap.add_argument("--device", choices=["disk", "loop"], default="disk")
    ap.add_argument("--scheduler", default="mq-deadline", help="I/O scheduler of the loop device")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("io_cost.py: needs root (loads BPF programs, enables kernel.bpf_stats_enabled)")

    snapshot = [f"{args.build}/cgscope", "snapshot", "--interval", "1s", "--count", "0", "--json", "--bpf", "required"]
    tracers = [
        Tracer("none", None, None),
        Tracer("empty tp_btf", [f"{args.build}/bench/cgscope_empty_tracer", "block"], re.compile("ready")),
        Tracer("cgscope io collector", snapshot + ["--collectors", "io"], re.compile(r"^\{")),
        Tracer("cgscope all collectors", snapshot, re.compile(r"^\{")),
    ]
    if args.biolatency:
        tracers.append(Tracer("libbpf-tools biolatency", [args.biolatency], re.compile("Tracing")))
    if not args.no_bpftrace:
        tracers.append(Tracer("bpftrace", ["bpftrace", "-e", BPFTRACE_BIOLAT], re.compile("Attaching")))

    loop = None
    target = args.file
    if args.device == "loop":
        backing = "/dev/shm/cgscope-io-bench.img"
        subprocess.run(["truncate", "-s", "256M", backing], check=True)
        loop = subprocess.run(["losetup", "--find", "--show", "--direct-io=on", backing], check=True,
                              capture_output=True, text=True).stdout.strip()
        with open(f"/sys/block/{os.path.basename(loop)}/queue/scheduler", "w") as f:
            f.write(args.scheduler)
        target = loop
    fio = ["fio", "--name=bench", f"--filename={target}", "--rw=randread", "--bs=4k", "--direct=1",
           "--ioengine=psync", "--size=256M", f"--runtime={args.runtime}", "--time_based", "--output-format=json"]
    subprocess.run(fio[:-3] + ["--runtime=1", "--output-format=terse"], check=True, capture_output=True)  # lay out
    ios = {t.name: [] for t in tracers}

    def run_fio(tracer, stats):
        out = subprocess.run(fio, check=True, capture_output=True, text=True).stdout
        read = json.loads(out[out.find("{"):])["jobs"][0]["read"]
        if stats:  # the run whose program statistics are read
            ios[tracer.name].append(read["total_ios"])
        return read["iops"]

    try:
        iops, per_event, events = interleaved(tracers, args.rounds, run_fio, " IOPS")
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop])
            os.unlink("/dev/shm/cgscope-io-bench.img")
        elif os.path.exists(args.file):
            os.unlink(args.file)

    base = iops["none"]
    print(machine_line())
    where = f"loop device on /dev/shm, scheduler {args.scheduler}" if loop else f"file {args.file}"
    print(f"\n## fio 4k random direct reads (psync) on {where}, {args.runtime} s per run, "
          f"{args.rounds} interleaved rounds\n")
    print("| tracer | median IOPS | IOPS ratio to untraced (median of per-round ratios) | spread (min-max) |"
          " block programs, ns per I/O (median) |")
    print("|---|---|---|---|---|")
    for t in tracers:
        ratios = [x / b for x, b in zip(iops[t.name], base)]
        per_io = []
        for r in range(args.rounds):
            total_ns = 0.0
            for name, vals in per_event[t.name].items():
                if is_block_program(name) and r < len(vals):
                    total_ns += vals[r] * events[t.name][name][r]
            if total_ns:
                per_io.append(total_ns / ios[t.name][r])
        cost = f"{statistics.median(per_io):.0f}" if per_io else "-"
        print(f"| {t.name} | {statistics.median(iops[t.name]):.0f} | {statistics.median(ratios):.3f} |"
              f" {min(ratios):.3f}-{max(ratios):.3f} | {cost} |")
    print_per_event(tracers, per_event)


if __name__ == "__main__":
    main()
