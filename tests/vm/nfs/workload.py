#!/usr/bin/env python3
"""Workloads of the NFS collector's vm tests, run in a cgroup on one NFS client.

    workload.py stat PATH...                  # "PATH exists|ENOENT" per path
    workload.py create PATH...                # creates each file (open O_CREAT, write, close)
    workload.py writer DIR FILES ROUNDS       # rewrites DIR/f0..f<FILES-1> every round, growing them
    workload.py reader DIR FILES ROUNDS TRUTH # stats and reads them; counts sizes that differ from
                                              # the server's own copy in TRUTH (stale reads)
    workload.py fsync DIR COUNT               # COUNT times 1 MiB written + fsync to DIR/synced
    workload.py meta DIR COUNT                # stat/open/close loop over DIR/m0..m9 (benchmark)
"""
import os
import sys
import time


def stat_paths(paths):
    for p in paths:
        try:
            os.stat(p)
            print(f"{p} exists")
        except FileNotFoundError:
            print(f"{p} ENOENT")


def create(paths):
    for p in paths:
        with open(p, "w") as f:
            f.write("blob\n")


def writer(d, files, rounds):
    for r in range(rounds):
        for i in range(files):
            with open(os.path.join(d, f"f{i}"), "w") as f:
                f.write("x" * (100 * (r + 1)))
        time.sleep(0.05)


def reader(d, files, rounds, truth):
    stale = checks = 0
    for _ in range(rounds):
        for i in range(files):
            p = os.path.join(d, f"f{i}")
            try:
                seen = os.stat(p).st_size
                with open(p, "rb", buffering=0) as f:
                    os.fstat(f.fileno())
                real = os.stat(os.path.join(truth, f"f{i}")).st_size
            except FileNotFoundError:
                continue
            checks += 1
            stale += seen != real
        time.sleep(0.05)
    print(f"checks={checks} stale={stale}")


def fsync_loop(d, count):
    # 1 MiB between fsyncs: more than one WRITE RPC (wsize 256 KiB), so the client writes
    # UNSTABLE and COMMITs (dirty data that fits one RPC is written FILE_SYNC, no COMMIT).
    p = os.path.join(d, "synced")
    with open(p, "w") as f:
        for i in range(count):
            f.write("y" * (1 << 20))
            f.flush()
            os.fsync(f.fileno())


def meta(d, count):
    names = [os.path.join(d, f"m{i}") for i in range(10)]
    for n in names:
        if not os.path.exists(n):
            open(n, "w").close()
    t0 = time.monotonic()
    for i in range(count):
        n = names[i % 10]
        os.stat(n)
        os.close(os.open(n, os.O_RDONLY))
    print(f"seconds={time.monotonic() - t0:.6f} ops={count}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    # The kernel's trace names tasks by pid: the payload maps them back to the workload.
    pidfile = os.environ.get("CGSCOPE_WORKLOAD_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    if cmd == "stat":
        stat_paths(args)
    elif cmd == "create":
        create(args)
    elif cmd == "writer":
        writer(args[0], int(args[1]), int(args[2]))
    elif cmd == "reader":
        reader(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "fsync":
        fsync_loop(args[0], int(args[1]))
    elif cmd == "meta":
        meta(args[0], int(args[1]))
    else:
        sys.exit(f"unknown command {cmd}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
