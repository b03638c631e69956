// History window (model/window.hpp) at 1000 cgroups x 600 intervals of 1 s: memory held, time
// to append one snapshot at steady state (with eviction), and the queries of the front-ends and
// the analyzers.
// Targets (docs/performance.md, "History window"): <= 100 MiB, append < 5 ms, top-20 < 10 ms.
//
//   build/bench/cgscope_window_bench            (--benchmark_filter=Memory for the memory only)
//
// Two mixes: "realistic" (60% idle, 30% lightly active, 10% busy: CPU, throttling, block I/O
// and some reclaim and NFS) and "all_busy" (every cgroup busy: the worst case).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/window.hpp"

using namespace cgscope::model;

namespace {

constexpr std::size_t kCgroups = 1000;
constexpr std::size_t kIntervals = 600;
constexpr std::uint64_t kSecond = 1'000'000'000;
// Distinct snapshots cycled through (each ~4 MB: a CgroupInterval carries 8 histograms).
constexpr std::size_t kDistinctSnapshots = 8;

enum class Mix { kRealistic, kAllBusy };

class SnapshotMix {
 public:
  explicit SnapshotMix(Mix mix) : rng_(14) {
    std::vector<Kind> kinds(kCgroups);
    for (std::size_t i = 0; i < kCgroups; ++i) {
      const double r = uniform(0, 1);
      kinds[i] = mix == Mix::kAllBusy ? Kind::kBusy
                 : r < 0.10           ? Kind::kBusy
                 : r < 0.40           ? Kind::kActive
                                      : Kind::kIdle;
    }
    memory_.resize(kCgroups);
    for (auto& m : memory_) m = 1e6 * uniform(10, 4000);
    for (std::size_t s = 0; s < kDistinctSnapshots; ++s) {
      Snapshot snap;
      snap.nr_cpus = 16;
      snap.nfs.active = true;
      for (std::size_t i = 0; i < kCgroups; ++i) snap.cgroups.push_back(make(i, kinds[i], snap.nfs));
      snapshots_.push_back(std::move(snap));
    }
    busy_id_ = 0;
    for (std::size_t i = 0; i < kCgroups && !busy_id_; ++i)
      if (kinds[i] == Kind::kBusy) busy_id_ = id_of(i);
  }

  // Interval i (1 s long), one of the distinct snapshots.
  const Snapshot& at(std::uint64_t i) {
    Snapshot& s = snapshots_[i % kDistinctSnapshots];
    s.start_monotonic_ns = 1000 * kSecond + i * kSecond;
    s.end_monotonic_ns = s.start_monotonic_ns + kSecond;
    return s;
  }
  std::uint64_t busy_id() const { return busy_id_; }

 private:
  enum class Kind { kIdle, kActive, kBusy };

  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  std::uint64_t upto(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n)(rng_); }
  static std::uint64_t id_of(std::size_t i) { return 10'000 + i; }

  CgroupInterval make(std::size_t i, Kind kind, NfsInterval& nfs) {
    CgroupInterval cg;
    cg.identity.id = id_of(i);
    cg.identity.path = i % 3 == 0 ? "/system.slice/unit-" + std::to_string(i) + ".service"
                                  : "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                        std::to_string(i / 4) + ".slice/cri-containerd-" +
                                        std::string(56, 'a') + std::to_string(10'000'000 + i) + ".scope";
    cg.identity.container = parse_container_identity(cg.identity.path);
    cg.memory.knobs.current_bytes = static_cast<std::uint64_t>(memory_[i]);
    cg.cpu_pressure_some_usec = 0;
    cg.io.pressure_some_usec = cg.io.pressure_full_usec = 0;
    cg.memory.pressure_some_usec = cg.memory.pressure_full_usec = 0;
    cg.io.stat_rbytes = cg.io.stat_wbytes = cg.io.stat_rios = cg.io.stat_wios = 0;
    if (kind == Kind::kIdle) {  // nothing ran; now and then a tick of cgroupfs CPU
      cg.cpu_percent_cgroupfs = uniform(0, 1) < 0.1 ? 0.01 * static_cast<double>(upto(5)) : 0.0;
      return cg;
    }
    const bool busy = kind == Kind::kBusy;
    memory_[i] +=
        busy ? uniform(-1e6, 1e6) : (uniform(0, 1) < 0.2 ? 4096.0 * static_cast<double>(upto(10)) : 0);
    cg.memory.knobs.current_bytes = static_cast<std::uint64_t>(memory_[i]);
    cg.has_bpf = true;
    cg.cpu_percent = busy ? uniform(20, 200) : uniform(0.05, 5);
    cg.cpu_percent_cgroupfs = cg.cpu_percent * uniform(0.98, 1.02);
    const int buckets = busy ? 16 : 2;
    for (int k = 0; k < buckets; ++k) cg.run_delay_ns.add_to_bucket(10 + upto(15), busy ? 1 + upto(300) : 1);
    cg.run_delay_ns_sum = busy ? upto(50'000'000) : upto(100'000);
    cg.io.has_iowait = true;
    cg.io.has_bpf = true;
    cg.memory.has_bpf = true;
    if (busy) {
      cg.nr_periods = 10;
      cg.nr_throttled = upto(3);
      cg.throttled_percent = 10.0 * static_cast<double>(*cg.nr_throttled);
      cg.throttled_usec = *cg.nr_throttled * upto(20'000);
      cg.cpu_pressure_some_usec = upto(300'000);
      cg.io.read_ios = upto(2000);
      cg.io.write_ios = upto(500);
      cg.io.read_bytes = cg.io.read_ios * 16384;
      cg.io.write_bytes = cg.io.write_ios * 65536;
      for (int k = 0; k < 8; ++k) cg.io.read_latency_ns.add_to_bucket(14 + upto(8), upto(250));
      for (int k = 0; k < 6; ++k) cg.io.write_latency_ns.add_to_bucket(16 + upto(8), upto(80));
      cg.io.iowait_ns = upto(200'000'000);
      cg.io.dirty_throttle_ns = uniform(0, 1) < 0.3 ? upto(20'000'000) : 0;
      cg.io.pressure_some_usec = upto(100'000);
      cg.io.pressure_full_usec = upto(50'000);
      if (uniform(0, 1) < 0.2) {
        cg.memory.direct_reclaim_ns = upto(5'000'000);
        for (int k = 0; k < 3; ++k) cg.memory.reclaim_ns.add_to_bucket(14 + upto(8), 1 + upto(5));
      }
      cg.memory.cache_hit_ratio = uniform(0.5, 1);
      cg.memory.pressure_some_usec = upto(10'000);
      if (i % 4 == 0) {  // an NFS client
        NfsCgroupMountInterval row;
        row.cgroup_id = cg.identity.id;
        auto& getattr = row.ops[static_cast<std::size_t>(NfsOp::kGetattr)];
        getattr.time_ns = upto(20'000'000);
        for (int k = 0; k < 4; ++k) getattr.time_ns_hist.add_to_bucket(16 + upto(6), 1 + upto(20));
        nfs.cgroups.push_back(row);
      }
    } else if (uniform(0, 1) < 0.2) {  // a read now and then
      cg.io.read_ios = 1 + upto(3);
      cg.io.read_bytes = cg.io.read_ios * 4096;
      cg.io.read_latency_ns.add_to_bucket(16 + upto(4), cg.io.read_ios);
      cg.io.iowait_ns = upto(2'000'000);
      cg.memory.cache_hit_ratio = uniform(0.9, 1);
    }
    return cg;
  }

  std::mt19937_64 rng_;
  std::vector<double> memory_;
  std::vector<Snapshot> snapshots_;
  std::uint64_t busy_id_ = 0;
};

std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct Filled {
  SnapshotMix mix;
  Window window;
  std::uint64_t next = 0;
  explicit Filled(Mix m) : mix(m), window({.max_intervals = kIntervals}) {
    for (; next < kIntervals + 100; ++next) (void)window.append(mix.at(next));  // full, and evicting
  }
};

Filled& filled(Mix m) {
  static std::map<Mix, std::unique_ptr<Filled>> windows;
  auto& w = windows[m];
  if (!w) w = std::make_unique<Filled>(m);
  return *w;
}

Mix mix_of(const benchmark::State& state) { return state.range(0) == 0 ? Mix::kRealistic : Mix::kAllBusy; }
void label(benchmark::State& state) { state.SetLabel(state.range(0) == 0 ? "realistic" : "all_busy"); }

// Memory held after 600 appends: the window's own count and the growth of the RSS.
void BM_WindowMemory(benchmark::State& state) {
  for (auto _ : state) {
    SnapshotMix mix(mix_of(state));
    for (std::uint64_t i = 0; i < kDistinctSnapshots; ++i) benchmark::DoNotOptimize(mix.at(i));
    malloc_trim(0);
    const std::size_t before = rss_bytes();
    Window window({.max_intervals = kIntervals});
    for (std::uint64_t i = 0; i < kIntervals; ++i) (void)window.append(mix.at(i));
    const std::size_t after = rss_bytes();
    const double mib = 1024.0 * 1024.0;
    state.counters["window_MiB"] = static_cast<double>(window.memory_bytes()) / mib;
    state.counters["rss_growth_MiB"] = static_cast<double>(after - before) / mib;
    state.counters["bytes_per_cgroup_interval"] =
        static_cast<double>(window.memory_bytes()) / static_cast<double>(kCgroups * kIntervals);
  }
  label(state);
}
BENCHMARK(BM_WindowMemory)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// One 1000-cgroup snapshot into a full window (the oldest interval is evicted each time). The
// append that starts a chunk (index % 64 == 0) makes new chunks, the one that moves the window's
// start to a chunk edge frees the oldest: their CPU time is reported apart, and the percentiles
// of the CPU time per append (thread CPU time: what a loaded host does not inflate).
void BM_WindowAppend(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  std::vector<double> cpu_ms;
  double new_chunk_ms = 0, free_chunk_ms = 0;
  for (auto _ : state) {
    const std::uint64_t index = f.next++;
    const double t0 = thread_cpu_ms();
    (void)f.window.append(f.mix.at(index));
    const double ms = thread_cpu_ms() - t0;
    cpu_ms.push_back(ms);
    if (index % kWindowChunkIntervals == 0) new_chunk_ms = std::max(new_chunk_ms, ms);
    if ((index + 1 - kIntervals) % kWindowChunkIntervals == 0) free_chunk_ms = std::max(free_chunk_ms, ms);
  }
  std::sort(cpu_ms.begin(), cpu_ms.end());
  state.counters["cpu_p50_ms"] = cpu_ms[cpu_ms.size() / 2];
  state.counters["cpu_p99_ms"] = cpu_ms[cpu_ms.size() * 99 / 100];
  state.counters["cpu_max_ms"] = cpu_ms.back();
  state.counters["new_chunk_cpu_ms"] = new_chunk_ms;
  state.counters["free_chunk_cpu_ms"] = free_chunk_ms;
  label(state);
}
BENCHMARK(BM_WindowAppend)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Top 20 cgroups by CPU (sum) over the whole 10 minutes.
void BM_WindowTop20Cpu(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  for (auto _ : state)
    benchmark::DoNotOptimize(f.window.top({.series = Series::kCpuPercent, .n = 20}, f.window.all()));
  label(state);
}
BENCHMARK(BM_WindowTop20Cpu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Top 20 by the mean of I/O p99 over the last 5 minutes (a range cut inside chunks).
void BM_WindowTop20IoP99Last5m(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.window.top(
        {.series = Series::kIoLatencyP99Seconds, .by = Statistic::kMean, .n = 20}, f.window.latest(300)));
  }
  label(state);
}
BENCHMARK(BM_WindowTop20IoP99Last5m)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// One busy cgroup's CPU series over the last 5 minutes.
void BM_WindowSeries(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  for (auto _ : state)
    benchmark::DoNotOptimize(f.window.series(f.mix.busy_id(), Series::kCpuPercent, f.window.latest(300)));
  label(state);
}
BENCHMARK(BM_WindowSeries)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// A heat map: one busy cgroup's run-queue delay histograms over the whole 10 minutes.
void BM_WindowHeatMap(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  for (auto _ : state)
    benchmark::DoNotOptimize(f.window.heat_map(f.mix.busy_id(), HistogramSeries::kRunDelay, f.window.all()));
  label(state);
}
BENCHMARK(BM_WindowHeatMap)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The dashboard's table: every cgroup with all 24 series' statistics over 10 minutes, as a tree.
void BM_WindowTree(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  for (auto _ : state) benchmark::DoNotOptimize(f.window.tree(f.window.all()));
  label(state);
}
BENCHMARK(BM_WindowTree)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The NFS part of the last minute, rebuilt from the window's compact form (what each NFS rule
// of the analyzers asks for, over its range): time, and bytes of NfsInterval rebuilt per interval.
void BM_WindowNfsLastMinute(benchmark::State& state) {
  Filled& f = filled(mix_of(state));
  std::size_t rows = 0;
  for (auto _ : state) {
    const NfsIntervals nfs = f.window.nfs(f.window.latest(60));
    rows = 0;
    for (const NfsInterval* iv : nfs) rows += iv->cgroups.size();
    benchmark::DoNotOptimize(rows);
  }
  state.counters["rows_per_interval"] = static_cast<double>(rows) / 60;
  state.counters["rebuilt_KiB_per_interval"] =
      static_cast<double>(rows * sizeof(NfsCgroupMountInterval) + sizeof(NfsInterval) * 60) / 60 / 1024;
  label(state);
}
BENCHMARK(BM_WindowNfsLastMinute)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
