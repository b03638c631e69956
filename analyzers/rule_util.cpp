#include "analyzers/rule_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "model/io.hpp"

namespace cgscope::analyzers::detail {

std::string cpus(double v) { return fmt::format("{:.2f}", v); }

KnobChange cpu_max_change(std::int64_t quota_usec, std::uint64_t period_usec) {
  KnobChange c;
  c.controller = "cpu";
  c.v2_file = "cpu.max";
  c.v2_value = fmt::format("{} {}", quota_usec, period_usec);
  c.v1_writes = {{"cpu.cfs_period_us", std::to_string(period_usec)},
                 {"cpu.cfs_quota_us", std::to_string(quota_usec)}};
  const double cores = static_cast<double>(quota_usec) / static_cast<double>(period_usec);
  c.systemd = fmt::format("CPUQuota={:.0f}%", std::ceil(cores * 100 - 1e-9));
  if (period_usec != 100'000) c.systemd += fmt::format(" CPUQuotaPeriodSec={}ms", period_usec / 1000);
  c.docker = fmt::format("--cpus {:.2f}", cores);
  c.k8s = fmt::format("resources:\n  limits:\n    cpu: \"{}\"", k8s_cpu(cores));
  c.k8s_note = "the kubelet sets cpu.max from limits.cpu with a 100 ms period";
  return c;
}

KnobChange cpu_burst_change(std::uint64_t burst_usec) {
  KnobChange c;
  c.controller = "cpu";
  c.v2_file = "cpu.max.burst";
  c.v2_value = std::to_string(burst_usec);
  c.v1_writes = {{"cpu.cfs_burst_us", std::to_string(burst_usec)}};
  c.docker_note =
      "docker and podman have no flag for the burst: write cpu.max.burst (it is kept until the container "
      "restarts)";
  c.k8s_note =
      "Kubernetes has no field for the burst (KEP-2570 was not merged): write cpu.max.burst on the node, or "
      "raise limits.cpu instead";
  return c;
}

std::uint64_t shares_from_weight(std::uint64_t weight) {  // inverse of the conversion below
  return 2 + ((std::clamp<std::uint64_t>(weight, 1, 10000) - 1) * 262142) / 9999;
}
std::uint64_t weight_from_shares(std::uint64_t shares) {  // runc / systemd: 1 + (s - 2) * 9999 / 262142
  return 1 + ((std::clamp<std::uint64_t>(shares, 2, 262144) - 2) * 9999) / 262142;
}

std::uint64_t current_weight(const model::CpuKnobs& k) {
  if (k.weight) return *k.weight;
  if (k.shares) return weight_from_shares(*k.shares);
  return 100;
}

KnobChange cpu_weight_change(std::uint64_t weight, std::uint64_t v1_shares) {
  KnobChange c;
  const std::uint64_t shares = v1_shares ? v1_shares : shares_from_weight(weight);
  c.controller = "cpu";
  c.v2_file = "cpu.weight";
  c.v2_value = std::to_string(weight);
  c.v1_writes = {{"cpu.shares", std::to_string(shares)}};
  c.systemd = v1_shares ? fmt::format("CPUShares={}", shares) : fmt::format("CPUWeight={}", weight);
  c.docker = fmt::format("--cpu-shares {}", shares);
  c.k8s =
      fmt::format("resources:\n  requests:\n    cpu: \"{}\"  # the kubelet's cpu.weight follows requests.cpu",
                  k8s_cpu(static_cast<double>(shares) / 1024.0));
  return c;
}

KnobChange cpuset_change(const std::string& cpus_list) {
  KnobChange c;
  c.controller = "cpuset";
  c.v2_file = "cpuset.cpus";
  c.v2_value = cpus_list;
  c.v1_writes = {{"cpuset.cpus", cpus_list}};
  c.systemd = fmt::format("AllowedCPUs={}", cpus_list);
  c.docker = fmt::format("--cpuset-cpus {}", cpus_list);
  c.k8s_note =
      "exclusive CPUs need the kubelet's static CPU manager policy and a Guaranteed pod with integer CPU "
      "requests";
  return c;
}

KnobChange memory_change(const std::string& v2_file, double bytes) {
  KnobChange c;
  c.controller = "memory";
  c.v2_file = v2_file;
  c.v2_value = bytes_knob(bytes);
  if (v2_file == "memory.max") {
    c.v1_writes = {{"memory.limit_in_bytes", bytes_knob(bytes)}};
    c.systemd = "MemoryMax=" + systemd_bytes(bytes);
    c.docker = fmt::format("--memory {} --memory-swap {}", systemd_bytes(bytes), "-1");
    c.k8s = fmt::format("resources:\n  limits:\n    memory: \"{}\"", k8s_memory(bytes));
  } else if (v2_file == "memory.high") {
    c.systemd = "MemoryHigh=" + systemd_bytes(bytes);
    c.docker_note = "docker and podman do not set memory.high: write the file, or raise --memory";
    c.k8s_note =
        "the kubelet sets memory.high only with the MemoryQoS feature gate (from limits and requests): raise "
        "limits.memory";
    c.v1_writes = {{"memory.soft_limit_in_bytes", bytes_knob(bytes)}};
  } else {  // memory.low
    c.v1_writes = {{"memory.soft_limit_in_bytes", bytes_knob(bytes)}};
    c.systemd = "MemoryLow=" + systemd_bytes(bytes);
    c.docker = fmt::format("--memory-reservation {}", systemd_bytes(bytes));
    c.k8s = fmt::format("resources:\n  requests:\n    memory: \"{}\"", k8s_memory(bytes));
    c.k8s_note = "memory.low follows requests.memory only with the MemoryQoS feature gate";
  }
  return c;
}

KnobChange io_weight_change(std::uint64_t weight, const std::string& weight_file) {
  KnobChange c;
  c.controller = "io";
  c.v2_file = weight_file.empty() || weight_file.starts_with("blkio") ? "io.weight" : weight_file;
  c.v2_value = fmt::format("default {}", weight);
  const std::uint64_t v1 = std::clamp<std::uint64_t>(weight, 10, 1000);
  c.v1_writes = {{weight_file.starts_with("blkio") ? weight_file : "blkio.bfq.weight", std::to_string(v1)}};
  c.systemd = fmt::format("IOWeight={}", weight);
  c.docker = fmt::format("--blkio-weight {}", v1);
  c.k8s_note =
      "Kubernetes has no I/O weight: set it on the node (a systemd drop-in for the pod's slice), or move the "
      "noisy workload to other disks";
  return c;
}

KnobChange io_max_change(std::uint32_t dev, const std::string& device_name, std::uint64_t wbps,
                         std::uint64_t rbps) {
  KnobChange c;
  c.controller = "io";
  const std::string majmin = fmt::format("{}:{}", dev >> 20, dev & 0xfffff);
  c.v2_file = "io.max";
  c.v2_value = fmt::format("{} rbps={} wbps={}", majmin, rbps ? std::to_string(rbps) : "max",
                           wbps ? std::to_string(wbps) : "max");
  if (wbps)
    c.v1_writes.push_back({"blkio.throttle.write_bps_device", fmt::format("\"{} {}\"", majmin, wbps)});
  if (rbps) c.v1_writes.push_back({"blkio.throttle.read_bps_device", fmt::format("\"{} {}\"", majmin, rbps)});
  std::string sd;
  // systemd takes a device node path: /dev/block/MAJ:MIN is udev's link to it.
  if (wbps) sd += fmt::format("IOWriteBandwidthMax=\"/dev/block/{} {}\"", majmin, wbps);
  if (rbps)
    sd += fmt::format("{}IOReadBandwidthMax=\"/dev/block/{} {}\"", sd.empty() ? "" : " ", majmin, rbps);
  c.systemd = sd;
  c.docker_note =
      fmt::format("docker update cannot change it: recreate the container with --device-write-bps /dev/{}:{}",
                  device_name, wbps ? wbps : rbps);
  c.k8s_note = "Kubernetes has no I/O bandwidth limit: use node-level io.max, or separate disks";
  return c;
}

KnobChange io_latency_change(std::uint32_t dev, std::uint64_t target_usec) {
  KnobChange c;
  c.controller = "io";
  c.v2_file = "io.latency";
  c.v2_value = fmt::format("{}:{} target={}", dev >> 20, dev & 0xfffff, target_usec);
  c.docker_note = "no docker or podman flag: write io.latency (cgroup v2 only)";
  c.k8s_note = "no Kubernetes field: node-level io.latency only";
  return c;
}

std::size_t cpu_count(const std::string& cpuset) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < cpuset.size()) {
    std::size_t j = cpuset.find(',', i);
    if (j == std::string::npos) j = cpuset.size();
    const std::string part = cpuset.substr(i, j - i);
    unsigned a = 0, b = 0;
    const auto dash = part.find('-');
    const char* p = part.data();
    if (dash == std::string::npos) {
      if (std::from_chars(p, p + part.size(), a).ec == std::errc()) ++n;
    } else if (std::from_chars(p, p + dash, a).ec == std::errc() &&
               std::from_chars(p + dash + 1, p + part.size(), b).ec == std::errc() && b >= a) {
      n += b - a + 1;
    }
    i = j + 1;
  }
  return n;
}

std::vector<double> present_values(const model::SeriesValues& v) {
  std::vector<double> out;
  out.reserve(v.values.size());
  for (float x : v.values)
    if (!std::isnan(x)) out.push_back(x);
  std::sort(out.begin(), out.end());
  return out;
}

double percentile_of(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0;
  const std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace cgscope::analyzers::detail
