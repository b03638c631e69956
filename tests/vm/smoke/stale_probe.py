#!/usr/bin/env python3
"""Measures the attribute-cache staleness between two NFS clients, in one process so that the
timings are not dominated by fork/exec under TCG.

    stale_probe.py PREFIX A_FILE B_FILE SERVER_FILE   # prints PREFIX_KEY=VALUE lines

A creates the file (100 bytes); B stats it twice (measured on 6.1: the path walk after B's first
lookup of a name another client just created revalidates the dentry with a LOOKUP, which
refreshes the attributes; from the second stat on, B answers from its attribute cache). A
appends 100 bytes and closes; B stats at once and then every 50 ms until it sees 200 bytes (at
most 60 s). Finally A appends again and B opens the file (close-to-open: fresh at once).
"""
import os
import sys
import time

prefix, a_file, b_file, server_file = sys.argv[1:5]


def fact(key, value):
    print(f"{prefix}_{key}={value}", flush=True)


def ms(t0, t1):
    return round((t1 - t0) * 1000)


def append(path, nbytes, mode="ab"):
    with open(path, mode) as f:
        f.write(b"\0" * nbytes)


append(a_file, 100, "wb")
os.stat(b_file)
fact("b_size_before", os.stat(b_file).st_size)
t_primed = time.monotonic()
append(a_file, 100)  # closed: data and size are on the server (close-to-open)
t_written = time.monotonic()
fact("a_size_after_write", os.stat(a_file).st_size)
fact("server_size_after_write", os.stat(server_file).st_size)
size = os.stat(b_file).st_size
t_first = time.monotonic()
fact("b_size_right_after_write", size)
fact("ms_from_b_caching_to_b_check", ms(t_primed, t_first))
polls = 0
t_now = t_first
while size != 200 and t_now - t_written < 60:
    time.sleep(0.05)
    size = os.stat(b_file).st_size
    t_now = time.monotonic()
    polls += 1
fact("b_size_final", size)
fact("ms_until_b_saw_new_size", ms(t_written, t_now))
fact("b_polls", polls)
append(a_file, 100)
with open(b_file, "rb") as f:
    fact("b_size_via_open_after_second_write", len(f.read()))
