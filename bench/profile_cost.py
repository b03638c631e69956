#!/usr/bin/env python3
"""Cost of the profiler (root, BTF kernel), in one run.

(a) On-CPU sampling, `cgscope profile` on every cgroup at 49 Hz and 999 Hz per CPU:
    - ns per sample of the perf_event program (kernel.bpf_stats_enabled: run_time_ns / run_cnt);
    - slowdown of a CPU-bound workload pinned to CPU 0 (`profile_target bench N`, a multiply-add
      loop, ~3 s), interleaved rounds (the order rotates), medians of per-round ratios; as wall
      time, and as the workload's own CPU time (on kernels without IRQ time accounting the
      sampling interrupt and the program are charged to the task they interrupt, and CPU time
      does not count waiting behind other tasks on a shared machine).
(b) Off-CPU profiling (`--off-cpu`, a sched_switch program that takes two stacks per block):
    - ns per sched_switch; slowdown of `taskset -c 0 perf bench sched pipe -l LOOPS` (two context
      switches per loop: the worst case for anything on sched_switch); unfiltered, and filtered to
      a cgroup the benchmark is not in (the cost of a switch that is skipped in the kernel).

The profiler is started before each measured run and stopped (SIGINT; it then writes its profile
to /dev/null) after it; it counts as ready once its BPF programs are attached.

Usage: bench/profile_cost.py [--build build] [--rounds 7] [--seconds 3] [--loops 200000] [--skip-off-cpu]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time


def prog_ids_of(pid):
    """BPF program ids held by a process, from /proc/PID/fdinfo."""
    ids = set()
    fddir = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(fddir)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(os.path.join(fddir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_stats(ids):
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True, text=True).stdout
    return {p["id"]: (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out) if p["id"] in ids}


class Profiler:
    """`cgscope profile ...` running in the background for one measured run."""

    def __init__(self, name, build, args):
        self.name, self.build, self.args = name, build, args
        self.proc = None

    def start(self):
        if self.args is None:
            return
        argv = [f"{self.build}/cgscope", "profile", "-d", "1h", "--format", "folded", "-o", "/dev/null"] + self.args
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while not prog_ids_of(self.proc.pid):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: cgscope exited: {self.proc.stderr.read()}")
            if time.time() > deadline:
                raise RuntimeError(f"{self.name}: no BPF program attached after 60 s")
            time.sleep(0.05)
        time.sleep(1.0)  # kallsyms read, first processes announced: steady state from here

    def ids(self):
        return prog_ids_of(self.proc.pid) if self.proc else set()

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def run_cpu_bound(build, iterations, cpu_times=None):
    """Wall time; the workload's own CPU time (utime + stime, which add up to its
    sum_exec_runtime) is appended to cpu_times."""
    start = time.perf_counter()
    proc = subprocess.Popen([f"{build}/tests/profile_target", "bench", str(iterations)],
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"profile_target bench failed: {proc.returncode}")
    wall = time.perf_counter() - start
    if cpu_times is not None:
        cpu_times.append(usage.ru_utime + usage.ru_stime)
    return wall


def run_pipe(loops):
    out = subprocess.run(["taskset", "-c", "0", "perf", "bench", "sched", "pipe", "-l", str(loops)],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"Total time:\s*([0-9.]+)", out)
    if not m:
        raise RuntimeError("cannot parse perf bench output:\n" + out)
    return float(m.group(1))


def measure(profilers, workload, rounds, label, cpu_times=None):
    times = {p.name: [] for p in profilers}
    per_event = {p.name: {} for p in profilers}
    for r in range(rounds):
        k = r % len(profilers)
        for p in profilers[k:] + profilers[:k]:
            p.start()
            ids = p.ids()
            before = prog_stats(ids)
            times[p.name].append(workload(cpu_times.setdefault(p.name, []) if cpu_times is not None else None))
            after = prog_stats(ids)
            p.stop()
            for pid, (name, cnt, ns) in after.items():
                b = before.get(pid, (name, 0, 0))
                if cnt - b[1] > 0:
                    per_event[p.name].setdefault(name, []).append(((ns - b[2]) / (cnt - b[1]), cnt - b[1]))
        print(f"{label} round {r + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in times),
              file=sys.stderr)
    return times, per_event


def slowdown_table(what, profilers, times):
    base = times[profilers[0].name]
    print(f"| profiler | median {what} (s) | slowdown (median of per-round ratios) | ratio spread (min-max) |")
    print("|---|---|---|---|")
    for p in profilers:
        ratios = [x / b for x, b in zip(times[p.name], base)]
        print(f"| {p.name} | {statistics.median(times[p.name]):.3f} | {statistics.median(ratios):.4f}x |"
              f" {min(ratios):.4f}-{max(ratios):.4f} |")


def report(title, profilers, times, per_event, event_name, cpu_times=None):
    print(f"\n## {title}\n")
    slowdown_table("wall time", profilers, times)
    if cpu_times:
        print()
        slowdown_table("CPU time of the workload", profilers, cpu_times)
    print(f"\n| profiler | program | median ns per {event_name} | min-max | {event_name}s per run (median) |"
          .replace("switchs", "switches"))
    print("|---|---|---|---|---|")
    for p in profilers:
        for name, vals in sorted(per_event[p.name].items()):
            ns = [v[0] for v in vals]
            print(f"| {p.name} | {name} | {statistics.median(ns):.0f} | {min(ns):.0f}-{max(ns):.0f} |"
                  f" {statistics.median(v[1] for v in vals):.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of the CPU-bound workload")
    ap.add_argument("--loops", type=int, default=200000, help="perf bench sched pipe loops")
    ap.add_argument("--skip-off-cpu", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("profile_cost.py: needs root (loads BPF programs, enables kernel.bpf_stats_enabled)")

    # Calibrate the CPU-bound workload to about --seconds.
    probe = 200
    t = run_cpu_bound(args.build, probe)
    iterations = max(probe, int(probe * args.seconds / t))

    # A cgroup the benchmarks are not in, for the "filtered out" case.
    other = f"/sys/fs/cgroup/unified/cgscope-bench-{os.getpid()}"
    if not os.path.isdir("/sys/fs/cgroup/unified"):
        other = f"/sys/fs/cgroup/cgscope-bench-{os.getpid()}"
    os.makedirs(other, exist_ok=True)
    other_rel = "/" + os.path.basename(other)

    old_stats = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"], check=True)
    # "none (control)" is a second run without a profiler: its spread is the noise floor.
    on_cpu = [Profiler("none", args.build, None),
              Profiler("none (control)", args.build, None),
              Profiler("on-CPU 49 Hz", args.build, ["-F", "49"]),
              Profiler("on-CPU 999 Hz", args.build, ["-F", "999"])]
    off_cpu = [Profiler("none", args.build, None),
               Profiler("off-CPU, every cgroup", args.build, ["--off-cpu"]),
               Profiler("off-CPU, other cgroup only", args.build, ["--off-cpu", "--cgroup", other_rel])]
    try:
        cpu_used = {}
        cpu_times, cpu_events = measure(on_cpu, lambda out: run_cpu_bound(args.build, iterations, out), args.rounds,
                                        "cpu", cpu_used)
        if not args.skip_off_cpu:
            pipe_times, pipe_events = measure(off_cpu, lambda _: run_pipe(args.loops), args.rounds, "pipe")
    finally:
        for p in on_cpu + off_cpu:
            p.stop()
        subprocess.run(["sysctl", "-q", "-w", f"kernel.bpf_stats_enabled={old_stats}"])
        os.rmdir(other)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {os.uname().release}, {os.cpu_count()} CPUs, {cpu}; "
          f"{time.strftime('%Y-%m-%d')}; command: {' '.join(sys.argv)}")
    report(f"CPU-bound workload (profile_target bench {iterations}), pinned to CPU 0, {args.rounds} interleaved "
           "rounds; profiler on every cgroup", on_cpu, cpu_times, cpu_events, "sample", cpu_used)
    if not args.skip_off_cpu:
        report(f"perf bench sched pipe -l {args.loops}, pinned to CPU 0, {args.rounds} interleaved rounds",
               off_cpu, pipe_times, pipe_events, "switch")


if __name__ == "__main__":
    main()
