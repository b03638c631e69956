#!/usr/bin/env python3
"""CTest driver of the vm suite (label `vm`): boots the guest with tests/vm/run-in-guest.sh and
asserts on what the payloads recorded.

    vm_test.py exit-status RESULTS_DIR          # a payload's `exit 3` is 3 on the host
    vm_test.py boot RESULTS_DIR --cgscope BIN   # one boot of smoke/nfs_smoke.sh (fixture)
    vm_test.py check NAME RESULTS_DIR           # one assertion group on that boot's results
    vm_test.py nfs-boot RESULTS_DIR --cgscope BIN [--kernel-series 6.12]
                                                # one boot of nfs/nfs_collector.sh (fixture)
    vm_test.py nfs-check NAME RESULTS_DIR       # one check of the NFS collector (nfs_checks.py)

Exits 0 (pass), 1 (fail, with the reason) or 77 (skipped: no root or no qemu, with the reason;
CTest's SKIP_RETURN_CODE).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import nfs_checks

SKIP = 77
HERE = Path(__file__).resolve().parent
RUN_IN_GUEST = HERE / "run-in-guest.sh"


class Failed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failed(message)


def skip_reason():
    if os.geteuid() != 0:
        return ("needs root: qemu shares the host's / as the guest's root, and the guest runs "
                "nfsd and eBPF")
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs qemu-system-x86)"
    return None


def run_guest(payload, results, env=(), timeout_s=240, disk_mb=0, kernel_series=None, tcg_single=False):
    # Results of an earlier run must not pass for this one's.
    shutil.rmtree(results, ignore_errors=True)
    Path(results).mkdir(parents=True)
    cmd = [str(RUN_IN_GUEST), "--timeout", str(timeout_s)]
    if disk_mb:
        cmd += ["--disk", str(disk_mb)]
    for item in env:
        cmd += ["-e", item]
    cmd += [str(payload), str(results)]
    host_env = dict(os.environ)
    if tcg_single:
        host_env.setdefault("CGSCOPE_VM_TCG_THREAD", "single")
    if kernel_series:
        host_env["CGSCOPE_VM_KERNEL_SERIES"] = kernel_series
    print("+", f"CGSCOPE_VM_KERNEL_SERIES={kernel_series}" if kernel_series else "", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=False, env=host_env).returncode


def read_facts(results):
    path = Path(results) / "facts.txt"
    expect(path.is_file(), f"{path} is missing: the smoke boot (vm.smoke_boot) did not record results")
    facts = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts[key] = value.strip()
    return facts


def fact(facts, key):
    expect(key in facts, f"the guest recorded no '{key}' (see payload.log: the payload stopped early?)")
    return facts[key]


# --- the two boots -------------------------------------------------------------------------------

def cmd_exit_status(results):
    status = run_guest(HERE / "smoke" / "exit_status.sh", results, timeout_s=180)
    expect(status == 3, f"run-in-guest.sh returned {status}, expected the payload's 3")
    recorded = (Path(results) / "exit-status").read_text().strip()
    expect(recorded == "3", f"the guest wrote exit-status '{recorded}', expected 3")
    log = (Path(results) / "payload.log").read_text()
    expect("cgscope.init=" in log, "the payload did not see the harness's kernel command line")
    expect(f"kernel {platform.release()}\n" not in log,
           "the payload ran on the host's kernel, not the guest's")
    print(log, end="")


def cmd_nfs_boot(results, cgscope, kernel_series):
    expect(os.access(cgscope, os.X_OK), f"{cgscope} is not an executable (build cgscope first)")
    status = run_guest(HERE / "nfs" / "nfs_collector.sh", results, env=[f"CGSCOPE_BIN={cgscope}"],
                       timeout_s=1200, disk_mb=128, kernel_series=kernel_series,
                       # Under multi-threaded TCG a vCPU may still execute a breakpoint that
                       # another vCPU's live code patching (text_poke_bp, when a tracepoint's
                       # static key is enabled) has already removed, and the guest oopses
                       # ("Oops: int3" in ttwu_do_activate, seen on 6.12 as cgscope attached its
                       # sched programs). With all vCPUs on one host thread it cannot happen.
                       tcg_single=True)
    expect(status == 0, f"the NFS payload ended with status {status} (see {results}/payload.log)")
    expect(read_facts(results).get("done") == "yes", f"the NFS payload stopped early (see {results}/payload.log)")
    print((Path(results) / "payload.log").read_text(), end="")


def cmd_boot(results, cgscope):
    expect(os.access(cgscope, os.X_OK), f"{cgscope} is not an executable (build cgscope first)")
    status = run_guest(HERE / "smoke" / "nfs_smoke.sh", results, env=[f"CGSCOPE_BIN={cgscope}"])
    expect(status == 0, f"the smoke payload ended with status {status} (see {results}/payload.log)")
    read_facts(results)
    print((Path(results) / "payload.log").read_text(), end="")


# --- checks on the smoke boot --------------------------------------------------------------------

def check_cgroup_v2_pure(f, results):
    expect(fact(f, "cgroup_fstype") == "cgroup2fs", f"/sys/fs/cgroup is {f['cgroup_fstype']}, not cgroup2")
    expect(fact(f, "cgroup_v1_mounts") == "0", f"{f['cgroup_v1_mounts']} cgroup v1 hierarchies mounted")
    expect(fact(f, "cgroup2_mounts") == "1", f"{f['cgroup2_mounts']} cgroup2 mounts, expected 1")
    enabled = fact(f, "cgroup_subtree_control").split()
    for controller in ("cpu", "io", "memory", "pids"):
        expect(controller in enabled, f"controller {controller} not enabled for children: {enabled}")
    expect(fact(f, "cgroup_probe_self") == "0::/smoke/probe",
           f"a process moved into /smoke/probe reads /proc/self/cgroup '{f['cgroup_probe_self']}'")
    expect(fact(f, "cgroup_probe_has_cpu_max") == "yes", "a child cgroup has no cpu.max")
    expect(fact(f, "cgroup_probe_has_memory_max") == "yes", "a child cgroup has no memory.max")


def check_nfsd_serves(f, results):
    versions = fact(f, "nfsd_versions").split()
    for v in ("+3", "+4.2"):
        expect(v in versions, f"nfsd versions {versions} lack {v}")
    expect("tcp 2049" in fact(f, "nfsd_portlist"), f"nfsd listens on '{f['nfsd_portlist']}'")
    programs = fact(f, "rpcinfo_programs").split()
    for p in ("nfs/3", "nfs/4", "mountd/3"):
        expect(p in programs, f"rpcbind on 127.0.0.1 does not list {p}: {programs}")
    expect("/srv/export" in fact(f, "showmount_exports").split(),
           f"showmount -e lists '{f['showmount_exports']}'")


def check_two_clients(f, p, vers):
    expect(fact(f, f"{p}_mounted") == "yes", f"the {p} mounts failed (see payload.log)")
    expect(fact(f, f"{p}_dev_a") != fact(f, f"{p}_dev_b"),
           f"{p} mounts A and B share one superblock (device {f[p + '_dev_a']})")
    expect(fact(f, f"{p}_b_reads_a") == "written by A", f"B read '{f[p + '_b_reads_a']}' from A's file")
    expect(fact(f, f"{p}_a_reads_b") == "written by B", f"A read '{f[p + '_a_reads_b']}' from B's file")
    expect(fact(f, f"{p}_server_sees").split() == [f"{p}-from-a", f"{p}-from-b"],
           f"the export holds '{f[p + '_server_sees']}'")
    opts = fact(f, f"{p}_mount_opts_b").split(",")
    expect(f"vers={vers}" in opts, f"B is mounted with {opts}, not vers={vers}")
    return opts


def check_nfs_v3_two_clients(f, results):
    opts = check_two_clients(f, "v3", "3")
    for o in ("nosharecache", "nolock"):
        expect(o in opts, f"B's NFSv3 mount lacks {o}: {opts}")


def check_nfs_v4_two_clients(f, results):
    check_two_clients(f, "v4", "4.2")
    clients = fact(f, "v4_server_clients")
    for node in ("node1", "node2"):
        expect(f"NFSv4.2 {node}\"" in clients, f"nfsd has no NFSv4.2 client named after {node}: {clients}")
    expect("clientaddr=10.77.1.2" in fact(f, "v4_mount_opts_a"), f"A's mount: {f['v4_mount_opts_a']}")
    expect("clientaddr=10.77.2.2" in fact(f, "v4_mount_opts_b"), f"B's mount: {f['v4_mount_opts_b']}")


def check_stale(f, p):
    print(f"{p}: B checked {fact(f, p + '_ms_from_b_caching_to_b_check')} ms after caching the "
          f"attributes; B saw the new size {fact(f, p + '_ms_until_b_saw_new_size')} ms after A's "
          f"write ({fact(f, p + '_b_polls')} polls of 50 ms)")
    expect(fact(f, f"{p}_b_size_before") == "100", f"B first saw size {f[p + '_b_size_before']}, not 100")
    expect(fact(f, f"{p}_a_size_after_write") == "200", "A's append did not make the file 200 bytes")
    expect(fact(f, f"{p}_server_size_after_write") == "200", "the server's file is not 200 bytes after A's close")
    expect(fact(f, f"{p}_b_size_right_after_write") == "100",
           f"right after A's write B's stat() reported {f[p + '_b_size_right_after_write']} bytes, "
           f"not the cached 100: no stale attribute cache (B's check came "
           f"{f[p + '_ms_from_b_caching_to_b_check']} ms after B cached the attributes; acregmin is 3 s)")
    expect(fact(f, f"{p}_b_size_final") == "200",
           f"B still saw {f[p + '_b_size_final']} bytes 60 s after A's write")
    expect(fact(f, f"{p}_b_size_via_open_after_second_write") == "300",
           "a fresh open() on B after A's second write did not see 300 bytes (close-to-open)")


def check_nfs_v3_stale_attributes(f, results):
    check_stale(f, "v3")


def check_nfs_v4_stale_attributes(f, results):
    check_stale(f, "v4")


def check_cgscope_snapshot(f, results):
    err = Path(results) / "cgscope-snapshot.err"
    expect(fact(f, "cgscope_status") == "0",
           f"cgscope snapshot --bpf required exited {f['cgscope_status']} in the guest: "
           + (err.read_text()[-2000:] if err.exists() else ""))
    lines = (Path(results) / "cgscope-snapshot.json").read_text().splitlines()
    expect(len(lines) == 1, f"expected one JSON line (--count 1), got {len(lines)}")
    try:
        snap = json.loads(lines[0])
    except json.JSONDecodeError as e:
        raise Failed(f"cgscope-snapshot.json does not parse: {e}")
    collectors = {c["name"]: c for c in snap["collectors"]}
    for c in collectors.values():
        print(f"collector {c['name']}: active={c['active']}: {c['message']}")
    expect(collectors.get("cgroupfs", {}).get("message", "").startswith("layout v2"),
           f"cgroupfs did not detect the pure v2 layout: {collectors.get('cgroupfs')}")
    for name in ("cpu", "io", "memory"):
        expect(name in collectors, f"no '{name}' collector in the snapshot")
        expect(collectors[name]["active"], f"collector {name} inactive: {collectors[name]['message']}")
    busy = [cg for cg in snap["cgroups"] if cg.get("path") == "/smoke/busy"]
    expect(busy, "the busy cgroup /smoke/busy is not in the snapshot")
    bpf = busy[0].get("bpf") or {}
    expect(bpf.get("on_cpu_ns", 0) > 0, f"/smoke/busy has no eBPF on-CPU time: {bpf}")
    print(f"/smoke/busy: {bpf['cpu_percent']:.1f}% CPU by eBPF")


REQUIRED_TRACEPOINTS = [
    "nfs:nfs_revalidate_inode_enter", "nfs:nfs_revalidate_inode_exit", "nfs:nfs_getattr_enter",
    "nfs:nfs_getattr_exit", "nfs:nfs_invalidate_mapping_enter", "nfs:nfs_invalidate_mapping_exit",
    "nfs:nfs_fsync_enter", "nfs:nfs_fsync_exit", "nfs:nfs_lookup_revalidate_enter",
    "nfs:nfs_lookup_revalidate_exit", "nfs:nfs_access_enter", "nfs:nfs_access_exit",
    "nfs:nfs_initiate_write", "nfs:nfs_writeback_done", "nfs:nfs_initiate_commit",
    "nfs:nfs_commit_done", "nfs:nfs_set_cache_invalid", "sunrpc:rpc_stats_latency",
    "sunrpc:rpc_task_begin", "sunrpc:rpc_task_end", "nfs4:nfs4_set_delegation", "nfs4:nfs4_getattr",
]


def check_nfs_tracepoints(f, results):
    present = set((Path(results) / "tracepoints.txt").read_text().split())
    for sys_name in ("nfs", "nfs4", "sunrpc"):
        print(f"{sys_name}: {fact(f, 'tracepoints_' + sys_name)} tracepoints")
    missing = [t for t in REQUIRED_TRACEPOINTS if t not in present]
    expect(not missing, f"the guest kernel lacks {missing}")
    btf = fact(f, "btf_modules").split()
    for module in ("vmlinux", "nfs", "nfsv3", "nfsv4", "sunrpc", "nfsd"):
        expect(module in btf, f"no /sys/kernel/btf/{module} in the guest: {btf}")
    fmt = (Path(results) / "nfs_revalidate_inode_exit.format").read_text()
    for field in ("error", "fileid", "size", "cache_validity"):
        expect(f" {field};" in fmt, f"nfs_revalidate_inode_exit has no field {field}")
    fmt = (Path(results) / "rpc_stats_latency.format").read_text()
    for field in ("rtt", "execute"):
        expect(f" {field};" in fmt, f"rpc_stats_latency has no field {field}")


CHECKS = {
    "cgroup_v2_pure": check_cgroup_v2_pure,
    "nfsd_serves": check_nfsd_serves,
    "nfs_v3_two_clients": check_nfs_v3_two_clients,
    "nfs_v4_two_clients": check_nfs_v4_two_clients,
    "nfs_v3_stale_attributes": check_nfs_v3_stale_attributes,
    "nfs_v4_stale_attributes": check_nfs_v4_stale_attributes,
    "cgscope_snapshot": check_cgscope_snapshot,
    "nfs_tracepoints": check_nfs_tracepoints,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("exit-status")
    p.add_argument("results")
    p = sub.add_parser("boot")
    p.add_argument("results")
    p.add_argument("--cgscope", required=True)
    p = sub.add_parser("check")
    p.add_argument("name", choices=sorted(CHECKS))
    p.add_argument("results")
    p = sub.add_parser("nfs-boot")
    p.add_argument("results")
    p.add_argument("--cgscope", required=True)
    p.add_argument("--kernel-series", help="a series of tests/vm/kernels.txt (default: its first)")
    p = sub.add_parser("nfs-check")
    p.add_argument("name", choices=sorted(nfs_checks.CHECKS))
    p.add_argument("results")
    args = parser.parse_args()

    reason = skip_reason()
    if reason:
        print(f"[  SKIPPED ] {reason}")
        return SKIP
    try:
        if args.cmd == "exit-status":
            cmd_exit_status(args.results)
        elif args.cmd == "boot":
            cmd_boot(args.results, args.cgscope)
        elif args.cmd == "nfs-boot":
            cmd_nfs_boot(args.results, args.cgscope, args.kernel_series)
        elif args.cmd == "nfs-check":
            nfs_checks.CHECKS[args.name](read_facts(args.results), args.results)
        else:
            CHECKS[args.name](read_facts(args.results), args.results)
    except (Failed, nfs_checks.Failed, OSError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
