// A deterministic series of cumulative Samples shaped like a container host, for recording
// tests and benchmarks (pure data, no kernel): most cgroups idle, some lightly active, a few
// busy; containers come and go.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/cgroup_identity.hpp"
#include "model/snapshot.hpp"

namespace cgscope::test {

struct SeriesOptions {
  std::size_t cgroups = 1000;
  double busy_fraction = 0.10;    // every counter and ~16 histogram buckets change each interval
  double active_fraction = 0.30;  // a few switches and a bucket or two
  double churn = 0.001;           // per cgroup and interval: replaced by a new container
  std::uint64_t interval_ns = 1'000'000'000;
  std::uint64_t seed = 1;
};

class SyntheticSeries {
 public:
  explicit SyntheticSeries(SeriesOptions options) : options_(options), rng_(options.seed) {
    for (std::size_t i = 0; i < options_.cgroups; ++i) cgroups_.push_back(make_cgroup(i));
  }

  model::Sample next() {
    model::Sample s;
    s.monotonic_ns = 5'000'000'000ULL + step_ * options_.interval_ns;
    s.realtime_ns = 1'800'000'000'000'000'000LL + static_cast<std::int64_t>(step_ * options_.interval_ns);
    s.nr_cpus = 16;
    s.collectors = {
        {"cgroupfs", true, "layout v2", {{"read_errors", 0}, {"parse_errors", 0}}},
        {"cpu", true, "eBPF tp_btf+sched_info", {{"cgroup_map_full", 0}, {"kernel_recursion_misses", 0}}}};
    if (step_ > 0) {
      for (std::size_t i = 0; i < cgroups_.size(); ++i) {
        if (uniform() < options_.churn) {
          model::CgroupSample gone = cgroups_[i].sample;
          gone.removed = true;
          s.cgroups.push_back(gone);  // reported once more as removed, then replaced
          cgroups_[i] = make_cgroup(next_index_++);
          continue;
        }
        advance(cgroups_[i]);
      }
    }
    for (const auto& c : cgroups_) s.cgroups.push_back(c.sample);
    ++step_;
    return s;
  }

 private:
  enum class Kind { kIdle, kActive, kBusy };
  struct Cgroup {
    model::CgroupSample sample;
    Kind kind;
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::uint64_t upto(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n)(rng_); }

  Cgroup make_cgroup(std::size_t index) {
    Cgroup c;
    const double r = uniform();
    c.kind = r < options_.busy_fraction                              ? Kind::kBusy
             : r < options_.busy_fraction + options_.active_fraction ? Kind::kActive
                                                                     : Kind::kIdle;
    auto& id = c.sample.identity;
    id.id = 10'000 + index;
    char hex[65];
    for (int i = 0; i < 64; ++i) hex[i] = "0123456789abcdef"[upto(15)];
    hex[64] = 0;
    if (index % 3 == 0) {
      id.path = "/system.slice/unit-" + std::to_string(index) + ".service";
    } else {
      id.path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + std::to_string(index) +
                ".slice/cri-containerd-" + hex + ".scope";
    }
    id.container = model::parse_container_identity(id.path);
    auto& cg = c.sample;
    cg.cpu_stat = {upto(1'000'000'000), upto(1'000'000), upto(1'000'000),
                   upto(10'000),        upto(100),       upto(1'000'000)};
    cg.cpu_knobs.period_usec = 100'000;
    cg.cpu_knobs.weight = 100;
    cg.cpu_knobs.quota_known = true;
    if (index % 4 == 0) cg.cpu_knobs.quota_usec = 200'000;
    cg.cpu_knobs.cpuset_cpus = "0-15";
    cg.cpu_pressure.some = model::PsiLine{0, 0, 0, upto(1'000'000)};
    cg.cpu_pressure.full = model::PsiLine{0, 0, 0, upto(100'000)};
    if (c.kind != Kind::kIdle) {
      model::CpuBpfCounters b;
      b.on_cpu_ns = upto(1'000'000'000'000);
      b.voluntary_switches = upto(1'000'000);
      b.involuntary_switches = upto(100'000);
      b.migrations = upto(10'000);
      for (std::size_t k = 8; k < 26; ++k) b.wakeup_delay_ns.add_to_bucket(k, upto(10'000));
      for (std::size_t k = 10; k < 24; ++k) b.preempt_delay_ns.add_to_bucket(k, upto(1'000));
      cg.cpu_bpf = b;
    }
    return c;
  }

  void advance(Cgroup& c) {
    auto& cg = c.sample;
    if (c.kind == Kind::kIdle) return;
    const bool busy = c.kind == Kind::kBusy;
    auto& b = *cg.cpu_bpf;
    b.on_cpu_ns += busy ? 200'000'000 + upto(800'000'000) : upto(5'000'000);
    b.voluntary_switches += busy ? upto(5'000) : upto(20);
    b.involuntary_switches += busy ? upto(500) : upto(2);
    b.migrations += busy ? upto(50) : 0;
    const int buckets = busy ? 16 : 2;
    for (int k = 0; k < buckets; ++k) {
      b.wakeup_delay_ns.add_to_bucket(10 + upto(15), busy ? upto(300) : 1);
      if (busy) b.preempt_delay_ns.add_to_bucket(12 + upto(10), upto(40));
    }
    b.wakeup_delay_ns_sum += busy ? upto(50'000'000) : upto(100'000);
    b.preempt_delay_ns_sum += busy ? upto(20'000'000) : 0;
    *cg.cpu_stat.usage_usec += b.on_cpu_ns % 1'000'000;
    *cg.cpu_stat.user_usec += busy ? upto(800'000) : upto(4'000);
    *cg.cpu_stat.system_usec += busy ? upto(200'000) : upto(1'000);
    if (busy) {
      *cg.cpu_stat.nr_periods += 10;
      *cg.cpu_stat.nr_throttled += upto(3);
      *cg.cpu_stat.throttled_usec += upto(50'000);
      auto& some = *cg.cpu_pressure.some;
      some.avg10 = static_cast<double>(upto(9000)) / 100.0;
      some.avg60 = static_cast<double>(upto(9000)) / 100.0;
      some.avg300 = static_cast<double>(upto(9000)) / 100.0;
      some.total_usec += upto(300'000);
    }
  }

  SeriesOptions options_;
  std::mt19937_64 rng_;
  std::vector<Cgroup> cgroups_;
  std::size_t next_index_ = 1'000'000;
  std::uint64_t step_ = 0;
};

}  // namespace cgscope::test
