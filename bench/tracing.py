"""Shared by the collector cost benchmarks: tracers started as processes, their BPF programs
found by id in /proc/PID/fdinfo, and per-program kernel statistics (kernel.bpf_stats_enabled)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time


def prog_ids_of(pid):
    """BPF program ids held by a process, from /proc/PID/fdinfo."""
    ids = set()
    fddir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fddir):
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
    stats = {}
    for p in json.loads(out):
        if p["id"] in ids:
            stats[p["id"]] = (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
    return stats


class Tracer:
    def __init__(self, name, argv, ready):
        self.name, self.argv, self.ready = name, argv, ready
        self.proc = None

    def start(self):
        if not self.argv:
            return
        # Line-buffered, so that the ready line of tools that printf it arrives before they exit.
        self.proc = subprocess.Popen(["stdbuf", "-oL"] + self.argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited before it was ready")
            if self.ready.search(line):
                break
        # Keep draining its output so a full pipe never blocks the tracer mid-measurement.
        threading.Thread(target=lambda out: [None for _ in out], args=(self.proc.stdout,), daemon=True).start()
        time.sleep(1.0)  # attach settles; ids are stable from here

    def ids(self):
        if not self.proc:
            return set()
        ids = prog_ids_of(self.proc.pid)
        for child in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split():
            ids |= prog_ids_of(int(child))
        return ids

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None




def machine_line():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return (f"machine: {os.uname().release}, {os.cpu_count()} CPUs, {cpu}; "
            f"{time.strftime('%Y-%m-%d')}; command: {' '.join(sys.argv)}")


def interleaved(tracers, rounds, run_once, unit):
    """Runs the workload (run_once(tracer, stats_enabled) -> metric) once per tracer per round, the order rotating
    every round so that no tracer always follows another. Each round is run twice: once with
    kernel.bpf_stats_enabled for the programs' ns per event, and once without it for the metric
    (the statistics themselves cost two clock reads per program run, which would otherwise be
    charged to every tracer's slowdown). Returns {tracer: [metric per round]}, {tracer: {program:
    [ns/event per round]}} and {tracer: {program: [events per round]}}."""
    if any(t.argv and t.argv[0] == "bpftrace" for t in tracers) and not os.path.exists("/sys/kernel/tracing/events"):
        # bpftrace resolves tracepoints through tracefs, which is not always mounted.
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
    metric = {t.name: [] for t in tracers}
    per_event = {t.name: {} for t in tracers}
    events = {t.name: {} for t in tracers}
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    try:
        for r in range(rounds):
            k = r % len(tracers)
            for t in tracers[k:] + tracers[:k]:
                t.start()
                subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=0"], check=True)
                metric[t.name].append(run_once(t, False))
                ids = t.ids()
                subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=1"], check=True)
                before = prog_stats(ids)
                run_once(t, True)
                after = prog_stats(ids)
                t.stop()
                for pid, (name, cnt, ns) in after.items():
                    b = before.get(pid, (name, 0, 0))
                    dc, dn = cnt - b[1], ns - b[2]
                    if dc > 0:
                        per_event[t.name].setdefault(name, []).append(dn / dc)
                        events[t.name].setdefault(name, []).append(dc)
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {metric[n][-1]:.3f}{unit}" for n in metric),
                  file=sys.stderr)
    finally:
        for t in tracers:
            t.stop()
        subprocess.run(["sysctl", "-q", "-w", "kernel.bpf_stats_enabled=0"])
    return metric, per_event, events


def print_per_event(tracers, per_event):
    import statistics
    print("\n## ns per event (kernel.bpf_stats_enabled: run_time_ns / run_cnt), median and spread of rounds\n")
    print("| tracer | program | median ns/event | min-max |")
    print("|---|---|---|---|")
    for t in tracers:
        for name, vals in sorted(per_event[t.name].items()):
            print(f"| {t.name} | {name} | {statistics.median(vals):.0f} | {min(vals):.0f}-{max(vals):.0f} |")
