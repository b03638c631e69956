// eBPF CPU collector: per-cgroup on-CPU time, run-queue delay histograms (wakeup->run,
// preempted->run), voluntary/involuntary switches and migrations, aggregated in the kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/bpf_util.hpp"
#include "collector/collector.hpp"
#include "model/result.hpp"

struct cpu_bpf;  // generated skeleton

namespace cgscope::collector {

// How programs attach and where per-task state lives; kAuto picks the best the kernel has.
// kBtfSchedInfo reads the kernel's own accounting (se.sum_exec_runtime, sched_info) at
// sched_switch (sched_wakeup(_new) programs correct a stale runqueue clock and note who holds
// the CPU a task is queued on): cheapest, and agrees with cpuacct by construction. The others
// time events with bpf_ktime_get_ns() from sched_switch + sched_wakeup(_new) programs. Every
// mode charges each run-queue wait to the cgroup holding the CPU when it began (blame).
enum class CpuBpfMode { kAuto, kBtfSchedInfo, kBtfTaskStorage, kBtfHash, kRawTracepointHash };
std::string_view to_string(CpuBpfMode mode);
Result<CpuBpfMode> parse_cpu_bpf_mode(std::string_view text);

struct CpuCollectorOptions {
  CpuBpfMode mode = CpuBpfMode::kAuto;
  bool key_by_v1_cpu = false;      // pure v1 hosts: key by the v1 cpu cgroup, not v2
  // Per-cgroup stats slots. Memory: max_cgroups x 912 bytes x possible CPUs, allocated at load
  // (1024 slots: 0.9 MB per CPU). A cgroup beyond that is counted as cgroup_map_full.
  std::uint32_t max_cgroups = 1024;
  std::uint32_t max_tasks = 65536;  // hash modes only: per-task state entries (LRU)
};

class CpuCollector final : public Collector {
 public:
  static Result<std::unique_ptr<CpuCollector>> create(const CpuCollectorOptions& options);
  ~CpuCollector() override;
  CpuCollector(const CpuCollector&) = delete;
  CpuCollector& operator=(const CpuCollector&) = delete;

  std::string_view name() const override { return "cpu"; }
  void collect(model::Sample& sample, CgroupIndex& index) override;
  void forget(const std::vector<std::uint64_t>& cgroup_ids) override;
  model::CollectorStatus status() const override;

  CpuBpfMode mode() const { return mode_; }
  // Kernel statistics of the attached programs (benchmarks read run_time_ns / run_cnt).
  std::vector<ProgramStats> program_stats() const;

 private:
  CpuCollector(cpu_bpf* skel, CpuBpfMode mode, std::string fallback_note);
  static Result<cpu_bpf*> load(const CpuCollectorOptions& options, CpuBpfMode mode);

  cpu_bpf* skel_;
  CpuBpfMode mode_;
  std::string fallback_note_;  // why a better mode was not used
  std::vector<std::uint8_t> buf_;        // per-CPU read buffer, reused
  std::string proc_root_ = "/proc";
};

}  // namespace cgscope::collector
