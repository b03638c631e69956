// eBPF memory collector: reclaim stalls (global direct and memcg limit reclaim), page-cache
// accesses and misses, and OOM kills per cgroup.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/bpf_util.hpp"
#include "collector/collector.hpp"
#include "model/result.hpp"

struct memory_bpf;  // generated skeleton

namespace cgscope::collector {

// Where page-cache accesses are counted: the filemap tracepoints (6.10+), or fentry/fexit on
// filemap_read()/filemap_fault() on kernels without them (where fentry attaches).
enum class PageCacheProbe { kAuto, kTracepoint, kFentry };
std::string_view to_string(PageCacheProbe probe);
Result<PageCacheProbe> parse_page_cache_probe(std::string_view text);

struct MemoryCollectorOptions {
  bool key_by_v1_cpu = false;
  std::uint32_t max_cgroups = 4096;  // 0.5 KB per CPU each
  // Page-cache accesses and misses: a program on every read(2) batch and file page fault
  // (~60 ns each here; see docs/performance.md). Off: those groups are not loaded.
  bool page_cache = true;
  PageCacheProbe page_cache_probe = PageCacheProbe::kAuto;
};

class MemoryCollector final : public Collector {
 public:
  static Result<std::unique_ptr<MemoryCollector>> create(const MemoryCollectorOptions& options);
  ~MemoryCollector() override;
  MemoryCollector(const MemoryCollector&) = delete;
  MemoryCollector& operator=(const MemoryCollector&) = delete;

  std::string_view name() const override { return "memory"; }
  void collect(model::Sample& sample, CgroupIndex& index) override;
  void forget(const std::vector<std::uint64_t>& cgroup_ids) override;
  model::CollectorStatus status() const override;

  std::vector<ProgramStats> program_stats() const;
  const std::vector<GroupOutcome>& groups() const { return groups_; }
  // How page-cache accesses are counted: "tracepoints", "fentry" or "" (not measured).
  const std::string& page_cache_probe() const { return page_cache_probe_; }

 private:
  MemoryCollector(memory_bpf* skel, std::vector<GroupOutcome> groups, bool readahead_marks);

  memory_bpf* skel_;
  std::vector<GroupOutcome> groups_;
  bool readahead_marks_;
  std::string page_cache_probe_;
  std::string page_cache_note_;  // why the preferred probe was not used
  std::vector<std::uint8_t> buf_;
};

}  // namespace cgscope::collector
