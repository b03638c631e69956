"""Host-side checks of the NFS collector's vm boot (tests/vm/nfs/nfs_collector.sh): each one
asserts on what cgscope reported for one scenario, against what the workload itself observed,
the kernel's own trace of the same run (tracefs) and /proc/self/mountstats."""
import json
import re
from collections import defaultdict
from pathlib import Path


class Failed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failed(message)


def fact(f, key):
    expect(key in f, f"the guest recorded no '{key}' (see payload.log: the payload stopped early?)")
    return f[key]


def snapshots(results, name):
    path = Path(results) / f"{name}.json"
    expect(path.is_file(), f"{path} is missing: scenario {name} did not run")
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    err = (Path(results) / f"{name}.err").read_text() if (Path(results) / f"{name}.err").exists() else ""
    hang = Path(results) / f"{name}.hang"
    expect(not hang.exists(), f"cgscope hung in scenario {name} and was killed; where its threads waited: "
           f"{hang.read_text()[-3000:] if hang.exists() else ''}")
    expect(lines, f"cgscope printed no snapshot in scenario {name}; stderr: {err[-2000:]}")
    return [json.loads(l) for l in lines]


def nfs_of(results, name):
    snap = snapshots(results, name)[-1]
    nfs = snap["nfs"]
    status = [c for c in snap["collectors"] if c["name"] == "nfs"]
    expect(status and status[0]["active"], f"{name}: the nfs collector is not active: {status}")
    drops = {k: v for k, v in status[0]["drops"].items() if v}
    expect(not drops, f"{name}: the nfs collector dropped events: {drops}")
    return nfs, status[0]


def row(nfs, cgroup_id, mount_point):
    for c in nfs["cgroups"]:
        if c["cgroup_id"] == cgroup_id and c["mount_point"] == mount_point:
            return c
    return None


def count(r, op):
    return r["ops"].get(op, {}).get("count", 0) if r else 0


def ids(f):
    return int(fact(f, "cgroup_id_a")), int(fact(f, "cgroup_id_b")), int(fact(f, "cgroup_id_idle"))


def no_idle_rows(f, nfs, name):
    _, _, idle = ids(f)
    rows = [c for c in nfs["cgroups"] if c["cgroup_id"] == idle]
    expect(not rows, f"{name}: the cgroup without NFS activity has NFS rows: {rows}")


# --- stale negative lookups ----------------------------------------------------------------------

def negative_story(f, results, name, mount_b):
    a, b, _ = ids(f)
    expect(fact(f, f"{name}_first_enoent") == "5", f"{name}: B's first lookups did not all fail")
    expect(fact(f, f"{name}_second_enoent") == "5",
           f"{name}: the registry failure did not happen (B found {5 - int(f[name + '_second_enoent'])} "
           "of the names A created): the test lost its premise")
    nfs, status = nfs_of(results, name)
    expect(any(f"cached negative lookups: {p}" in status["message"] for p in ("tracepoint", "fexit", "kprobe")),
           f"{name}: no probe for negative dentries: {status['message']}")
    rb = row(nfs, b, mount_b)
    expect(rb is not None, f"{name}: no row for B on {mount_b}: {nfs['cgroups']}")
    expect(rb["negative_trusted"] >= 5 and rb["negative_stale"] == 5,
           f"{name}: B trusted {rb['negative_trusted']} negative dentries, {rb['negative_stale']} of names A "
           "created; expected 5 stale")
    hz = [h for h in nfs["negative_lookup_hazards"] if h["victim_cgroup_id"] == b]
    expect(len(hz) == 1, f"{name}: expected one hazard for B, got {nfs['negative_lookup_hazards']}")
    h = hz[0]
    expect(h["creator_cgroup_id"] == a, f"{name}: the hazard names creator {h['creator']}, not A")
    expect(h["stale_lookups"] == 5 and h["names"] == 5 and h["directories"] == 1,
           f"{name}: hazard counts {h}")
    expect(h["victim_mount"]["lookupcache"] == "all" and h["victim_mount"]["mount_point"] == mount_b,
           f"{name}: hazard mount {h['victim_mount']}")
    no_idle_rows(f, nfs, name)
    print(f"{name}: B trusted {rb['negative_trusted']} cached negative lookups, {h['stale_lookups']} for "
          f"{h['names']} names A created; hazard {h['victim']} <- {h['creator']} on {h['export']}")


def check_nfs_negative_v3(f, results):
    # 6.1 fires nfs_lookup_revalidate_exit for cache hits: auto takes the tracepoint there; 6.12
    # does not, and auto takes fexit.
    nfs, status = nfs_of(results, "neg_v3")
    want = "tracepoint" if series_of(fact(f, "kernel")) == "6.1" else "fexit"
    expect(f"cached negative lookups: {want}" in status["message"], f"not the {want} path: {status['message']}")
    negative_story(f, results, "neg_v3", "/mnt/nfs/v3b")


def check_nfs_negative_fexit(f, results):
    nfs, status = nfs_of(results, "neg_v3_fexit")
    expect("cached negative lookups: fexit" in status["message"], f"not the fexit path: {status['message']}")
    negative_story(f, results, "neg_v3_fexit", "/mnt/nfs/v3b")


def check_nfs_negative_kprobe_fallback(f, results):
    nfs, status = nfs_of(results, "neg_v3_kprobe")
    expect("cached negative lookups: kprobe" in status["message"], f"not the kprobe path: {status['message']}")
    negative_story(f, results, "neg_v3_kprobe", "/mnt/nfs/v3b")


def check_nfs_negative_v4(f, results):
    negative_story(f, results, "neg_v4", "/mnt/nfs/v4b")


def check_nfs_negative_lookupcache_positive(f, results):
    _, b, _ = ids(f)
    expect("lookupcache=pos" in fact(f, "neg_v3_positive_mount_b"), "B was not mounted with lookupcache=positive")
    expect(fact(f, "neg_v3_positive_second_enoent") == "0", "with lookupcache=positive B still got ENOENT")
    nfs, _ = nfs_of(results, "neg_v3_positive")
    rb = row(nfs, b, "/mnt/nfs/v3b")
    expect(rb is not None and rb["negative_trusted"] == 0 and rb["negative_stale"] == 0,
           f"with lookupcache=positive cgscope still reports trusted negative lookups: {rb}")
    expect(not nfs["negative_lookup_hazards"], f"hazard reported anyway: {nfs['negative_lookup_hazards']}")
    print(f"lookupcache=positive: B rejected {rb['negative_rejected']} cached negative dentries, no hazard")


# --- shared writer -------------------------------------------------------------------------------

def shared_story(f, results, name, mount_a, mount_b):
    a, b, _ = ids(f)
    nfs, _ = nfs_of(results, name)
    ra, rb = row(nfs, a, mount_a), row(nfs, b, mount_b)
    expect(ra and rb, f"{name}: rows for A on {mount_a} / B on {mount_b} missing: {nfs['cgroups']}")
    expect(ra["write_bytes"] > 0 and ra["dirtied_pages"] > 0, f"{name}: A's writes not charged to A: {ra}")
    expect(rb["write_bytes"] == 0 and rb["dirtied_pages"] == 0, f"{name}: writes charged to B: {rb}")
    expect(count(rb, "revalidate") + count(rb, "getattr") > 0, f"{name}: B has no revalidations: {rb}")
    hz = nfs["shared_writer_hazards"]
    files = {h["fileid"] for h in hz if any(w["cgroup_id"] == a for w in h["writers"])
             and any(r["cgroup_id"] == b for r in h["readers"])}
    expect(len(files) == 3, f"{name}: expected 3 files written by A and read by B, got {hz}")
    for h in hz:
        for r in h["readers"]:
            expect(r["mount"]["mount_point"] == mount_b, f"{name}: reader mount {r['mount']}")
    print(f"{name}: A wrote {ra['write_bytes']} bytes, B revalidated {count(rb, 'revalidate')} times; "
          f"{len(files)} shared files, reader mount {hz[0]['readers'][0]['mount']['options']}")
    return nfs, ra, rb


def check_nfs_shared_writer_v3(f, results):
    nfs, _, _ = shared_story(f, results, "shared_v3", "/mnt/nfs/v3a", "/mnt/nfs/v3b")
    m = nfs["shared_writer_hazards"][0]["readers"][0]["mount"]
    expect(m["acregmin_s"] == 600, f"the reader's mount options are not reported: {m}")
    stale = int(re.search(r"stale=(\d+)", fact(f, "shared_v3_reader")).group(1))
    expect(stale > 0, f"with actimeo=600 the reader saw no stale size: {f['shared_v3_reader']}")
    print(f"actimeo=600: the reader itself saw {stale} stale sizes while cgscope flagged the hazard")


def check_nfs_shared_writer_v4(f, results):
    shared_story(f, results, "shared_v4", "/mnt/nfs/v4a", "/mnt/nfs/v4b")


def check_nfs_actimeo0_revalidates_more(f, results):
    _, b, _ = ids(f)
    long_nfs, _ = nfs_of(results, "shared_v3")
    zero_nfs, _ = nfs_of(results, "shared_v3_actimeo0")
    long_r = count(row(long_nfs, b, "/mnt/nfs/v3b"), "revalidate")
    zero_r = count(row(zero_nfs, b, "/mnt/nfs/v3b"), "revalidate")
    expect(zero_r > long_r, f"B revalidated {zero_r} times with actimeo=0, {long_r} with actimeo=600")
    print(f"B's revalidations: {long_r} with actimeo=600, {zero_r} with actimeo=0")


# --- accuracy against the kernel's own tracepoints and mountstats ---------------------------------

TRACE_LINE = re.compile(r"\s*\S+-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(\w+):")


def trace_of(results, name):
    """Per pid and event: count; per pid and op: summed enter->exit time in ns."""
    counts = defaultdict(int)
    time_ns = defaultdict(int)
    open_at = {}
    for line in (Path(results) / f"{name}.trace").read_text().splitlines():
        m = TRACE_LINE.match(line)
        if not m:
            continue
        pid, ts, event = int(m.group(1)), float(m.group(2)), m.group(3)
        counts[(pid, event)] += 1
        for suffix in ("_enter", "_exit"):
            if event.endswith(suffix):
                op = event[: -len(suffix)]
                if suffix == "_enter":
                    open_at[(pid, op)] = ts
                elif (pid, op) in open_at:
                    time_ns[(pid, op)] += round((ts - open_at.pop((pid, op))) * 1e9)
    return counts, time_ns


def check_nfs_accuracy(f, results):
    a, b, _ = ids(f)
    nfs, _ = nfs_of(results, "shared_v3")
    counts, time_ns = trace_of(results, "shared_v3")
    reader = int(fact(f, "shared_v3_pid_reader"))
    writer = int(fact(f, "shared_v3_pid_writer"))
    syncer = int(fact(f, "shared_v3_pid_fsync"))
    ra, rb = row(nfs, a, "/mnt/nfs/v3a"), row(nfs, b, "/mnt/nfs/v3b")
    report = []

    def same(what, ours, kernels):
        expect(ours == kernels, f"{what}: cgscope {ours}, kernel tracepoints {kernels}")
        report.append(f"{what} {ours}={kernels}")

    def close(what, ours, kernels):
        expect(kernels > 0 and abs(ours - kernels) <= 0.10 * kernels,
               f"{what}: cgscope {ours} ns, kernel tracepoints {kernels} ns (more than 10% apart)")
        report.append(f"{what} {ours / 1e6:.1f}ms~{kernels / 1e6:.1f}ms")

    same("B revalidate", count(rb, "revalidate"), counts[(reader, "nfs_revalidate_inode_exit")])
    same("B getattr", count(rb, "getattr"), counts[(reader, "nfs_getattr_exit")])
    same("A getattr", count(ra, "getattr"),
         counts[(writer, "nfs_getattr_exit")] + counts[(syncer, "nfs_getattr_exit")])
    same("A fsync", count(ra, "fsync"), counts[(syncer, "nfs_fsync_exit")])
    commits = sum(v for (pid, ev), v in counts.items() if ev == "nfs_commit_done")
    expect(commits > 0, "the kernel sent no COMMIT in this run: nothing to compare")
    same("A commit (rpciod's, charged to A)", count(ra, "commit"), commits)
    close("B revalidate time", rb["ops"]["revalidate"]["time_ns"], time_ns[(reader, "nfs_revalidate_inode")])
    close("A fsync time", ra["ops"]["fsync"]["time_ns"], time_ns[(syncer, "nfs_fsync")])
    # /proc/self/mountstats of the same interval: only B uses mount B, only A mount A (6.1's
    # mountstats has no getattr counter).
    def mountstats(mount_point):
        ms = [m for m in nfs["mountstats"] if m["mount_point"] == mount_point]
        expect(ms, f"no mountstats delta for {mount_point}")
        return ms[0]["events"]

    same("B revalidate vs mountstats inode_revalidate", count(rb, "revalidate"),
         mountstats("/mnt/nfs/v3b")["inode_revalidate"])
    same("A revalidate vs mountstats inode_revalidate", count(ra, "revalidate"),
         mountstats("/mnt/nfs/v3a")["inode_revalidate"])
    same("A fsync vs mountstats vfs_fsync", count(ra, "fsync"), mountstats("/mnt/nfs/v3a")["vfs_fsync"])
    same("A setattr vs mountstats vfs_setattr", count(ra, "setattr"), mountstats("/mnt/nfs/v3a")["vfs_setattr"])
    print("; ".join(report))


# --- recordings and remounts ---------------------------------------------------------------------

def check_nfs_replay_json(f, results):
    # neg_v3 ran under `cgscope record --print json`: what the recorder printed live and what a
    # replay of its file prints must be the same objects, NFS included.
    expect(fact(f, "neg_v3_replay_json_exit") == "0",
           f"replay failed: {(Path(results) / 'neg_v3.replay.err').read_text()[-2000:]}")
    live = snapshots(results, "neg_v3")
    replayed = snapshots(results, "neg_v3.replay")
    expect(len(live) == len(replayed), f"{len(live)} intervals live, {len(replayed)} replayed")
    for i, (l, r) in enumerate(zip(live, replayed)):
        if l["nfs"] != r["nfs"]:
            diff = [k for k in l["nfs"] if l["nfs"].get(k) != r["nfs"].get(k)]
            raise Failed(f"interval {i}: the replayed 'nfs' object differs in {diff}")
        expect(l == r, f"interval {i}: the replayed snapshot differs outside 'nfs': "
               f"{[k for k in l if l.get(k) != r.get(k)]}")
    hz = live[-1]["nfs"]["negative_lookup_hazards"]
    expect(hz, "the recorded run has no hazard to replay: the comparison proves little")
    print(f"{len(live)} intervals replayed identically, with {len(hz)} negative-lookup hazard(s) and "
          f"{len(live[-1]['nfs']['cgroups'])} NFS rows")


def check_nfs_replay_text(f, results):
    expect(fact(f, "remount_v3_replay_txt_exit") == "0",
           f"replay failed: {(Path(results) / 'remount_v3.replay.err').read_text()[-2000:]}")
    live = (Path(results) / "remount_v3.txt").read_text()
    replayed = (Path(results) / "remount_v3.replay.txt").read_text()
    expect("HAZARD" in live, f"the recorded run shows no hazard: the comparison proves little:\n{live}")
    expect(live == replayed, f"--view nfs differs between the live run and its replay:\nlive:\n{live}\n"
           f"replayed:\n{replayed}")
    print(f"--view nfs replayed identically ({len(live.splitlines())} lines)")


def check_nfs_remount(f, results):
    a, b, _ = ids(f)
    name = "remount_v3"
    # The premises: the story failed before the remount and not after, and the new superblock
    # got the old one's dev (else there is nothing to tell apart).
    expect(fact(f, f"{name}_first_enoent") == "5" and fact(f, f"{name}_second_enoent") == "5",
           f"{name}: the registry failure did not happen before the remount")
    expect(fact(f, f"{name}_third_enoent") == "0", f"{name}: B still got ENOENT after the remount")
    expect("lookupcache=pos" in fact(f, f"{name}_mount_b"), f"{name}: B was not remounted with lookupcache=positive")
    before, after = fact(f, f"{name}_mount_before").split(), fact(f, f"{name}_mount_after").split()
    expect(fact(f, f"{name}_dev_before") == fact(f, f"{name}_dev_after") and before[1] == after[1],
           f"{name}: the new superblock did not reuse the dev ({before} -> {after}): the test lost its premise")
    snaps = snapshots(results, f"{name}.replay")
    expect(len(snaps) == 1, f"{name}: the story must fit one interval, it took {len(snaps)} "
           f"({fact(f, name + '_story_ms')} ms)")
    nfs = snaps[0]["nfs"]
    mb = [m for m in nfs["mounts"] if m["mount_point"] == "/mnt/nfs/v3b"]
    old = [m for m in mb if m["vanished"]]
    new = [m for m in mb if not m["vanished"]]
    expect(len(old) == 1 and len(new) == 1, f"{name}: expected B's old (vanished) and new mount: {mb}")
    old, new = old[0], new[0]
    expect(old["dev"] == new["dev"] and old["sb_instance"] != new["sb_instance"] and old["sb_instance"] != 0,
           f"{name}: the two superblocks are not told apart: {old['dev']}/{old['sb_instance']} vs "
           f"{new['dev']}/{new['sb_instance']}")
    expect(old["mount_id"] == int(before[0]) and new["mount_id"] == int(after[0]),
           f"{name}: mount ids {old['mount_id']}, {new['mount_id']} vs mountinfo {before[0]}, {after[0]}")
    expect(old["lookupcache"] == "all" and new["lookupcache"] == "positive",
           f"{name}: options old {old['lookupcache']}, new {new['lookupcache']}")
    rows = {r["sb_instance"]: r for r in nfs["cgroups"] if r["cgroup_id"] == b}
    expect(old["sb_instance"] in rows and new["sb_instance"] in rows,
           f"{name}: B has no row on each superblock: {list(rows)}")
    r_old, r_new = rows[old["sb_instance"]], rows[new["sb_instance"]]
    expect(r_old["negative_stale"] == 5 and r_old["mount_vanished"],
           f"{name}: B's stale lookups on the old mount: {r_old['negative_stale']}")
    expect(r_new["negative_trusted"] == 0 and r_new["negative_stale"] == 0 and count(r_new, "lookup") > 0,
           f"{name}: on the new mount B should look names up and trust no negative dentry: {r_new}")
    hz = [h for h in nfs["negative_lookup_hazards"] if h["victim_cgroup_id"] == b]
    expect(len(hz) == 1, f"{name}: expected one hazard for B: {nfs['negative_lookup_hazards']}")
    h = hz[0]
    expect(h["creator_cgroup_id"] == a and h["stale_lookups"] == 5, f"{name}: hazard {h}")
    vm = h["victim_mount"]
    expect(vm and vm["sb_instance"] == old["sb_instance"] and vm["lookupcache"] == "all" and vm["vanished"],
           f"{name}: the hazard names the wrong mount: {vm}")
    expect("replaced during the interval by one with lookupcache=positive" in h["remedy"] and "Fix:" not in h["remedy"],
           f"{name}: the remedy does not say the fix is in place: {h['remedy']}")
    text = (Path(results) / f"{name}.txt").read_text()
    line = next((l for l in text.splitlines() if "HAZARD stale negative lookups" in l), "")
    expect("lookupcache=all; unmounted during this interval" in line and "Fix: mount with" not in line,
           f"{name}: the live text view says:\n{text}")
    print(f"dev {old['dev']}: superblock {old['sb_instance']} (lookupcache=all, vanished) has B's 5 stale lookups, "
          f"{new['sb_instance']} (lookupcache=positive) {count(r_new, 'lookup')} lookups and none; remedy: {h['remedy']}")


# --- life cycle ----------------------------------------------------------------------------------

def check_nfs_lifecycle(f, results):
    _, b, _ = ids(f)
    expect(fact(f, "lifecycle_cgscope_exit") == "0", "cgscope failed while mounts and module came and went")
    expect(fact(f, "lifecycle_rmmod") == "0" and f.get("lifecycle_nfs_module_after_rmmod") == "unloaded",
           "the nfs module could not be unloaded while cgscope ran (it must let go without mounts)")
    expect(fact(f, "lifecycle_reattached") == "yes",
           "cgscope's NFS programs were not all attached again within 180 s of the remount")
    snaps = snapshots(results, "lifecycle")
    states = [s["nfs"]["active"] for s in snaps]
    expect(False in states, f"the collector never detached when the mounts were gone: {states}")
    last_off = max(i for i, s in enumerate(states) if not s)
    after = [s for s in snaps[last_off + 1:] if s["nfs"]["active"]]
    expect(after, f"the collector did not attach again after the module came back: {states}")
    lookups = sum(count(r, "lookup") + count(r, "getattr") for s in after for r in s["nfs"]["cgroups"]
                  if r["cgroup_id"] == b)
    expect(lookups > 0, "no NFS activity of B counted after the module was loaded again")
    print(f"active per interval: {states}; B's lookups after re-attach: {lookups}")


# --- every collector on this kernel (issue 25) ----------------------------------------------------

# What each series of tests/vm/kernels.txt lacks and how cgscope makes up for it, as
# docs/collectors.md lists it: text each collector's status must contain there. A "without X"
# in a status fails the check unless listed in WITHOUT for that series.
KERNEL_NOTES = {
    "6.1": {"io": ["submission seen at block_rq_insert (this kernel has no tracepoint block_io_start)"],
            "memory": ["page cache through fentry on filemap_read/filemap_fault "
                       "(this kernel has no tracepoint mm_filemap_get_pages)"]},
    "6.12": {"memory": ["page cache through fentry on filemap_read/filemap_fault "
                        "(this kernel has no tracepoint page_cache_sync_ra to tell reads from writes)"],
             "nfs": ["without sillyrename (this kernel has no tracepoint nfs_sillyrename_rename)"]},
}
WITHOUT = {"6.1": [], "6.12": ["sillyrename"]}
# Programs that must have run on each series (kernel.bpf_stats_enabled run counts).
FIRED = {
    "6.1": ["io_insert", "io_issue", "io_complete", "cache_add_task", "cache_read_enter", "cache_read_exit",
            "memcg_reclaim_begin", "memcg_reclaim_end"],
    "6.12": ["io_start", "io_issue", "io_complete", "cache_add_task", "cache_read_enter", "cache_read_exit",
             "memcg_reclaim_begin", "memcg_reclaim_end"],
}


def series_of(release):
    m = re.match(r"(\d+\.\d+)", release)
    expect(m, f"unexpected kernel release {release}")
    return m.group(1)


def check_collectors_active(f, results):
    release = fact(f, "kernel")
    series = series_of(release)
    expect(series in KERNEL_NOTES, f"kernel {release}: series {series} is not in KERNEL_NOTES (tests/vm/kernels.txt "
           "and this table must agree)")
    expect(fact(f, "collectors_cgscope_exit") == "0", f"cgscope --bpf required failed on {release}: "
           + ((Path(results) / "collectors.err").read_text()[-2000:] if (Path(results) / "collectors.err").exists() else ""))
    snap = snapshots(results, "collectors")[-1]
    status = {c["name"]: c for c in snap["collectors"]}
    for c in status.values():
        print(f"{release}: {c['name']}: active={c['active']}: {c['message']}")
    verbose = (Path(results) / "collectors.verbose.err")
    for name in ("cgroupfs", "cpu", "io", "memory", "nfs"):
        expect(name in status and status[name]["active"], f"{release}: collector {name} is not active: "
               f"{status.get(name)}")
        msg = status[name]["message"]
        expect("loading failed" not in msg, f"{release}: {name}: a program group failed to load: {msg}"
               + (f"\nlibbpf: {verbose.read_text()[-3000:]}" if verbose.exists() else ""))
        for w in re.findall(r"without (\w+)", msg):
            expect(w in WITHOUT[series], f"{release}: {name} runs without {w}, which docs/collectors.md does not "
                   f"list for {series}: {msg}")
        for note in KERNEL_NOTES[series].get(name, []):
            expect(note in msg, f"{release}: {name}: expected '{note}' in its status: {msg}")
    # What fired: the fallbacks are attached and see the work, not just loaded.
    progs = json.loads((Path(results) / "collectors.progs.json").read_text() or "[]")
    runs = defaultdict(int)
    for p in progs:
        runs[p.get("name", "")] += p.get("run_cnt", 0)
    for name in FIRED[series]:
        # bpftool shows the BTF name, or the kernel's (at most 15 characters) without BTF
        expect(max(runs.get(name, 0), runs.get(name[:15], 0)) > 0, f"{release}: program {name} never ran: {dict(runs)}")

    by_id = {c["id"]: c for c in snap["cgroups"]}
    blk = by_id.get(int(fact(f, "collectors_id_blk")))
    cache = by_id.get(int(fact(f, "collectors_id_cache")))
    mem = by_id.get(int(fact(f, "collectors_id_mem")))
    expect(blk and cache and mem, f"{release}: the workload cgroups are not in the snapshot")
    # Block I/O on the scratch disk: 4 MiB written and read directly, charged to the task.
    dev = fact(f, "collectors_disk")
    rows = [r for r in blk["io"]["bpf"]["block"] if r["dev"] == dev and r["owner"] == "task"]
    wrote = sum(r["bytes"] for r in rows if r["op"] == "write")
    read = sum(r["bytes"] for r in rows if r["op"] == "read")
    queued = sum(r["queued"] for r in rows)
    print(f"{release}: col/blk on {dev} ({fact(f, 'collectors_scheduler')}): wrote {wrote} B, read {read} B, "
          f"{queued} requests with queue time")
    expect(wrote >= 4 << 20 and read >= 4 << 20, f"{release}: col/blk's direct I/O is not charged to it: {rows}")
    expect(queued > 0, f"{release}: no queue time measured for col/blk: {rows}")
    expect(blk["bpf"]["on_cpu_ns"] > 0, f"{release}: no on-CPU time for col/blk: {blk['bpf']}")
    # The page cache: a cold read of the file then a warm one.
    pages = int(fact(f, "collectors_cache_pages"))
    m = cache["memory"]["bpf"]
    print(f"{release}: col/cache read {pages} pages twice: accessed {m['cache_accessed_pages']}, "
          f"misses {m['cache_miss_pages']}, write adds {m['cache_write_added_pages']}, hit ratio {m['cache_hit_ratio']}")
    expect(abs(m["cache_accessed_pages"] - 2 * pages) <= 0.1 * pages,
           f"{release}: col/cache accessed {m['cache_accessed_pages']} pages, expected ~{2 * pages}")
    expect(abs(m["cache_miss_pages"] - pages) <= 0.1 * pages,
           f"{release}: col/cache missed {m['cache_miss_pages']} pages, expected ~{pages} (the cold read)")
    expect(m["cache_write_added_pages"] <= 0.05 * pages,
           f"{release}: reads counted as write adds: {m['cache_write_added_pages']}")
    # Reclaim under an 8 MiB limit.
    mm = mem["memory"]["bpf"]
    expect(mm["memcg_reclaim_count"] > 0, f"{release}: no memcg reclaim in col/mem (8 MiB limit, 32 MiB read): {mm}")
    print(f"{release}: col/mem: {mm['memcg_reclaim_count']} memcg reclaims, {mm['memcg_reclaim_ns']} ns")


def check_profile_unwind(f, results):
    """The profiler loads on this kernel and unwinds code without frame pointers from CFI."""
    release = fact(f, "profile_kernel")
    err = Path(results) / "profile.err"
    expect(fact(f, "profile_exit") == "0", f"cgscope profile failed on {release}: "
           + (err.read_text()[-2000:] if err.exists() else ""))
    total = chained = 0
    for line in (Path(results) / "profile.folded").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        if "main;chain_outer;chain_middle;chain_leaf;spin_c" in stack:
            chained += int(count)
    print(f"{release}: {chained} of {total} samples unwound through the whole chain; " + err.read_text().splitlines()[3])
    expect(total >= 100, f"{release}: only {total} samples in 4 s at 99 Hz")
    expect(chained * 10 >= total * 9, f"{release}: {chained} of {total} samples hold main -> ... -> spin_c")


def advice_finding(results, name, fname):
    path = Path(results) / fname
    err = Path(results) / fname.replace(".json", ".err")
    expect(path.is_file() and path.stat().st_size > 0,
           f"{name}: {fname} missing or empty; stderr: {err.read_text()[-2000:] if err.exists() else ''}")
    analysis = json.loads(path.read_text())
    expect(analysis["schema_version"] == 1, f"{fname}: schema_version {analysis['schema_version']}")
    found = [x for x in analysis["findings"] if x["rule"] == "nfs-stale-negative-lookup"]
    expect(len(found) == 1, f"{fname}: {len(found)} nfs-stale-negative-lookup findings: "
           f"{[x['title'] for x in analysis['findings']]}")
    return found[0]


def check_nfs_advise_lookupcache(f, results):
    # The registry story (neg_v3): `cgscope advise` beside it, and `advise --replay` of its
    # recording, both say: B was told names do not exist that A created, on B's mount; mount it
    # with lookupcache=positive; and say what that costs with the measured counts.
    a, b, _ = ids(f)
    expect(fact(f, "neg_v3_advise_exit") == "0", "cgscope advise (live) failed")
    expect(fact(f, "neg_v3_advise_replay_exit") == "0", "cgscope advise --replay failed")
    stale = None
    for fname in ("neg_v3.advise.json", "neg_v3.advise_replay.json"):
        x = advice_finding(results, "neg_v3", fname)
        expect(x["cgroup_id"] == b, f"{fname}: victim {x['cgroup_id']}, expected B {b}")
        expect(a in x["related_cgroup_ids"], f"{fname}: creator A {a} not named: {x['related_cgroup_ids']}")
        expect(x["cgroup"]["path"].endswith("nfs/b"), f"{fname}: victim path {x['cgroup']['path']}")
        expect(" had created" in x["title"], f"{fname}: the title does not name the creator: {x['title']}")
        expect(x["severity"] == "critical", f"{fname}: severity {x['severity']}")
        ev = x["evidence"]
        expect(ev["stale_lookups"]["value"] >= 1 and ev["names"]["value"] >= 1 and ev["directories"]["value"] == 1,
               f"{fname}: evidence {ev}")
        rec = [r for r in x["recommendations"] if r["knob"] == "lookupcache"]
        expect(rec, f"{fname}: no lookupcache recommendation: {[r['knob'] for r in x['recommendations']]}")
        r = rec[0]
        expect(r["target"] == "/mnt/nfs/v3b" and r["current"] == "all" and r["suggested"] == "positive",
               f"{fname}: recommendation {r['target']} {r['current']} -> {r['suggested']}")
        expect("actimeo=0" in r["derivation"] and "revalidations" in r["derivation"],
               f"{fname}: the cost comparison is missing: {r['derivation']}")
        cmds = {c["manager"]: c["command"] for c in r["commands"]}
        expect("lookupcache=positive" in cmds.get("host", "") and "/mnt/nfs/v3b" in cmds.get("host", ""),
               f"{fname}: host command {cmds}")
        expect("mountOptions" in cmds.get("kubernetes", ""), f"{fname}: no PersistentVolume mountOptions: {cmds}")
        if stale is None:
            stale = ev["stale_lookups"]["value"]
        else:
            expect(ev["stale_lookups"]["value"] == stale,
                   f"replay says {ev['stale_lookups']['value']} stale lookups, live {stale}")
        print(f"{fname}: {x['title']}")


CHECKS = {
    "nfs_advise_lookupcache": check_nfs_advise_lookupcache,
    "profile_unwind": check_profile_unwind,
    "collectors_active": check_collectors_active,
    "nfs_negative_v3": check_nfs_negative_v3,
    "nfs_negative_v4": check_nfs_negative_v4,
    "nfs_negative_kprobe_fallback": check_nfs_negative_kprobe_fallback,
    "nfs_negative_fexit": check_nfs_negative_fexit,
    "nfs_negative_lookupcache_positive": check_nfs_negative_lookupcache_positive,
    "nfs_shared_writer_v3": check_nfs_shared_writer_v3,
    "nfs_shared_writer_v4": check_nfs_shared_writer_v4,
    "nfs_actimeo0_revalidates_more": check_nfs_actimeo0_revalidates_more,
    "nfs_accuracy": check_nfs_accuracy,
    "nfs_lifecycle": check_nfs_lifecycle,
    "nfs_replay_json": check_nfs_replay_json,
    "nfs_replay_text": check_nfs_replay_text,
    "nfs_remount": check_nfs_remount,
}
