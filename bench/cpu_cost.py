#!/usr/bin/env python3
"""Cost of the CPU collector, side by side in one run (root, BTF kernel).

(a) ns per event of each BPF program from kernel.bpf_stats_enabled (run_time_ns / run_cnt):
    cgscope's programs, empty tp_btf programs on the same tracepoints (the floor) and a
    per-cgroup run-queue histogram in bpftrace (the easy reference).
(b) workload slowdown: `taskset -c 0 perf bench sched pipe -l LOOPS` with nothing attached and
    with each tracer attached, interleaved rounds, medians and spread.

cgscope runs in its default mode (tp_btf + sched_info: one sched_switch program) and in the
clock-based tp_btf + task storage mode it falls back to on kernels without sched_info.
--runqlat PATH adds a libbpf-tools runqlat binary that you built yourself (not part of this
project) as a further reference.

--compare DIR adds another build (e.g. of the commit before a change to the programs), in the
modes of --compare-modes (default: the default mode), measured in the same interleaved rounds:
before/after in one run.

The slowdown table also gives each tracer's slowdown minus the empty programs' (the floor), the
median of per-round differences: what the tracer's work costs over attaching at all.

Usage: bench/cpu_cost.py [--build build] [--rounds 5] [--loops 500000] [--runqlat PATH]
                         [--compare DIR [--compare-modes tp_btf+sched_info,tp_btf+task_storage]]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

from tracing import Tracer, interleaved, machine_line, print_per_event

BPFTRACE_RUNQ = r"""
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qt[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if ((args->prev_state & 0xff) == 0) { @qt[args->prev_pid] = nsecs; }
  $t = @qt[args->next_pid];
  if ($t) { @runq_ns[cgroup] = hist(nsecs - $t); delete(@qt[args->next_pid]); }
}
"""


def run_pipe(loops):
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", str(loops)],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"Total time:\s*([0-9.]+)", out)
    if not m:
        raise RuntimeError("cannot parse perf bench output:\n" + out)
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--loops", type=int, default=500000)
    ap.add_argument("--no-bpftrace", action="store_true")
    ap.add_argument("--runqlat", help="path of a libbpf-tools runqlat binary to compare with")
    ap.add_argument("--compare", help="build directory of another cgscope to measure too")
    ap.add_argument("--compare-modes", default="tp_btf+sched_info",
                    help="comma-separated --bpf-mode values of the --compare build to measure")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("cpu_cost.py: needs root (loads BPF programs, enables kernel.bpf_stats_enabled)")

    tracers = [
        Tracer("none", None, None),
        Tracer("empty tp_btf", [f"{args.build}/bench/cgscope_empty_tracer", "sched"], re.compile("ready")),
    ]
    def cgscope(build, mode):
        return [f"{build}/cgscope", "snapshot", "--interval", "1s", "--count", "0", "--json", "--bpf", "required",
                "--collectors", "cpu", "--bpf-mode", mode]
    for mode in ("tp_btf+sched_info", "tp_btf+task_storage"):
        tracers.append(Tracer(f"cgscope {mode}", cgscope(args.build, mode), re.compile(r"^\{")))
    if args.compare:
        for mode in args.compare_modes.split(","):
            tracers.append(Tracer(f"cgscope {mode} ({args.compare})", cgscope(args.compare, mode), re.compile(r"^\{")))
    if args.runqlat:
        tracers.append(Tracer("libbpf-tools runqlat", [args.runqlat], re.compile("Tracing")))
    if not args.no_bpftrace:
        tracers.append(Tracer("bpftrace", ["bpftrace", "-e", BPFTRACE_RUNQ], re.compile("Attaching")))

    times, per_event, _ = interleaved(tracers, args.rounds, lambda _t, _s: run_pipe(args.loops), "s")

    base = times["none"]
    print(machine_line())
    print(f"\n## perf bench sched pipe -l {args.loops}, pinned to CPU 0, {args.rounds} interleaved rounds\n")
    print("| tracer | median time (s) | slowdown (median of per-round ratios) | ratio spread (min-max) |"
          " over the floor (median of per-round differences) |")
    print("|---|---|---|---|---|")
    floor = [x / b for x, b in zip(times["empty tp_btf"], base)]
    for t in tracers:
        ratios = [x / b for x, b in zip(times[t.name], base)]
        over = [r - f for r, f in zip(ratios, floor)]
        print(f"| {t.name} | {statistics.median(times[t.name]):.3f} | {statistics.median(ratios):.3f}x |"
              f" {min(ratios):.3f}-{max(ratios):.3f} | {statistics.median(over):+.3f} |")
    print_per_event(tracers, per_event)


if __name__ == "__main__":
    main()
