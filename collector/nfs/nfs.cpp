#include "collector/nfs/nfs.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <algorithm>
#include <tuple>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "collector/nfs/mounts.hpp"
#include "collector/nfs/nfs.h"
#include "nfs.skel.h"

namespace cgscope::collector {
namespace {

const std::vector<ProgramGroup> kBaseGroups = {
    {"nfs",
     {"nfs_revalidate_inode_enter", "nfs_revalidate_inode_exit", "nfs_getattr_enter", "nfs_getattr_exit",
      "nfs_invalidate_mapping_enter", "nfs_invalidate_mapping_exit", "nfs_fsync_enter", "nfs_fsync_exit",
      "nfs_writeback_inode_enter", "nfs_writeback_inode_exit", "nfs_setattr_enter", "nfs_setattr_exit",
      "nfs_lookup_enter", "nfs_lookup_exit", "nfs_lookup_revalidate_enter",
      "nfs_lookup_revalidate_exit", "nfs_create_enter", "nfs_create_exit", "nfs_mkdir_enter", "nfs_mkdir_exit",
      "nfs_unlink_enter", "nfs_unlink_exit", "nfs_rmdir_enter", "nfs_rmdir_exit", "nfs_rename_enter",
      "nfs_rename_exit"},
     {}},
    // Files renamed to .nfsXXXX because they were open when removed. Not in 6.12's nfs module.
    {"sillyrename", {"nfs_sillyrename_rename"}, {"nfs:nfs_sillyrename_rename"}},
    {"nfs_rpc_io",
     {"nfs_initiate_read", "nfs_readpage_done", "nfs_initiate_write", "nfs_writeback_done", "nfs_initiate_commit",
      "nfs_commit_done"},
     {}},
    {"nfs_open", {"nfs_atomic_open_enter", "nfs_atomic_open_exit"}, {}},
    // Permission checks: about half of all NFS events of a metadata-heavy workload, nearly all
    // answered from the access cache; opt-in (ACCESS RPCs are in the RPC stats either way).
    {"nfs_access", {"nfs_access_enter", "nfs_access_exit"}, {}},
    {"dirty_pages", {"nfs_dirty_folio"}, {}},
    {"sunrpc", {"rpc_task_begin", "rpc_stats_latency", "xprt_retransmit", "rpc_timeout_status"}, {}},
};
const ProgramGroup kNegativeFexit = {"negative_dentries", {"neg_fexit_v3", "neg_fexit_v4"}, {}};
const ProgramGroup kNegativeKprobe = {
    "negative_dentries", {"neg_kprobe_v3", "neg_kretprobe_v3", "neg_kprobe_v4", "neg_kretprobe_v4"}, {}};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0;
}

template <typename Key, typename Value, typename F>
void for_each_entry(int fd, F&& f) {
  Key key{}, next{};
  const Key* prev = nullptr;
  Value value{};
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) f(key, value);
  }
}

template <typename Key, typename F>
void for_each_key(int fd, F&& f) {
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    f(key);
  }
}

model::Log2Histogram hist_of(const __u64* slots, std::size_t n) {
  model::Log2Histogram h;
  for (std::size_t i = 0; i < n; ++i)
    if (slots[i]) h.add_to_bucket(i, slots[i]);
  return h;
}

}  // namespace

Result<std::unique_ptr<NfsCollector>> NfsCollector::create(const NfsCollectorOptions& options) {
  // Attaches at the first collect that sees an NFS mount.
  return std::unique_ptr<NfsCollector>(new NfsCollector(options));
}

NfsCollector::NfsCollector(NfsCollectorOptions options) : options_(std::move(options)) {}

NfsCollector::~NfsCollector() { detach(); }

void NfsCollector::detach() {
  if (skel_) nfs_bpf__destroy(skel_);
  skel_ = nullptr;
}

void NfsCollector::try_attach() {
  last_attempt_ns_ = monotonic_ns();
  if (!exists(options_.sys_root + "/module/nfs")) {
    message_ = "no NFS client in this kernel yet (module nfs not loaded); attaches when it is";
    return;
  }
  const auto mode = options_.negative;
  const bool neg_from_tp = mode == NfsNegativeProbe::kTracepoint ||
                           (mode == NfsNegativeProbe::kAuto && nfs_revalidate_exit_covers_cache_hits(kernel_release()));
  auto attempt = [&](const std::vector<ProgramGroup>& groups, std::vector<GroupOutcome>& outcomes) -> Result<nfs_bpf*> {
    SkeletonOps<nfs_bpf> ops;
    ops.open = [&]() -> nfs_bpf* {
      nfs_bpf* s = nfs_bpf__open();
      if (!s) return nullptr;
      s->rodata->key_v1_cpu = options_.key_by_v1_cpu;
      s->rodata->neg_from_tp = neg_from_tp;
      bpf_map__set_max_entries(s->maps.stats, std::max<std::uint32_t>(options_.max_cgroup_mounts, 1));
      bpf_map__set_max_entries(s->maps.files, std::max<std::uint32_t>(options_.max_files, 1));
      return s;
    };
    ops.load = [](nfs_bpf* s) { return nfs_bpf__load(s); };
    ops.destroy = [](nfs_bpf* s) { nfs_bpf__destroy(s); };
    ops.object = [](nfs_bpf* s) { return s->obj; };
    auto skel = load_with_groups(ops, groups, outcomes);
    if (!skel) return Error{skel.error()};
    // Without the NFS client's own tracepoints nothing else is worth attaching.
    for (const auto& g : outcomes) {
      if (g.name == "nfs" && !g.loaded) {
        nfs_bpf__destroy(*skel);
        return Error{"the nfs tracepoints: " + g.why};
      }
    }
    if (int err = nfs_bpf__attach(*skel); err != 0) {
      nfs_bpf__destroy(*skel);
      return Error{"attaching: " + bpf_error_message(err)};
    }
    return *skel;
  };
  auto negative_loaded = [](const std::vector<GroupOutcome>& outcomes) {
    for (const auto& g : outcomes)
      if (g.name == "negative_dentries") return g.loaded;
    return false;
  };
  std::vector<ProgramGroup> groups = kBaseGroups;
  if (!options_.access_timing)
    std::erase_if(groups, [](const ProgramGroup& g) { return g.name == "nfs_access"; });
  std::vector<GroupOutcome> outcomes;
  Result<nfs_bpf*> skel = Error{"not tried"};
  std::string negative_why;
  if (neg_from_tp) {
    skel = attempt(groups, outcomes);
    if (skel) negative_probe_ = "tracepoint";
  } else if (mode == NfsNegativeProbe::kAuto || mode == NfsNegativeProbe::kFexit) {
    groups.push_back(kNegativeFexit);
    skel = attempt(groups, outcomes);
    if (skel && negative_loaded(outcomes)) negative_probe_ = "fexit";
    for (const auto& g : outcomes)
      if (g.name == "negative_dentries" && !g.loaded) negative_why = "fexit: " + g.why;
    groups.pop_back();
  }
  if ((mode == NfsNegativeProbe::kAuto && !neg_from_tp && negative_probe_.empty()) ||
      mode == NfsNegativeProbe::kKprobe) {
    if (skel) nfs_bpf__destroy(*skel);
    groups.push_back(kNegativeKprobe);
    outcomes.clear();
    skel = attempt(groups, outcomes);
    if (skel && negative_loaded(outcomes)) negative_probe_ = "kprobe";
    for (const auto& g : outcomes)
      if (g.name == "negative_dentries" && !g.loaded)
        negative_why += (negative_why.empty() ? "" : "; ") + std::string("kprobe: ") + g.why;
    groups.pop_back();
  }
  if (mode == NfsNegativeProbe::kOff) {
    skel = attempt(groups, outcomes);
    negative_why = "turned off";
  }
  if (!skel) {
    message_ = "NFS programs did not load: " + skel.error();
    // A rejection by the verifier or a layout mismatch alone says what happened; missing
    // attach points mean missing module BTF.
    const std::string& e = skel.error();
    const auto has = [&](const char* what) { return e.find(what) != std::string::npos; };
    if (has("has no tracepoint") || !(has("verifier") || has("does not fit")))
      message_ += " (needs the nfs and sunrpc modules' BTF, /sys/kernel/btf/nfs)";
    return;
  }
  if (negative_probe_.empty())
    negative_probe_ = "none (" + negative_why +
                      "): trusted negative lookups are invisible on this kernel, other NFS numbers are complete";
  skel_ = *skel;
  groups_ = std::move(outcomes);
  message_.clear();
}

// The superblock instance of a mounted dev (see model::NfsMount): the inode number of its
// /sys/class/bdi/MAJ:MIN, as the eBPF side reads it from the kernfs node. 0 when it cannot be
// read (unmounted since mountinfo was read, or no sysfs).
std::uint32_t NfsCollector::sb_instance_of(std::uint32_t dev) const {
  struct stat st{};
  const std::string path = options_.sys_root + "/class/bdi/" + model::dev_name(dev);
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint32_t>(st.st_ino);
}

void NfsCollector::read_mounts(model::NfsSample& out) {
  auto mounts = parse_nfs_mountinfo(read_file(options_.proc_root + "/self/mountinfo"));
  if (!mounts) {
    ++read_errors_["mountinfo_unparsable"];
    return;  // the previous sample's mounts stay the reference
  }
  for (auto& m : *mounts) m.sb_instance = sb_instance_of(m.dev);
  // Mounts of the previous sample that are gone: kept (vanished) for the interval that ends
  // now, whose events may have happened on them.
  auto same = [](const model::NfsMount& a, const model::NfsMount& b) {
    if (a.dev != b.dev) return false;
    if (a.sb_instance != 0 && b.sb_instance != 0) return a.sb_instance == b.sb_instance;
    return a.mount_id == b.mount_id && a.source == b.source;
  };
  out.mounts = *mounts;
  for (const auto& p : previous_mounts_) {
    const bool still = std::any_of(mounts->begin(), mounts->end(), [&](const auto& m) { return same(m, p); });
    if (still) continue;
    model::NfsMount gone = p;
    gone.vanished = true;
    out.mounts.push_back(std::move(gone));
  }
  previous_mounts_ = std::move(*mounts);
}

void NfsCollector::collect(model::Sample& sample, CgroupIndex& /*index*/) {
  model::NfsSample& out = sample.nfs;
  read_mounts(out);
  const bool mounted = std::any_of(out.mounts.begin(), out.mounts.end(), [](const auto& m) { return !m.vanished; });
  if (auto stats = parse_nfs_mountstats(read_file(options_.proc_root + "/self/mountstats")); stats)
    out.mountstats = std::move(*stats);
  else
    ++read_errors_["mountstats_unparsable"];

  // Hold the module only while there is something to watch: with no NFS mount left the
  // programs detach, so that the module can be unloaded; they attach again with the next mount.
  if (skel_ && !mounted) {
    out.active = true;  // the last values, counted up to the unmount
    out.negative_lookups_visible = negative_lookups_visible();
    read_maps(out);
    detach();
    return;
  }
  if (!skel_ && mounted &&
      (last_attempt_ns_ == 0 || monotonic_ns() - last_attempt_ns_ > 1'000'000'000ull))
    try_attach();
  if (!skel_) return;
  out.active = true;
  out.negative_lookups_visible = negative_lookups_visible();
  read_maps(out);
}

void NfsCollector::read_maps(model::NfsSample& out) {
  const int cpus = libbpf_num_possible_cpus();
  // Per-CPU rows: summed over the CPUs.
  for_each_key<nfs_cg_key>(bpf_map__fd(skel_->maps.stats), [&](const nfs_cg_key& k) {
    if (!lookup_percpu(bpf_map__fd(skel_->maps.stats), &k, sizeof(nfs_cg_stats), buf_)) return;
    model::NfsCgroupMountCounters c;
    c.cgroup_id = k.cgroup_id;
    c.dev = k.sb.dev;
    c.sb_instance = k.sb.instance;
    for (int cpu = 0; cpu < cpus; ++cpu) {
      nfs_cg_stats v;
      std::memcpy(&v, buf_.data() + cpu * sizeof(nfs_cg_stats), sizeof v);
      for (std::size_t i = 0; i < model::kNfsOps && i < NFS_OP_NR; ++i) {
        auto& o = c.ops[i];
        o.count += v.ops[i].count;
        o.time_ns += v.ops[i].time_ns;
        for (std::size_t e = 0; e < model::kNfsErrors; ++e) o.errors[e] += v.ops[i].errors[e];
        o.time_ns_hist.merge(hist_of(v.ops[i].hist, NFS_HIST_SLOTS));
      }
      c.read_bytes += v.read_bytes;
      c.write_bytes += v.write_bytes;
      c.dirtied_pages += v.dirtied_pages;
      c.invalidated_pages += v.invalidated_pages;
      c.lookup_negative += v.lookup_negative;
      c.negative_trusted += v.negative_trusted;
      c.negative_rejected += v.negative_rejected;
      c.negative_stale += v.negative_stale;
      c.silly_renames += v.silly_renames;
    }
    out.cgroups.push_back(std::move(c));
  });
  std::sort(out.cgroups.begin(), out.cgroups.end(), [](const auto& a, const auto& b) {
    return std::tie(a.cgroup_id, a.dev, a.sb_instance) < std::tie(b.cgroup_id, b.dev, b.sb_instance);
  });

  std::map<std::uint64_t, nfs_rpc_proc> procs;
  for_each_entry<std::uint64_t, nfs_rpc_proc>(bpf_map__fd(skel_->maps.rpc_procs),
                                              [&](std::uint64_t k, const nfs_rpc_proc& v) { procs[k] = v; });
  for_each_key<nfs_rpc_key>(bpf_map__fd(skel_->maps.rpc_stats), [&](const nfs_rpc_key& k) {
    if (!lookup_percpu(bpf_map__fd(skel_->maps.rpc_stats), &k, sizeof(nfs_rpc_stats), buf_)) return;
    model::NfsRpcCounters r;
    r.cgroup_id = k.cgroup_id;
    if (auto it = procs.find(k.proc); it != procs.end()) {
      r.prog = it->second.prog;
      r.vers = it->second.vers;
      r.procedure.assign(it->second.name, strnlen(it->second.name, sizeof it->second.name));
    } else {
      r.procedure = "?";
    }
    for (int cpu = 0; cpu < cpus; ++cpu) {
      nfs_rpc_stats v;
      std::memcpy(&v, buf_.data() + cpu * sizeof(nfs_rpc_stats), sizeof v);
      r.count += v.count;
      r.rtt_us += v.rtt_us;
      r.execute_us += v.execute_us;
      r.retransmits += v.retransmits;
      r.timeouts += v.timeouts;
      r.rtt_us_hist.merge(hist_of(v.rtt_hist, NFS_RPC_HIST_SLOTS));
      r.execute_us_hist.merge(hist_of(v.execute_hist, NFS_RPC_HIST_SLOTS));
    }
    out.rpc.push_back(std::move(r));
  });
  // Hash maps iterate in no particular order: sorted, so that consecutive samples line up
  // (recordings store each row relative to the same row before).
  std::sort(out.rpc.begin(), out.rpc.end(), [](const auto& a, const auto& b) {
    return std::tie(a.cgroup_id, a.prog, a.vers, a.procedure) < std::tie(b.cgroup_id, b.prog, b.vers, b.procedure);
  });

  std::uint64_t overflow = 0;
  for_each_entry<nfs_file_key, nfs_file>(bpf_map__fd(skel_->maps.files), [&](const nfs_file_key& k,
                                                                            const nfs_file& v) {
    overflow += v.overflow;
    model::NfsFileCounters f;
    f.export_id = k.export_id;
    f.fileid = k.fileid;
    f.overflow = v.overflow;
    for (const auto& c : v.cg) {
      if (c.cgroup_id == 0) continue;
      f.cgroups.push_back({c.cgroup_id, c.sb.dev, c.sb.instance, c.written_bytes, c.dirtied_pages, c.reads,
                           c.revalidations, c.invalidations});
    }
    out.files.push_back(std::move(f));
  });
  file_cgroups_overflow_ = overflow;
  std::sort(out.files.begin(), out.files.end(),
            [](const auto& a, const auto& b) { return std::tie(a.export_id, a.fileid) < std::tie(b.export_id, b.fileid); });

  for_each_entry<nfs_stale_key, nfs_stale>(bpf_map__fd(skel_->maps.stale_names), [&](const nfs_stale_key& k,
                                                                                     const nfs_stale& v) {
    model::NfsStaleName s;
    s.export_id = k.name.export_id;
    s.dir_fileid = k.name.dir_fileid;
    s.name_hash = k.name.name_hash;
    s.victim_cgroup_id = k.victim_cgroup_id;
    s.creator_cgroup_id = v.creator_cgroup_id;
    s.victim_dev = k.victim_sb.dev;
    s.victim_sb_instance = k.victim_sb.instance;
    s.count = v.count;
    out.stale_names.push_back(s);
  });
  std::sort(out.stale_names.begin(), out.stale_names.end(), [](const auto& a, const auto& b) {
    return std::tie(a.export_id, a.dir_fileid, a.name_hash, a.victim_cgroup_id, a.victim_dev, a.victim_sb_instance) <
           std::tie(b.export_id, b.dir_fileid, b.name_hash, b.victim_cgroup_id, b.victim_dev, b.victim_sb_instance);
  });
}

void NfsCollector::forget(const std::vector<std::uint64_t>& cgroup_ids) {
  if (!skel_ || cgroup_ids.empty()) return;
  // (cgroup, mount) rows of removed cgroups free their space; files and names stay (another
  // cgroup's hazard may still involve them).
  const int fd = bpf_map__fd(skel_->maps.stats);
  std::vector<nfs_cg_key> gone;
  for_each_key<nfs_cg_key>(fd, [&](const nfs_cg_key& k) {
    if (std::find(cgroup_ids.begin(), cgroup_ids.end(), k.cgroup_id) != cgroup_ids.end()) gone.push_back(k);
  });
  for (const auto& k : gone) bpf_map_delete_elem(fd, &k);
}

model::CollectorStatus NfsCollector::status() const {
  model::CollectorStatus st;
  st.name = "nfs";
  st.active = skel_ != nullptr;
  if (!skel_) {
    st.message = message_.empty() ? "no NFS mount to watch (attaches with the first one)" : message_;
  } else {
    st.message = "eBPF tp_btf on nfs/sunrpc; cached negative lookups: " + negative_probe_;
    for (const auto& g : groups_)
      if (!g.loaded && g.name != "negative_dentries") st.message += "; without " + g.name + " (" + g.why + ")";
    if (!options_.access_timing) st.message += "; permission checks not timed (--nfs-access)";
  }
  for (const auto& [k, v] : read_errors_) st.drops[k] = v;
  if (!skel_) return st;
  // Events on a file by a fifth cgroup (a file remembers NFS_FILE_CGROUPS): not attributed.
  st.drops["file_cgroups_full"] = file_cgroups_overflow_;
  static_assert(NFS_DROP_NR == 6, "name every drop reason");
  add_drop_counters(st.drops, bpf_map__fd(skel_->maps.drops),
                    {"stats_map_full", "start_map_full", "inflight_map_full", "file_map_full", "name_map_full",
                     "rpc_map_full"},
                    program_stats());
  return st;
}

std::vector<ProgramStats> NfsCollector::program_stats() const {
  if (!skel_) return {};
  return program_stats_of(skel_->obj);
}

}  // namespace cgscope::collector
