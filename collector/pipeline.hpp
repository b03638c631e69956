// The live source: cgroup discovery (cgroupfs) plus the explicit list of collectors, producing
// one cumulative model::Sample per call.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/cgroupfs/demand_sampler.hpp"
#include "collector/collector.hpp"
#include "collector/cpu/cpu.hpp"
#include "collector/io/io.hpp"
#include "collector/memory/memory.hpp"
#include "collector/nfs/nfs.hpp"
#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::collector {

enum class BpfPolicy {
  kOff,       // cgroupfs only
  kBestEffort,  // try; when eBPF is unavailable, say why in the collector status and go on
  kRequired,    // fail when eBPF cannot be loaded
};

struct PipelineOptions {
  BpfPolicy bpf = BpfPolicy::kBestEffort;
  CpuCollectorOptions cpu;
  IoCollectorOptions io;
  MemoryCollectorOptions memory;
  NfsCollectorOptions nfs;
  bool cpu_enabled = true;
  bool io_enabled = true;
  bool memory_enabled = true;
  bool nfs_enabled = true;
  std::optional<Hierarchy> hierarchy;  // default: discovered from /proc/self/mountinfo
  // Identify cgroups by the v1 cpu hierarchy even when cgroup2 is mounted (pure-v1 behaviour;
  // implied on pure v1 hosts).
  bool v1_identity = false;
  // Slot of the CPU demand sampler (cgroups with a CPU quota; see demand_sampler.hpp), 0: off.
  std::chrono::nanoseconds demand_slot = kDefaultDemandSlot;
};

class Pipeline {
 public:
  static Result<std::unique_ptr<Pipeline>> create(PipelineOptions options);

  // Scans cgroups, reads cgroupfs and every collector. Cgroups removed since the last call
  // appear once more with removed=true and their final eBPF values.
  Result<model::Sample> sample();

  const Hierarchy& hierarchy() const { return cgroupfs_.options().hierarchy; }
  const std::vector<std::unique_ptr<Collector>>& collectors() const { return collectors_; }
  // The CPU collector, or nullptr when eBPF is off or unavailable.
  CpuCollector* cpu_collector() const { return cpu_; }
  IoCollector* io_collector() const { return io_; }
  MemoryCollector* memory_collector() const { return memory_; }
  NfsCollector* nfs_collector() const { return nfs_; }
  // The CPU demand sampler, or nullptr when off.
  DemandSampler* demand_sampler() const { return demand_.get(); }

 private:
  Pipeline(CgroupfsOptions cgroupfs_options, int nr_cpus);

  Cgroupfs cgroupfs_;
  int nr_cpus_;
  std::uint32_t page_size_ = 0;
  std::vector<std::unique_ptr<Collector>> collectors_;
  CpuCollector* cpu_ = nullptr;
  IoCollector* io_ = nullptr;
  MemoryCollector* memory_ = nullptr;
  NfsCollector* nfs_ = nullptr;
  std::unique_ptr<DemandSampler> demand_;
  std::vector<model::CollectorStatus> bpf_unavailable_;
  std::unordered_set<std::uint64_t> unscanned_;  // charged by a collector, not in the last scan
  std::uint64_t gone_before_scan_ = 0;           // reported by id without a path, then forgotten
};

}  // namespace cgscope::collector
