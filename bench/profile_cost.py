#!/usr/bin/env python3
"""Cost of the profiler (root, BTF kernel), in one run.

(a) On-CPU sampling, `cgscope profile` on every cgroup, per CPU: `--unwind fp` (frame pointers,
    walked in the kernel) and `--unwind dwarf` (the default: registers and a 16K copy of the top
    of the user stack per sample through a ring buffer, unwound in user space from .eh_frame),
    at 49 Hz and 999 Hz:
    - ns per sample of the perf_event program (kernel.bpf_stats_enabled: run_time_ns / run_cnt);
    - slowdown of a CPU-bound workload pinned to CPU 0 (`profile_target bench N`, a multiply-add
      loop, ~3 s), interleaved rounds (the order rotates), medians of per-round ratios; as wall
      time, and as the workload's own CPU time (on kernels without IRQ time accounting the
      sampling interrupt and the program are charged to the task they interrupt, and CPU time
      does not count waiting behind other tasks on a shared machine);
    - CPU time of the cgscope process per sample: while the workload runs (the sum_exec_runtime
      of its threads, /proc/PID/task/*/schedstat, divided by the perf_event program's runs: the
      steady-state cost of reading the ring buffer and unwinding), and over its whole life
      (utime + stime from os.wait4, divided by the "N samples recorded" it prints: also loading,
      the final symbolization and the output).
(b) Off-CPU profiling (`--off-cpu`, a sched_switch program that takes two stacks per block):
    - ns per sched_switch; slowdown of `taskset -c 0 perf bench sched pipe -l LOOPS` (two context
      switches per loop: the worst case for anything on sched_switch); unfiltered, and filtered to
      a cgroup the benchmark is not in (the cost of a switch that is skipped in the kernel).
(c) With --unwind-memory: memory of `cgscope profile --unwind dwarf` vs `--unwind fp` (49 Hz,
    --memory-seconds, `--cgroup` of a cgroup this script creates and removes) on a cgroup that runs
    `node -e '<hot loop>'` (libc, libstdc++ and a ~100 MB binary with a 2.7 MB .eh_frame), and on
    an empty cgroup (the same programs and ring buffers, nothing to unwind): ru_maxrss from
    os.wait4 (peak, including the final symbolization), and VmRSS / RssAnon / RssFile from
    /proc/PID/status just before it is stopped; and how many samples' stacks reach the thread
    entry (folded output).

The profiler is started before each measured run and stopped (SIGINT; it then writes its profile
to /dev/null) after it; it counts as ready once its BPF programs are attached.

Usage: bench/profile_cost.py [--build build] [--rounds 7] [--seconds 3] [--loops 200000] [--skip-off-cpu]
                             [--skip-on-cpu] [--skip-999] [--unwind-memory [--memory-rounds 3]
                             [--memory-seconds 5] [--node /usr/bin/node]]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
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


def cpu_ns_of(pid):
    """CPU time of a process so far, in ns: the sum_exec_runtime of its threads (/proc/PID/task/*/schedstat;
    utime and stime in /proc/PID/stat only have clock-tick resolution)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_of(pid):
    """VmRSS, RssAnon, RssFile (KiB) from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


class Profiler:
    """`cgscope profile ...` running in the background for one measured run."""

    def __init__(self, name, build, args, output="/dev/null"):
        self.name, self.build, self.args, self.output = name, build, args, output
        self.proc = None
        self.errfile = None
        self.last = None  # of the last run: {"cpu_s", "maxrss_kib", "samples", "stderr"}

    def start(self):
        if self.args is None:
            return
        argv = [f"{self.build}/cgscope", "profile", "-d", "1h", "--format", "folded", "-o", self.output] + self.args
        # stderr to a file: the process is reaped with os.wait4 (for its rusage), never blocked on a pipe.
        self.errfile = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.errfile, text=True)
        deadline = time.time() + 60
        while not prog_ids_of(self.proc.pid):
            if self.proc.poll() is not None:
                self.errfile.seek(0)
                raise RuntimeError(f"{self.name}: cgscope exited: {self.errfile.read()}")
            if time.time() > deadline:
                raise RuntimeError(f"{self.name}: no BPF program attached after 60 s")
            time.sleep(0.05)
        time.sleep(1.0)  # kallsyms read, first processes announced: steady state from here

    def ids(self):
        return prog_ids_of(self.proc.pid) if self.proc else set()

    def cpu_ns(self):
        return cpu_ns_of(self.proc.pid) if self.proc else None

    def rss(self):
        return rss_of(self.proc.pid) if self.proc else {}

    def stop(self):
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGINT)
        deadline = time.time() + 60
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                self.proc.kill()
                pid, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.errfile.seek(0)
        err = self.errfile.read()
        self.errfile.close()
        m = re.search(r"(\d+) samples recorded", err)
        self.last = {"cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                     "samples": int(m.group(1)) if m else None, "stderr": err,
                     "exit": self.proc.returncode}
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


def measure(profilers, workload, rounds, label, cpu_times=None, user=None):
    """user, if given, collects per profiler the CPU time of the cgscope process: "steady" (ns per run
    of the sampling program while the workload ran), "share" (% of a CPU then), "whole_ms" and "total"
    (its whole life: ms, and us per sample recorded) and "kib" (average stack copy, --unwind dwarf)."""
    times = {p.name: [] for p in profilers}
    per_event = {p.name: {} for p in profilers}
    for r in range(rounds):
        k = r % len(profilers)
        for p in profilers[k:] + profilers[:k]:
            p.start()
            ids = p.ids()
            before = prog_stats(ids)
            cpu_before = p.cpu_ns()
            times[p.name].append(workload(cpu_times.setdefault(p.name, []) if cpu_times is not None else None))
            cpu_after = p.cpu_ns()
            after = prog_stats(ids)
            p.stop()
            runs = 0
            for pid, (name, cnt, ns) in after.items():
                b = before.get(pid, (name, 0, 0))
                if cnt - b[1] > 0:
                    per_event[p.name].setdefault(name, []).append(((ns - b[2]) / (cnt - b[1]), cnt - b[1]))
                    if name.startswith("on_cpu_sample"):
                        runs += cnt - b[1]
            if user is not None and p.last is not None:
                u = user.setdefault(p.name, {"steady": [], "share": [], "total": [], "whole_ms": [], "kib": []})
                if runs and cpu_before is not None and cpu_after is not None:
                    u["steady"].append((cpu_after - cpu_before) / runs)
                    u["share"].append(100.0 * (cpu_after - cpu_before) / 1e9 / times[p.name][-1])
                u["whole_ms"].append(p.last["cpu_s"] * 1e3)
                if p.last["samples"]:
                    u["total"].append(p.last["cpu_s"] * 1e6 / p.last["samples"])
                m = re.search(r"stack copies, ([0-9.]+) KiB on average", p.last["stderr"])
                if m:
                    u["kib"].append(float(m.group(1)))
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


def report(title, profilers, times, per_event, event_name, cpu_times=None, user=None):
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
    if user:
        print("\n| profiler | cgscope CPU while the workload ran: % of a CPU (median) | the same per sample, ns"
              " (median, min-max) | cgscope CPU, whole run (start, symbolization, output), ms (median) |"
              " whole run per sample recorded, us (median) | stack copy, KiB (median) |")
        print("|---|---|---|---|---|---|")
        for p in profilers:
            u = user.get(p.name)
            if not u:
                continue
            share = f"{statistics.median(u['share']):.2f}%" if u["share"] else "-"
            st = (f"{statistics.median(u['steady']):.0f} ({min(u['steady']):.0f}-{max(u['steady']):.0f})"
                  if u["steady"] else "-")
            whole = f"{statistics.median(u['whole_ms']):.0f}" if u["whole_ms"] else "-"
            tot = f"{statistics.median(u['total']):.0f}" if u["total"] else "-"
            kib = f"{statistics.median(u['kib']):.1f}" if u["kib"] else "-"
            print(f"| {p.name} | {share} | {st} | {whole} | {tot} | {kib} |")


# main's caller (node's main tail-calls node::Start, so main itself is not on its stack)
MAIN = ("main", "__libc_start_call_main")
ENTRIES = ("_start", "start_thread", "clone3", "__clone3", "clone", "__clone")


def folded_reach(path):
    """Samples in a folded profile; of them, how many have `main` (or its caller) and how many a process
    or thread entry point among their frames (a frame is its name up to the first space, '(' or '[')."""
    total = with_main = with_entry = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            n = int(n)
            total += n
            names = {re.split(r"[ (\[]", fr.strip(), maxsplit=1)[0] for fr in stack.split(";")}
            if names & set(MAIN):
                with_main += n
            if names & set(ENTRIES):
                with_entry += n
    return total, with_main, with_entry


def unwind_memory(build, rounds, seconds, node):
    """Section (c): RSS of --unwind dwarf vs fp on a cgroup running node, and on an empty cgroup."""
    root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    busy = f"{root}/cgscope-unwind-node-{os.getpid()}"
    empty = f"{root}/cgscope-unwind-empty-{os.getpid()}"
    os.makedirs(busy)
    os.makedirs(empty)
    tmp = tempfile.mkdtemp(prefix="cgscope-unwind-")
    script = "function hot(){let x=0;for(let i=0;i<1e7;i++)x+=i%7;return x} for(;;)hot()"

    def enter_cgroup():
        with open(f"{busy}/cgroup.procs", "w") as f:
            f.write("0")

    rows = []
    for mode in ("fp", "dwarf"):
        for where, cg in (("node", busy), ("empty cgroup", empty)):
            rows.append(Profiler(f"--unwind {mode}, {where}", build,
                                 ["-F", "49", "--unwind", mode, "--cgroup", "/" + os.path.basename(cg)],
                                 output=f"{tmp}/{mode}-{where.split()[0]}.folded"))
    results = {p.name: [] for p in rows}
    proc = None
    try:
        proc = subprocess.Popen([node, "-e", script], preexec_fn=enter_cgroup, stdout=subprocess.DEVNULL)
        time.sleep(2.0)  # JIT warm-up
        mapped = set()
        with open(f"/proc/{proc.pid}/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[5].startswith("/"):
                    mapped.add(parts[5])
        for r in range(rounds):
            k = r % len(rows)
            for p in rows[k:] + rows[:k]:
                if proc.poll() is not None:
                    raise RuntimeError("node exited")
                p.start()
                time.sleep(max(0.0, seconds - 1.0))  # start() already waited 1 s after attaching
                rss = p.rss()
                p.stop()
                if p.last["exit"] != 0:
                    raise RuntimeError(f"{p.name}: cgscope failed: {p.last['stderr']}")
                total, with_main, with_entry = folded_reach(p.output)
                short = re.search(r"(\d+) of (\d+) samples with a user stack \(([0-9.]+)%\) have short",
                                  p.last["stderr"])
                results[p.name].append({"rss": rss, "maxrss": p.last["maxrss_kib"], "samples": total,
                                        "main": with_main, "entry": with_entry, "stderr": p.last["stderr"],
                                        "short": short.group(0) if short else ""})
            print(f"unwind memory round {r + 1}/{rounds}: " +
                  ", ".join(f"{n} {results[n][-1]['maxrss'] / 1024:.1f} MiB" for n in results), file=sys.stderr)
    finally:
        for p in rows:
            p.stop()
        if proc:
            proc.kill()
            proc.wait()
        for cg in (busy, empty):
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)

    def mib(kib):
        return f"{kib / 1024:.1f}"

    print(f"\n## Memory: `cgscope profile -F 49 --cgroup ...` for {seconds:g} s, {rounds} interleaved rounds; "
          f"the busy cgroup runs `{node} -e '{script}'`\n")
    print("Binaries mapped by node: " + ", ".join(
        f"{m} ({os.path.getsize(m) / 1e6:.1f} MB)" for m in sorted(mapped) if os.path.exists(m)) + "\n")
    print("| profiler, cgroup | peak RSS (ru_maxrss), MiB, median (min-max) | RSS before stopping, MiB: total /"
          " anon / file (median) | samples (median) | reaching main (or `__libc_start_call_main`) |"
          " reaching an entry point (`_start`, `start_thread`, `clone3`) |")
    print("|---|---|---|---|---|---|")
    for p in rows:
        res = results[p.name]
        peak = [x["maxrss"] for x in res]

        def med(key):
            vals = [x["rss"].get(key) for x in res if x["rss"].get(key) is not None]
            return mib(statistics.median(vals)) if vals else "?"

        samples = sum(x["samples"] for x in res)
        pct = (lambda n: f"{100.0 * n / samples:.1f}%" if samples else "-")
        print(f"| {p.name} | {mib(statistics.median(peak))} ({mib(min(peak))}-{mib(max(peak))}) |"
              f" {med('VmRSS')} / {med('RssAnon')} / {med('RssFile')} |"
              f" {statistics.median(x['samples'] for x in res):.0f} |"
              f" {pct(sum(x['main'] for x in res))} | {pct(sum(x['entry'] for x in res))} |")
    print()
    for p in rows:
        last = results[p.name][-1]
        lines = [l.strip() for l in last["stderr"].splitlines()
                 if "user stacks" in l or "unwinds stopped" in l or "samples recorded" in l]
        print(f"- {p.name}, last round: " + "; ".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of the CPU-bound workload")
    ap.add_argument("--loops", type=int, default=200000, help="perf bench sched pipe loops")
    ap.add_argument("--skip-off-cpu", action="store_true")
    ap.add_argument("--skip-on-cpu", action="store_true")
    ap.add_argument("--skip-999", action="store_true", help="on-CPU at 49 Hz only")
    ap.add_argument("--unwind-memory", action="store_true",
                    help="also (c): RSS of --unwind dwarf vs fp profiling a cgroup that runs node")
    ap.add_argument("--memory-rounds", type=int, default=3)
    ap.add_argument("--memory-seconds", type=float, default=5.0)
    ap.add_argument("--node", default="/usr/bin/node")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("profile_cost.py: needs root (loads BPF programs, enables kernel.bpf_stats_enabled)")

    # Calibrate the CPU-bound workload to about --seconds.
    iterations = 0
    if not args.skip_on_cpu:
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
              Profiler("none again (control)", args.build, None),
              Profiler("--unwind fp, 49 Hz", args.build, ["-F", "49", "--unwind", "fp"]),
              Profiler("--unwind dwarf (16K copy), 49 Hz", args.build, ["-F", "49", "--unwind", "dwarf"])]
    if not args.skip_999:
        on_cpu += [Profiler("--unwind fp, 999 Hz", args.build, ["-F", "999", "--unwind", "fp"]),
                   Profiler("--unwind dwarf (16K copy), 999 Hz", args.build, ["-F", "999", "--unwind", "dwarf"])]
    off_cpu = [Profiler("none", args.build, None),
               Profiler("off-CPU, every cgroup", args.build, ["--off-cpu"]),
               Profiler("off-CPU, other cgroup only", args.build, ["--off-cpu", "--cgroup", other_rel])]
    try:
        cpu_used, user = {}, {}
        if not args.skip_on_cpu:
            cpu_times, cpu_events = measure(on_cpu, lambda out: run_cpu_bound(args.build, iterations, out),
                                            args.rounds, "cpu", cpu_used, user)
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
    if not args.skip_on_cpu:
        report(f"CPU-bound workload (profile_target bench {iterations}), pinned to CPU 0, {args.rounds} interleaved "
               "rounds; profiler on every cgroup", on_cpu, cpu_times, cpu_events, "sample", cpu_used, user)
    if not args.skip_off_cpu:
        report(f"perf bench sched pipe -l {args.loops}, pinned to CPU 0, {args.rounds} interleaved rounds",
               off_cpu, pipe_times, pipe_events, "switch")
    if args.unwind_memory:
        sys.stdout.flush()
        unwind_memory(args.build, args.memory_rounds, args.memory_seconds, args.node)


if __name__ == "__main__":
    main()
