// Small pieces the rules share: severity from a fraction of lost time, knob changes in every
// manager's vocabulary, rounding of suggested values.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "analyzers/analyze.hpp"

namespace cgscope::analyzers::detail {

// Lost fraction of the wall time -> severity: >= 25% critical, >= `warning` warning.
inline Severity severity_for(double fraction, double warning = 0.05, double critical = 0.25) {
  return fraction >= critical  ? Severity::kCritical
         : fraction >= warning ? Severity::kWarning
                               : Severity::kInfo;
}

// A share of a cgroup's time: "38%", or "1.4 s per second" when several of its tasks lost time
// at once (sums of per-task waits exceed the wall time).
inline std::string share_of_time(double lost, double wall) {
  const double f = wall > 0 ? lost / wall : 0;
  return f <= 1.0 ? percent(f) : fmt::format("{:.1f} s per second", f);
}

inline double round_up(double v, double step) { return std::ceil(v / step - 1e-9) * step; }

inline std::string name_of(const model::CgroupSummary& cg) {
  return cg.identity ? cg.identity->display_name() : "cgroup#" + std::to_string(cg.id);
}

// cpu.max quota / period in every vocabulary.
KnobChange cpu_max_change(std::int64_t quota_usec, std::uint64_t period_usec);
// cpu.max.burst.
KnobChange cpu_burst_change(std::uint64_t burst_usec);
// cpu.weight (v1: cpu.shares converted as systemd and runc do).
KnobChange cpu_weight_change(std::uint64_t weight, std::uint64_t v1_shares = 0);  // 0: converted
std::uint64_t shares_from_weight(std::uint64_t weight);
std::uint64_t weight_from_shares(std::uint64_t shares);
KnobChange cpuset_change(const std::string& cpus);
// memory.high / memory.max / memory.low.
KnobChange memory_change(const std::string& v2_file, double bytes);
// io.weight (BFQ or the io cost controller), io.max of a device.
KnobChange io_weight_change(std::uint64_t weight, const std::string& weight_file);
KnobChange io_max_change(std::uint32_t dev, const std::string& device_name, std::uint64_t wbps,
                         std::uint64_t rbps);
KnobChange io_latency_change(std::uint32_t dev, std::uint64_t target_usec);

// "2.20" CPUs, trailing zeros kept short.
std::string cpus(double v);

// The effective CPUs of a cpuset list ("0-3,6"): how many.
std::size_t cpu_count(const std::string& cpuset);

// The cgroup's v2 weight now (cpu.weight, or v1 cpu.shares converted; 100 if unknown).
std::uint64_t current_weight(const model::CpuKnobs& k);

// Sorted values of a series over the range (absent ones left out), for percentiles.
std::vector<double> present_values(const model::SeriesValues& v);
double percentile_of(std::vector<double> sorted, double q);  // nearest rank; 0 if empty

}  // namespace cgscope::analyzers::detail
