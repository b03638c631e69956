#include "analyzers/rule_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>

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
      "Kubernetes has no field for the burst (a feature request, kubernetes/kubernetes#104516, has no KEP "
      "implemented): write cpu.max.burst on the node, or raise limits.cpu instead";
  return c;
}

constexpr std::uint64_t kSharesMin = 2, kSharesMax = 262144, kWeightMin = 1, kWeightMax = 10000;

std::uint64_t linear_weight_from_shares(std::uint64_t shares) {
  return std::clamp<std::uint64_t>(shares * 100 / 1024, kWeightMin, kWeightMax);
}
std::uint64_t linear_shares_from_weight(std::uint64_t weight) {
  return std::clamp<std::uint64_t>(weight * 1024 / 100, kSharesMin, kSharesMax);
}

std::uint64_t oci_weight_from_shares(std::uint64_t shares) {
  if (shares <= kSharesMin) return kWeightMin;
  if (shares >= kSharesMax) return kWeightMax;
  const double l = std::log2(static_cast<double>(shares));
  return static_cast<std::uint64_t>(std::ceil(std::pow(10.0, (l * l + 125 * l) / 612.0 - 7.0 / 34.0)));
}
std::uint64_t old_oci_weight_from_shares(std::uint64_t shares) {
  return 1 + ((std::clamp<std::uint64_t>(shares, kSharesMin, kSharesMax) - 2) * 9999) / 262142;
}

namespace {
// The fewest shares that `to_weight` (increasing) turns into at least `weight`.
std::uint64_t fewest_shares(std::uint64_t weight, std::uint64_t (*to_weight)(std::uint64_t)) {
  std::uint64_t lo = kSharesMin, hi = kSharesMax;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (to_weight(mid) >= weight)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}
// Of the shares `to_weight` turns into `weight`, the one nearest to the linear equivalent (1024
// for 100); when none gives exactly `weight`, the fewest that give more.
std::uint64_t shares_for(std::uint64_t weight, std::uint64_t (*to_weight)(std::uint64_t)) {
  weight = std::clamp(weight, kWeightMin, kWeightMax);
  const std::uint64_t lo = fewest_shares(weight, to_weight);
  if (to_weight(lo) != weight) return lo;
  const std::uint64_t hi = weight == kWeightMax ? kSharesMax : fewest_shares(weight + 1, to_weight) - 1;
  return std::clamp(linear_shares_from_weight(weight), lo, hi);
}
}  // namespace

std::uint64_t oci_shares_for_weight(std::uint64_t weight) {
  return shares_for(weight, oci_weight_from_shares);
}
std::uint64_t old_oci_shares_for_weight(std::uint64_t weight) {
  return shares_for(weight, old_oci_weight_from_shares);
}

std::uint64_t current_weight(const model::CpuKnobs& k) {
  if (k.weight) return *k.weight;
  if (k.shares) return linear_weight_from_shares(*k.shares);
  return 100;
}

namespace {
// Kubernetes requests.cpu whose shares (the kubelet's milli-CPU x 1024 / 1000) are at least `shares`.
std::string k8s_cpu_for_shares(std::uint64_t shares) { return k8s_cpu(static_cast<double>(shares) / 1024.0); }
}  // namespace

KnobChange cpu_weight_change(std::uint64_t weight) {
  KnobChange c;
  const std::uint64_t shares = oci_shares_for_weight(weight);
  const std::uint64_t old_shares = old_oci_shares_for_weight(weight);
  c.controller = "cpu";
  c.v2_file = "cpu.weight";
  c.v2_value = std::to_string(weight);
  c.v1_writes = {{"cpu.shares", std::to_string(linear_shares_from_weight(weight))}};
  c.systemd = fmt::format("CPUWeight={}", weight);
  c.docker = fmt::format("--cpu-shares {}", shares);
  c.docker_note = fmt::format(
      "runc 1.3.2+ and crun turn {} shares into cpu.weight {}; with runc before 1.3.2 use --cpu-shares {}; "
      "check cpu.weight after the update. Kept until the container is recreated: change the compose file or "
      "run options too",
      shares, weight, old_shares);
  c.k8s =
      fmt::format("resources:\n  requests:\n    cpu: \"{}\"  # the kubelet's cpu.weight follows requests.cpu",
                  k8s_cpu_for_shares(shares));
  c.k8s_note = fmt::format(
      "the kubelet passes requests.cpu x 1024 as CPU shares; runc 1.3.2+ and crun turn them into cpu.weight "
      "{}, older runc needs {}",
      weight, k8s_cpu_for_shares(old_shares));
  return c;
}

KnobChange cpu_shares_change(std::uint64_t shares) {
  KnobChange c;
  c.controller = "cpu";
  c.v2_file = "cpu.weight";
  c.v2_value = std::to_string(linear_weight_from_shares(shares));
  c.v1_writes = {{"cpu.shares", std::to_string(shares)}};
  c.systemd = fmt::format("CPUShares={}", shares);
  c.docker = fmt::format("--cpu-shares {}", shares);
  c.k8s =
      fmt::format("resources:\n  requests:\n    cpu: \"{}\"  # the kubelet's cpu.shares follow requests.cpu",
                  k8s_cpu_for_shares(shares));
  return c;
}

std::string cpu_weight_conversions(std::uint64_t weight) {
  return fmt::format(
      "systemd's CPUWeight= and the file take the weight as is; docker/podman --cpu-shares and Kubernetes "
      "requests.cpu are shares that the OCI runtime converts: {} shares give cpu.weight {} with runc 1.3.2+ "
      "and crun (10^((l^2 + 125 l) / 612 - 7/34), l = log2 shares), {} with older runc (1 + (shares - 2) x "
      "9999 / 262142); the v1 file gets the kernel's and systemd's linear equivalent, weight x 1024 / 100 = "
      "{} shares",
      oci_shares_for_weight(weight), weight, old_oci_shares_for_weight(weight),
      linear_shares_from_weight(weight));
}

std::string cpu_shares_conversions(std::uint64_t shares) {
  return fmt::format(
      "on cgroup v1 every manager writes the shares as they are (systemd's CPUShares=, docker --cpu-shares, "
      "the kubelet's requests.cpu x 1024); the v2 file gets the kernel's and systemd's linear equivalent, "
      "shares x 100 / 1024 = weight {}",
      linear_weight_from_shares(shares));
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

SwapNow swap_now(const model::MemoryKnobs& k) {
  if (k.swap_max_bytes) return {SwapNow::Kind::kBytes, *k.swap_max_bytes};
  // v2 reads memory.swap.max beside memory.max: no value there is "max".
  if (!k.v1 && k.limits_known) return {SwapNow::Kind::kUnlimited, 0};
  return {};
}

namespace {
constexpr std::string_view kRecreatedNote =
    "kept until the container is recreated: change the compose file or run options too";

// docker's --memory-swap (memory + swap) that goes with --memory `bytes`, and why: docker
// refuses a --memory above the --memory-swap in force, so it is always passed.
std::pair<std::string, std::string> memory_swap_flag(double bytes, SwapNow swap) {
  switch (swap.kind) {
    case SwapNow::Kind::kBytes:
      if (swap.bytes == 0)
        return {systemd_bytes(bytes),
                "--memory-swap equal to --memory: it has no swap now (memory.swap.max 0)"};
      return {systemd_bytes(bytes + static_cast<double>(swap.bytes)),
              fmt::format("--memory-swap is memory plus swap: the new limit plus the {} of swap it has now "
                          "(memory.swap.max), so its swap stays as it is",
                          bytes_human(static_cast<double>(swap.bytes)))};
    case SwapNow::Kind::kUnlimited:
      return {"-1", "--memory-swap -1: its swap is unlimited now (memory.swap.max max) and stays so"};
    case SwapNow::Kind::kUnknown:
      break;
  }
  return {
      systemd_bytes(bytes),
      "--memory-swap equal to --memory, i.e. no swap: its swap limit was not read; to keep swap, pass the "
      "new limit plus the swap it should have (-1: unlimited)"};
}
}  // namespace

KnobChange memory_change(const std::string& v2_file, double bytes, SwapNow swap) {
  KnobChange c;
  c.controller = "memory";
  c.v2_file = v2_file;
  c.v2_value = bytes_knob(bytes);
  if (v2_file == "memory.max") {
    const auto [memory_swap, why] = memory_swap_flag(bytes, swap);
    c.v1_writes = {{"memory.limit_in_bytes", bytes_knob(bytes)}};
    c.systemd = "MemoryMax=" + systemd_bytes(bytes);
    c.docker = fmt::format("--memory {} --memory-swap {}", systemd_bytes(bytes), memory_swap);
    c.docker_note = fmt::format("{} (docker refuses a --memory above the --memory-swap in force); {}", why,
                                kRecreatedNote);
    c.k8s = fmt::format("resources:\n  limits:\n    memory: \"{}\"", k8s_memory(bytes));
  } else if (v2_file == "memory.high") {
    c.systemd = "MemoryHigh=" + systemd_bytes(bytes);
    c.docker_note =
        "docker and podman do not set memory.high: write the file, or raise --memory (with --memory-swap: "
        "docker refuses a --memory above the --memory-swap in force)";
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
