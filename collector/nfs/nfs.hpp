// eBPF NFS collector: per cgroup and NFS mount, the operations a task waits for (attribute
// revalidation, getattr, access, lookups, open, cache invalidation, fsync, flush on close,
// commit, read/write RPCs), RPC round trips per procedure, files written by one cgroup and
// read by another, and cached negative lookups of names another cgroup created.
//
// It exists even when the kernel has no NFS client yet: it attaches when the nfs module is
// loaded (checked at each collect), and says so in its status until then.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/bpf_util.hpp"
#include "collector/collector.hpp"
#include "model/nfs_mount.hpp"
#include "model/result.hpp"

struct nfs_bpf;  // generated skeleton

namespace cgscope::collector {

// How cached negative dentries are seen: the nfs_lookup_revalidate_exit tracepoint where the
// kernel fires it for every revalidation (6.1 on: auto picks it there), else fexit or kprobe on
// the revalidation functions.
enum class NfsNegativeProbe { kAuto, kTracepoint, kFexit, kKprobe, kOff };

struct NfsCollectorOptions {
  bool key_by_v1_cpu = false;
  std::uint32_t max_cgroup_mounts = 1024;  // (cgroup, mount) rows, ~5 KB each
  std::uint32_t max_files = 4096;          // files tracked for sharing between cgroups (~200 B each)
  NfsNegativeProbe negative = NfsNegativeProbe::kAuto;
  // Time every permission check (nfs_access_*): ~10 events per stat+open+close, most of them
  // cache hits; off by default (see docs/performance.md). ACCESS RPCs are in the RPC stats.
  bool access_timing = false;
  std::string proc_root = "/proc";
  std::string sys_root = "/sys";
};

class NfsCollector final : public Collector {
 public:
  // Never fails for a kernel without NFS: the collector waits for the module.
  static Result<std::unique_ptr<NfsCollector>> create(const NfsCollectorOptions& options);
  ~NfsCollector() override;
  NfsCollector(const NfsCollector&) = delete;
  NfsCollector& operator=(const NfsCollector&) = delete;

  std::string_view name() const override { return "nfs"; }
  void collect(model::Sample& sample, CgroupIndex& index) override;
  void forget(const std::vector<std::uint64_t>& cgroup_ids) override;
  model::CollectorStatus status() const override;

  bool attached() const { return skel_ != nullptr; }
  std::vector<ProgramStats> program_stats() const;

 private:
  explicit NfsCollector(NfsCollectorOptions options);
  void try_attach();
  void detach();
  void read_maps(model::NfsSample& out);
  void read_mounts(model::NfsSample& out);
  std::uint32_t sb_instance_of(std::uint32_t dev) const;

  NfsCollectorOptions options_;
  nfs_bpf* skel_ = nullptr;
  std::vector<GroupOutcome> groups_;
  std::string negative_probe_;  // "tracepoint", "fexit", "kprobe" or why none
  bool negative_lookups_visible() const {
    return negative_probe_ == "tracepoint" || negative_probe_ == "fexit" || negative_probe_ == "kprobe";
  }
  std::string message_;         // why not attached
  std::uint64_t last_attempt_ns_ = 0;
  std::map<std::string, std::uint64_t> read_errors_;  // mountinfo/mountstats parse failures
  std::vector<std::uint8_t> buf_;                     // per-CPU values
  std::vector<model::NfsMount> previous_mounts_;      // mounted at the previous collect
  std::uint64_t file_cgroups_overflow_ = 0;           // sum of the files' overflow counters
};

}  // namespace cgscope::collector
