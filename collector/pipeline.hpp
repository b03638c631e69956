// The live source: cgroup discovery (cgroupfs) plus the explicit list of collectors, producing
// one cumulative model::Sample per call.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/collector.hpp"
#include "collector/cpu/cpu.hpp"
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
  std::optional<Hierarchy> hierarchy;  // default: discovered from /proc/self/mountinfo
  // Identify cgroups by the v1 cpu hierarchy even when cgroup2 is mounted (pure-v1 behaviour;
  // implied on pure v1 hosts).
  bool v1_identity = false;
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

 private:
  Pipeline(CgroupfsOptions cgroupfs_options, int nr_cpus);

  Cgroupfs cgroupfs_;
  int nr_cpus_;
  std::vector<std::unique_ptr<Collector>> collectors_;
  CpuCollector* cpu_ = nullptr;
  std::optional<model::CollectorStatus> bpf_unavailable_;
};

}  // namespace cgscope::collector
