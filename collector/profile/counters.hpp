// Hardware counters per cgroup (cycles, instructions, cache references/misses, branch misses)
// from perf_event_open in cgroup mode (PERF_FLAG_PID_CGROUP: one counter per cgroup and CPU,
// counting only while a task of that cgroup runs there), plus task-clock, a software counter
// that works everywhere. Without a hardware PMU (most VMs) the hardware counters are reported
// unavailable with the reason, and task-clock still works.
//
// Cgroup mode needs the cgroup's directory in the hierarchy that hosts the perf_event
// controller: the v1 perf_event mount where there is one, else the v2 hierarchy (where
// perf_event is implicit; on hybrid hosts that do not mount it in v1, like the development
// machines, that is the "unified" v2 mount).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collector/cgroupfs/hierarchy.hpp"
#include "model/result.hpp"

namespace cgscope::collector {

// The mount whose directories perf_event_open(PERF_FLAG_PID_CGROUP) accepts.
std::string perf_event_cgroup_root(const Hierarchy& h);

struct CounterTarget {
  std::uint64_t cgroup_id = 0;
  std::string path;  // relative to the hierarchy root, "/" for the root
};

struct CounterValues {
  std::uint64_t task_clock_ns = 0;  // CPU time of the cgroup's tasks (software counter)
  bool hardware = false;            // the fields below were measured
  std::uint64_t cycles = 0, instructions = 0, cache_references = 0, cache_misses = 0, branch_misses = 0;
  double hardware_running_fraction = 0;  // < 1 when the PMU multiplexed (values are scaled up)

  double ipc() const { return cycles ? static_cast<double>(instructions) / static_cast<double>(cycles) : 0; }
  double cache_miss_rate() const {
    return cache_references ? static_cast<double>(cache_misses) / static_cast<double>(cache_references) : 0;
  }
};

struct CounterReading {
  std::uint64_t cgroup_id = 0;
  std::string path;
  CounterValues values;  // since create()
};

class CgroupCounters {
 public:
  // Opens the counters of every target on every online CPU. Fails only when even task-clock
  // cannot be opened (the cgroup is missing, or perf_event_open is not allowed).
  static Result<std::unique_ptr<CgroupCounters>> create(const std::string& perf_event_root,
                                                        const std::vector<CounterTarget>& targets);
  ~CgroupCounters();
  CgroupCounters(const CgroupCounters&) = delete;
  CgroupCounters& operator=(const CgroupCounters&) = delete;

  bool hardware_available() const { return hardware_; }
  // Why not: "no hardware PMU: perf_event_open(PERF_COUNT_HW_CPU_CYCLES): No such file or
  // directory; kernel: 'Performance Events: ... software events only.'"
  const std::string& hardware_unavailable_reason() const { return hardware_reason_; }

  std::vector<CounterReading> read() const;

 private:
  CgroupCounters() = default;
  struct PerCpu {
    int task_clock_fd = -1;
    int group_fd = -1;  // cycles leader; members follow it in a group read
  };
  struct Target {
    CounterTarget target;
    std::vector<PerCpu> cpus;
    std::vector<int> member_fds;
  };
  std::vector<Target> targets_;
  bool hardware_ = false;
  std::string hardware_reason_;
};

// The kernel's own words about the PMU (dmesg lines mentioning "Performance Events" or
// "PMU"), "" when the log is not readable.
std::string kernel_pmu_message();

}  // namespace cgscope::collector
