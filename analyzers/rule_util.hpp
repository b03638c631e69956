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
// cpu.weight of a v2 cgroup: systemd's CPUWeight= as is; docker/podman --cpu-shares and
// Kubernetes requests.cpu as the shares the OCI runtime converts to that weight.
KnobChange cpu_weight_change(std::uint64_t weight);
// cpu.shares of a v1 cgroup: every manager writes the shares as they are.
KnobChange cpu_shares_change(std::uint64_t shares);
// Which conversion each command of a cpu_weight_change / cpu_shares_change rests on, for the
// derivation text.
std::string cpu_weight_conversions(std::uint64_t weight);
std::string cpu_shares_conversions(std::uint64_t shares);

// Shares <-> weight. The kernel weighs a v2 group like a v1 group of weight x 1024 / 100 shares,
// and systemd converts CPUShares= <-> CPUWeight= on that linear scale (clamped to 2..262144 and
// 1..10000). The OCI runtimes turn the shares they are given (docker --cpu-shares, the kubelet's
// requests.cpu x 1024) into cpu.weight with a formula of their own, which changed: runc 1.3.2+
// (opencontainers/cgroups#20) and crun (containers/crun#1767) fit 2 -> 1, 1024 -> 100 and
// 262144 -> 10000 with 10^((l^2 + 125 l) / 612 - 7/34), l = log2(shares), rounded up; before,
// both mapped the ranges linearly, 1 + (shares - 2) x 9999 / 262142 (KEP-2254).
std::uint64_t linear_weight_from_shares(std::uint64_t shares);   // kernel, systemd
std::uint64_t linear_shares_from_weight(std::uint64_t weight);   // kernel, systemd
std::uint64_t oci_weight_from_shares(std::uint64_t shares);      // runc 1.3.2+, crun
std::uint64_t old_oci_weight_from_shares(std::uint64_t shares);  // runc < 1.3.2, older crun
// Shares the runtime turns into `weight` (the one nearest to the linear equivalent), or the
// fewest that give more where no shares give exactly `weight`.
std::uint64_t oci_shares_for_weight(std::uint64_t weight);
std::uint64_t old_oci_shares_for_weight(std::uint64_t weight);

KnobChange cpuset_change(const std::string& cpus);

// A memory cgroup's swap allowance now, for docker's --memory-swap (memory + swap).
struct SwapNow {
  enum class Kind : std::uint8_t { kBytes, kUnlimited, kUnknown };
  Kind kind = Kind::kUnknown;
  std::uint64_t bytes = 0;  // kBytes: memory.swap.max
};
SwapNow swap_now(const model::MemoryKnobs& k);
// memory.high / memory.max / memory.low; `swap` sets docker's --memory-swap with memory.max.
KnobChange memory_change(const std::string& v2_file, double bytes, SwapNow swap = {});
// io.weight (BFQ or the io cost controller), io.max of a device.
KnobChange io_weight_change(std::uint64_t weight, const std::string& weight_file);
KnobChange io_max_change(std::uint32_t dev, const std::string& device_name, std::uint64_t wbps,
                         std::uint64_t rbps);
KnobChange io_latency_change(std::uint32_t dev, std::uint64_t target_usec);

// "2.20" CPUs, trailing zeros kept short.
std::string cpus(double v);

// The effective CPUs of a cpuset list ("0-3,6"): how many.
std::size_t cpu_count(const std::string& cpuset);

// The cgroup's v2 weight now (cpu.weight, or v1 cpu.shares on the kernel's linear scale; 100 if
// unknown).
std::uint64_t current_weight(const model::CpuKnobs& k);

// Sorted values of a series over the range (absent ones left out), for percentiles.
std::vector<double> present_values(const model::SeriesValues& v);
double percentile_of(std::vector<double> sorted, double q);  // nearest rank; 0 if empty

}  // namespace cgscope::analyzers::detail
