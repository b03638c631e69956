// eBPF I/O collector: block requests, bytes and latency per (cgroup, disk, op), charged to the
// submitting cgroup (writeback to the dirtier), and dirty-page throttling per cgroup.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/bpf_util.hpp"
#include "collector/collector.hpp"
#include "model/result.hpp"

struct io_bpf;  // generated skeleton

namespace cgscope::collector {

struct IoCollectorOptions {
  bool key_by_v1_cpu = false;           // pure v1 hosts: key by the v1 cpu cgroup, not v2
  std::uint32_t max_stats = 8192;       // (cgroup, disk, op, owner) rows; 0.7 KB per CPU each
  std::uint32_t max_inodes = 65536;     // inode -> dirtier entries (LRU)
  std::uint32_t max_cgroups = 4096;     // cgroups with dirty throttling
};

class IoCollector final : public Collector {
 public:
  static Result<std::unique_ptr<IoCollector>> create(const IoCollectorOptions& options);
  ~IoCollector() override;
  IoCollector(const IoCollector&) = delete;
  IoCollector& operator=(const IoCollector&) = delete;

  std::string_view name() const override { return "io"; }
  void collect(model::Sample& sample, CgroupIndex& index) override;
  void forget(const std::vector<std::uint64_t>& cgroup_ids) override;
  model::CollectorStatus status() const override;

  std::vector<ProgramStats> program_stats() const;
  const std::vector<GroupOutcome>& groups() const { return groups_; }

 private:
  IoCollector(io_bpf* skel, std::vector<GroupOutcome> groups);

  io_bpf* skel_;
  std::vector<GroupOutcome> groups_;
  bool submit_from_insert_ = false;  // block_submit through block_rq_insert (before 6.5)
  std::vector<std::uint8_t> buf_;          // per-CPU read buffer, reused
  bool hz_known_ = false;                  // jiffies of dirty-throttle pauses convert exactly
  std::vector<std::uint32_t> quarantine_;  // slots of forgotten rows, freed at the next collect
};

}  // namespace cgscope::collector
