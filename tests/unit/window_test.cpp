// model::Window (the history window) on hand-built Snapshots with known values: series and
// their presence, statistics over ranges against a naive computation, top-N, eviction by count
// and age, cgroups that come and go, the cgroup tree, histograms through the sparse storage,
// a Window filled by run_stream, and the NFS part of each interval (round trip without the
// histograms, inactive intervals, mounts shared, its bytes counted, eviction).
#include "model/window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "model/source.hpp"
#include "model/stream.hpp"

using namespace cgscope;
using namespace cgscope::model;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kBase = 100 * kSecond;  // monotonic time of the first interval's start

// Interval i: [kBase + i s, kBase + (i + 1) s).
Snapshot interval_at(std::uint64_t i, std::uint64_t seconds = 1) {
  Snapshot s;
  s.start_monotonic_ns = kBase + i * kSecond;
  s.end_monotonic_ns = s.start_monotonic_ns + seconds * kSecond;
  s.start_realtime_ns = static_cast<std::int64_t>(s.start_monotonic_ns) + 1'000'000 * kSecond;
  s.end_realtime_ns = static_cast<std::int64_t>(s.end_monotonic_ns) + 1'000'000 * kSecond;
  s.nr_cpus = 4;
  return s;
}

CgroupInterval row(std::uint64_t id, const std::string& path = "") {
  CgroupInterval cg;
  cg.identity.id = id;
  cg.identity.path = path.empty() && id != 0 ? "/cg" + std::to_string(id) : path;
  cg.identity.container = parse_container_identity(cg.identity.path);
  return cg;
}

// A cgroup with eBPF CPU data: cpu_percent is what model::cpu_percent() returns.
CgroupInterval cpu_row(std::uint64_t id, double cpu_percent) {
  CgroupInterval cg = row(id);
  cg.has_bpf = true;
  cg.cpu_percent = cpu_percent;
  return cg;
}

bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

float value(const Window& w, std::uint64_t id, Series s, std::uint64_t index) {
  return w.series(id, s, {index, index + 1}).values.at(0);
}

}  // namespace

TEST(WindowTest, DescriptorsListEverySeriesOnceWithNameUnitAndHelp) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kSeriesCount; ++i) {
    const auto& d = kSeriesDescriptors[i];
    EXPECT_EQ(static_cast<std::size_t>(d.series), i);
    EXPECT_FALSE(d.name.empty() || d.label.empty() || d.unit.empty() || d.help.empty()) << d.name;
    EXPECT_TRUE(names.insert(d.name).second) << d.name;
  }
  for (Series s : kLostTimeSeries) EXPECT_EQ(descriptor(s).kind, SeriesKind::kTime) << descriptor(s).name;
  EXPECT_EQ(descriptor(HistogramSeries::kNfsLatency).name, "nfs_latency");
}

TEST(WindowTest, SeriesHoldValuesAndTellAbsentFromZero) {
  Window w;
  // Interval 0: A at 50 %, B without eBPF and without cpu.stat (CPU unknown).
  // Interval 1: A at 0 %, B gone. Interval 2: A gone, B back with cpu.stat 12.5 %.
  auto s0 = interval_at(0);
  s0.cgroups = {cpu_row(1, 50), row(2)};
  auto s1 = interval_at(1);
  s1.cgroups = {cpu_row(1, 0)};
  auto s2 = interval_at(2);
  auto b = row(2);
  b.cpu_percent_cgroupfs = 12.5;
  s2.cgroups = {b};
  for (const auto* s : {&s0, &s1, &s2}) ASSERT_TRUE(w.append(*s).ok());

  const auto a = w.series(1, Series::kCpuPercent, w.all());
  EXPECT_EQ(a.range, (IntervalRange{0, 3}));
  ASSERT_EQ(a.values.size(), 3u);
  EXPECT_EQ(a.values[0], 50.0f);
  EXPECT_EQ(a.values[1], 0.0f);          // measured: zero
  EXPECT_TRUE(std::isnan(a.values[2]));  // not there
  EXPECT_EQ(a.stats.count, 2u);
  EXPECT_EQ(a.stats.sum, 50.0);
  EXPECT_EQ(a.stats.min, 0.0);
  EXPECT_EQ(a.stats.mean(), 25.0);

  const auto bv = w.series(2, Series::kCpuPercent, w.all());
  EXPECT_TRUE(std::isnan(bv.values[0]));  // there, but CPU unknown
  EXPECT_TRUE(std::isnan(bv.values[1]));  // not there
  EXPECT_EQ(bv.values[2], 12.5f);
  EXPECT_EQ(w.presence(2, w.all()), (std::vector<bool>{true, false, true}));
  // Run delay of a cgroup seen by eBPF is 0 when nothing waited; unknown without eBPF.
  EXPECT_EQ(value(w, 1, Series::kRunDelaySeconds, 0), 0.0f);
  EXPECT_TRUE(std::isnan(value(w, 2, Series::kRunDelaySeconds, 0)));
  // No waits, no percentile.
  EXPECT_TRUE(std::isnan(value(w, 1, Series::kRunDelayP99Seconds, 0)));

  EXPECT_EQ(w.cgroup_count(), 2u);
  EXPECT_EQ(w.interval(2).end_monotonic_ns, kBase + 3 * kSecond);
  EXPECT_EQ(w.interval(1).cgroups, 1u);
  EXPECT_EQ(w.series(99, Series::kCpuPercent, w.all()).values.size(), 3u);  // unknown id: all absent
}

TEST(WindowTest, ExtractsEverySeriesFromItsSource) {
  auto s = interval_at(0, 2);  // a 2 s interval: rates are per second
  s.nfs.active = true;
  CgroupInterval cg = row(7);
  cg.has_bpf = true;
  cg.cpu_percent = 150;
  cg.run_delay_ns_sum = 3'000'000;
  cg.run_delay_ns.add(1000, 99);      // bucket 9 [512, 1024)
  cg.run_delay_ns.add(1'000'000, 1);  // bucket 19
  cg.throttled_percent = 75.0;        // 15 of 20 periods
  cg.throttled_usec = 20'000;
  cg.cpu_pressure_some_usec = 500'000;
  cg.io.has_bpf = true;
  cg.io.read_bytes = 409'600;
  cg.io.write_bytes = 1 << 20;
  cg.io.read_ios = 100;
  cg.io.write_ios = 8;
  cg.io.read_latency_ns.add(100'000, 100);
  cg.io.write_latency_ns.add(10'000'000, 8);
  cg.io.has_iowait = true;
  cg.io.iowait_ns = 250'000'000;
  cg.io.dirty_throttle_ns = 40'000'000;
  cg.io.pressure_some_usec = 300'000;
  cg.io.pressure_full_usec = 100'000;
  cg.memory.has_bpf = true;
  cg.memory.direct_reclaim_ns = 7'000'000;
  cg.memory.memcg_reclaim_ns = 5'000'000;
  cg.memory.reclaim_ns.add(6'000'000, 2);
  cg.memory.cache_hit_ratio = 0.25;
  cg.memory.knobs.current_bytes = 3ULL << 30;
  cg.memory.stat.inactive_file_bytes = 1ULL << 30;
  cg.memory.events.high = 6;
  cg.memory.events.max = 2;
  cg.memory.workingset_refault_anon = 30;
  cg.memory.workingset_refault_file = 12;
  cg.cpu_knobs.quota_usec = 150'000;
  cg.cpu_knobs.period_usec = 100'000;
  cg.memory.oom_kills = 1;
  cg.memory.pressure_some_usec = 20'000;
  cg.memory.pressure_full_usec = 10'000;
  // NFS: two mounts of this cgroup (getattr 2 ms, revalidate 3 ms; READ RPC time is not a
  // wait of the task: not stall time) and one row of another cgroup.
  NfsCgroupMountInterval m1, m2, other;
  m1.cgroup_id = m2.cgroup_id = 7;
  m1.dev = 1;
  m2.dev = 2;
  m1.ops[static_cast<std::size_t>(NfsOp::kGetattr)].time_ns = 2'000'000;
  m2.ops[static_cast<std::size_t>(NfsOp::kRevalidate)].time_ns = 3'000'000;
  m2.ops[static_cast<std::size_t>(NfsOp::kRead)].time_ns = 50'000'000;
  other.cgroup_id = 8;
  other.ops[static_cast<std::size_t>(NfsOp::kGetattr)].time_ns = 9'000'000;
  s.nfs.cgroups = {m2, other, m1};  // any order
  s.cgroups = {cg};
  Window w;
  ASSERT_TRUE(w.append(s).ok());

  Log2Histogram io = cg.io.read_latency_ns;
  io.merge(cg.io.write_latency_ns);
  const std::map<Series, float> expected = {
      {Series::kCpuPercent, 150.0f},
      {Series::kThrottledPercent, 75.0f},
      {Series::kThrottledSeconds, 0.02f},
      {Series::kRunDelaySeconds, 0.003f},
      {Series::kRunDelayP50Seconds, static_cast<float>(cg.run_delay_ns.percentile(0.5) / 1e9)},
      {Series::kRunDelayP99Seconds, static_cast<float>(cg.run_delay_ns.percentile(0.99) / 1e9)},
      {Series::kCpuPressureSeconds, 0.5f},
      {Series::kIoReadBytesPerSecond, 204800.0f},  // 409600 bytes in 2 s
      {Series::kIoWriteBytesPerSecond, 524288.0f},
      {Series::kIoReadOpsPerSecond, 50.0f},
      {Series::kIoWriteOpsPerSecond, 4.0f},
      {Series::kIoLatencyP50Seconds, static_cast<float>(io.percentile(0.5) / 1e9)},
      {Series::kIoLatencyP99Seconds, static_cast<float>(io.percentile(0.99) / 1e9)},
      {Series::kIoWaitSeconds, 0.25f},
      {Series::kDirtyThrottleSeconds, 0.04f},
      {Series::kIoPressureSomeSeconds, 0.3f},
      {Series::kIoPressureFullSeconds, 0.1f},
      {Series::kReclaimSeconds, 0.012f},
      {Series::kPageCacheHitRatio, 0.25f},
      {Series::kMemoryCurrentBytes, static_cast<float>(3ULL << 30)},
      {Series::kOomKills, 1.0f},
      {Series::kMemoryPressureSomeSeconds, 0.02f},
      {Series::kMemoryPressureFullSeconds, 0.01f},
      {Series::kNfsStallSeconds, 0.005f},  // 2 ms + 3 ms
      {Series::kCpuQuotaCores, 1.5f},
      {Series::kMemoryWorkingSetBytes, static_cast<float>(2ULL << 30)},  // current - inactive file
      {Series::kMemoryHighEvents, 6.0f},
      {Series::kMemoryMaxEvents, 2.0f},
      {Series::kMemoryRefaults, 42.0f},
      {Series::kDirectReclaimSeconds, static_cast<float>(cg.memory.direct_reclaim_ns / 1e9)},
  };
  ASSERT_EQ(expected.size(), kSeriesCount) << "a new series needs its expected value here";
  for (const auto& [series, v] : expected) EXPECT_EQ(value(w, 7, series, 0), v) << descriptor(series).name;
  // The percentiles are the histograms': p50 in the 1 us bucket, p99 of 108 I/Os in the 10 ms one.
  EXPECT_LT(value(w, 7, Series::kRunDelayP50Seconds, 0), 1e-6f);
  EXPECT_GT(value(w, 7, Series::kIoLatencyP99Seconds, 0), 8e-3f);
  // The other cgroup's NFS row is not attributed to anything (it is not in the snapshot).
  EXPECT_EQ(w.identity(8), nullptr);
}

TEST(WindowTest, IoRatesFallBackToIoStatLikeIoBytes) {
  auto s = interval_at(0, 4);
  CgroupInterval cg = row(3);
  cg.io.stat_rbytes = 4000;
  cg.io.stat_wbytes = 8000;
  cg.io.stat_rios = 40;
  s.cgroups = {cg};
  Window w;
  ASSERT_TRUE(w.append(s).ok());
  EXPECT_EQ(value(w, 3, Series::kIoReadBytesPerSecond, 0), 1000.0f);
  EXPECT_EQ(value(w, 3, Series::kIoWriteBytesPerSecond, 0), 2000.0f);
  EXPECT_EQ(value(w, 3, Series::kIoReadOpsPerSecond, 0), 10.0f);
  EXPECT_TRUE(std::isnan(value(w, 3, Series::kIoWriteOpsPerSecond, 0)));  // io.stat had no wios
  // Read + write is what every other sink shows (model::io_bytes), per second.
  EXPECT_EQ(
      (value(w, 3, Series::kIoReadBytesPerSecond, 0) + value(w, 3, Series::kIoWriteBytesPerSecond, 0)) * 4,
      io_bytes(cg));
  // No eBPF I/O collector: no latency, no dirty throttling; nothing about NFS without it.
  EXPECT_TRUE(std::isnan(value(w, 3, Series::kIoLatencyP99Seconds, 0)));
  EXPECT_TRUE(std::isnan(value(w, 3, Series::kDirtyThrottleSeconds, 0)));
  EXPECT_TRUE(std::isnan(value(w, 3, Series::kNfsStallSeconds, 0)));
}

// The NFS heat map holds the operations whose time is nfs_stall_seconds: give op i the time
// 2^i ns and one sample in bucket i; the buckets of the heat map must be the bits of stall_ns().
TEST(WindowTest, NfsLatencyHistogramHasTheStallOperations) {
  auto s = interval_at(0);
  s.nfs.active = true;
  NfsCgroupMountInterval r;
  r.cgroup_id = 5;
  for (std::size_t i = 0; i < kNfsOps; ++i) {
    r.ops[i].time_ns = std::uint64_t{1} << (i + 1);
    r.ops[i].time_ns_hist.add_to_bucket(i + 1, 1);
  }
  s.nfs.cgroups = {r};
  s.cgroups = {row(5)};
  Window w;
  ASSERT_TRUE(w.append(s).ok());
  const Log2Histogram h = w.histogram(5, HistogramSeries::kNfsLatency, w.all());
  std::uint64_t bits = 0;
  for (std::size_t b = 0; b < kLog2Buckets; ++b)
    if (h.buckets()[b]) bits |= std::uint64_t{1} << b;
  EXPECT_EQ(bits, r.stall_ns());
  EXPECT_EQ(value(w, 5, Series::kNfsStallSeconds, 0), static_cast<float>(r.stall_ns() / 1e9));
}

// Random cgroups that come and go, values with long constant stretches (the constant-column
// path) and changes mid-chunk (dense blocks made late), some unknown; eviction after 200 of
// 333 intervals. Every range statistic, value and ranking must equal a naive computation over
// the same floats: min, max, count exactly, sums to 1e-12 (summed in another order).
TEST(WindowTest, RangeStatisticsMatchANaiveComputation) {
  std::mt19937_64 rng(14);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  constexpr std::uint64_t kIntervals = 333, kCgroups = 30;
  Window w({.max_intervals = 200});
  std::map<std::pair<std::uint64_t, std::uint64_t>, float> naive;  // (id, interval) -> CPU %
  std::vector<double> level(kCgroups, 0);
  for (std::uint64_t i = 0; i < kIntervals; ++i) {
    auto s = interval_at(i);
    for (std::uint64_t id = 1; id <= kCgroups; ++id) {
      if (uniform(0, 1) < 0.15) continue;  // not there in this interval
      if (uniform(0, 1) < 0.05) level[id - 1] = uniform(0, 1) < 0.3 ? 0 : uniform(0, 400);  // a new level
      if (id % 7 == 0 && uniform(0, 1) < 0.3) {  // present, CPU unknown
        s.cgroups.push_back(row(id));
        continue;
      }
      const double cpu = id % 3 == 0 ? level[id - 1] + uniform(0, 1) : level[id - 1];
      s.cgroups.push_back(cpu_row(id, cpu));
      naive[{id, i}] = static_cast<float>(cpu);
    }
    ASSERT_TRUE(w.append(s).ok());
  }
  ASSERT_EQ(w.all(), (IntervalRange{133, 333}));

  auto naive_stats = [&](std::uint64_t id, IntervalRange r) {
    SeriesStats st;
    for (std::uint64_t i = std::max<std::uint64_t>(r.begin, 133); i < std::min<std::uint64_t>(r.end, 333);
         ++i)
      if (auto it = naive.find({id, i}); it != naive.end()) st.add(it->second);
    return st;
  };
  // Chunk edges (128, 192, 256, 320), the window's edges, beyond them, and random ranges.
  std::vector<IntervalRange> ranges = {{0, 1000},  {133, 333}, {128, 192}, {127, 193}, {192, 256},
                                       {191, 192}, {192, 193}, {255, 321}, {320, 333}, {0, 134},
                                       {332, 400}, {0, 133},   {140, 140}, {200, 150}};
  for (int i = 0; i < 200; ++i) {
    const auto a = static_cast<std::uint64_t>(uniform(100, 340));
    ranges.push_back({a, a + static_cast<std::uint64_t>(uniform(0, 120))});
  }
  for (const IntervalRange r : ranges) {
    for (std::uint64_t id = 1; id <= kCgroups; ++id) {
      const SeriesStats want = naive_stats(id, r);
      const SeriesStats got = w.stats(id, Series::kCpuPercent, r);
      ASSERT_EQ(got.count, want.count) << "cgroup " << id << " range [" << r.begin << ", " << r.end << ")";
      if (want.count == 0) continue;
      EXPECT_EQ(got.min, want.min);
      EXPECT_EQ(got.max, want.max);
      EXPECT_NEAR(got.sum, want.sum, 1e-12 * std::abs(want.sum) + 1e-12);
      const auto values = w.series(id, Series::kCpuPercent, r);
      for (std::size_t k = 0; k < values.values.size(); ++k) {
        auto it = naive.find({id, values.range.begin + k});
        const float expect = it == naive.end() ? NAN : it->second;
        ASSERT_TRUE(same(values.values[k], expect))
            << "cgroup " << id << " interval " << values.range.begin + k;
      }
      EXPECT_EQ(values.stats.count, want.count);
    }
    // Top 5 by sum and by mean against a sort of the naive statistics.
    for (Statistic by : {Statistic::kSum, Statistic::kMean, Statistic::kMax}) {
      std::vector<std::pair<double, std::uint64_t>> all;  // (-value, id): sorts highest first, ties by id
      for (std::uint64_t id = 1; id <= kCgroups; ++id) {
        const SeriesStats st = naive_stats(id, r);
        if (st.count) all.emplace_back(-value_of(st, by), id);
      }
      std::sort(all.begin(), all.end());
      const auto top = w.top({.series = Series::kCpuPercent, .by = by, .n = 5}, r);
      ASSERT_EQ(top.size(), std::min<std::size_t>(5, all.size()));
      for (std::size_t k = 0; k < top.size(); ++k) {
        EXPECT_EQ(top[k].id, all[k].second) << "rank " << k;
        EXPECT_NEAR(top[k].value, -all[k].first, 1e-9 * std::abs(all[k].first));
      }
    }
  }
  // The summaries of all cgroups agree with the per-series statistics.
  for (const CgroupSummary& cs : w.cgroups({150, 300})) {
    const SeriesStats st = naive_stats(cs.id, {150, 300});
    EXPECT_EQ(cs[Series::kCpuPercent].count, st.count);
    EXPECT_NEAR(cs[Series::kCpuPercent].sum, st.sum, 1e-9 * st.sum + 1e-12);
  }
}

TEST(WindowTest, TopRanksByTheStatisticWithTiesById) {
  Window w;
  // Sums over 2 intervals: id 10 -> 10, 11 -> 30 (max 25), 12 -> 30 (max 15), 13 -> 20 (one
  // interval only: mean 20), 14 -> unknown CPU (not ranked).
  auto s0 = interval_at(0), s1 = interval_at(1);
  s0.cgroups = {cpu_row(10, 5), cpu_row(11, 5), cpu_row(12, 15), row(14)};
  s1.cgroups = {cpu_row(10, 5), cpu_row(11, 25), cpu_row(12, 15), cpu_row(13, 20), row(14)};
  ASSERT_TRUE(w.append(s0).ok());
  ASSERT_TRUE(w.append(s1).ok());
  auto ids = [](const std::vector<RankedCgroup>& r) {
    std::vector<std::uint64_t> out;
    out.reserve(r.size());
    for (const auto& x : r) out.push_back(x.id);
    return out;
  };
  const auto by_sum = w.top({.series = Series::kCpuPercent, .by = Statistic::kSum, .n = 3}, w.all());
  EXPECT_EQ(ids(by_sum), (std::vector<std::uint64_t>{11, 12, 13}));  // 11 and 12 tie at 30: by id
  EXPECT_EQ(by_sum[0].value, 30.0);
  EXPECT_EQ(by_sum[0].stats.max, 25.0);
  EXPECT_EQ(ids(w.top({.series = Series::kCpuPercent, .by = Statistic::kMean, .n = 10}, w.all())),
            (std::vector<std::uint64_t>{13, 11, 12, 10}));  // means 20, 15, 15, 5
  EXPECT_EQ(ids(w.top({.series = Series::kCpuPercent, .by = Statistic::kMax, .n = 2}, w.all())),
            (std::vector<std::uint64_t>{11, 13}));
  EXPECT_EQ(ids(w.top({.series = Series::kCpuPercent, .by = Statistic::kSum, .n = 2, .order = Order::kLowest},
                      w.all())),
            (std::vector<std::uint64_t>{10, 13}));
  // Over interval 0 only: 13 was not there.
  EXPECT_EQ(ids(w.top({.series = Series::kCpuPercent, .n = 10}, {0, 1})),
            (std::vector<std::uint64_t>{12, 10, 11}));
  EXPECT_TRUE(w.top({.series = Series::kReclaimSeconds}, w.all()).empty());  // nobody has it
}

TEST(WindowTest, CountBoundEvictsExactly) {
  Window w({.max_intervals = 100});
  for (std::uint64_t i = 0; i < 250; ++i) {
    auto s = interval_at(i);
    s.cgroups = {cpu_row(1, static_cast<double>(i))};
    ASSERT_TRUE(w.append(s).ok());
  }
  EXPECT_EQ(w.all(), (IntervalRange{150, 250}));
  EXPECT_EQ(w.size(), 100u);
  EXPECT_EQ(w.counters().evicted, 150u);
  // Values 150..249: 100 of them, sum (150 + 249) * 100 / 2 = 19950. Interval 150 sits in the
  // middle of chunk 2 [128, 192), whose evicted first 22 slots are still in memory.
  const SeriesStats all = w.stats(1, Series::kCpuPercent, {0, 1000});
  EXPECT_EQ(all.count, 100u);
  EXPECT_EQ(all.min, 150.0);
  EXPECT_EQ(all.max, 249.0);
  EXPECT_EQ(all.sum, 19950.0);
  const SeriesStats head = w.stats(1, Series::kCpuPercent, {0, 160});
  EXPECT_EQ(head.count, 10u);  // 150..159
  EXPECT_EQ(head.min, 150.0);
  EXPECT_EQ(w.series(1, Series::kCpuPercent, {140, 152}).range, (IntervalRange{150, 152}));
  EXPECT_EQ(w.interval(150).start_monotonic_ns, kBase + 150 * kSecond);
  EXPECT_THROW(w.interval(149), std::out_of_range);
  EXPECT_EQ(w.latest(10), (IntervalRange{240, 250}));
  EXPECT_EQ(w.latest(1000), w.all());
}

TEST(WindowTest, AgeBoundEvictsExactly) {
  // 1 s intervals, max age 10 s: after interval 29 (ends at 30 s), intervals ending at 20 s or
  // earlier are out: 20..29 stay (ends 21..30 s).
  Window w({.max_intervals = 1000, .max_age_ns = 10 * kSecond});
  for (std::uint64_t i = 0; i < 30; ++i) {
    auto s = interval_at(i);
    s.cgroups = {cpu_row(1, 1)};
    ASSERT_TRUE(w.append(s).ok());
  }
  EXPECT_EQ(w.all(), (IntervalRange{20, 30}));
  // A 5 s interval after them (ends at 35 s): ends <= 25 s go, 25..29 and the new one stay.
  auto s = interval_at(30, 5);
  ASSERT_TRUE(w.append(s).ok());
  EXPECT_EQ(w.all(), (IntervalRange{25, 31}));
  // An interval longer than the age keeps itself.
  ASSERT_TRUE(w.append(interval_at(35, 60)).ok());
  EXPECT_EQ(w.all(), (IntervalRange{31, 32}));
  EXPECT_EQ(w.cgroup_count(), 0u);  // cgroup 1 was only in intervals that went
}

TEST(WindowTest, CgroupsThatComeAndGoKeepTheirHistoryUntilItAgesOut) {
  Window w({.max_intervals = 100});
  for (std::uint64_t i = 0; i < 300; ++i) {
    auto s = interval_at(i);
    s.cgroups.push_back(cpu_row(1, 1));  // always there
    if (i < 10) {
      auto gone = cpu_row(2, 2);
      gone.removed = i == 9;
      s.cgroups.push_back(gone);
    }
    // 3: intervals 0-9 and 20-29 (an id that comes back continues its series).
    if (i < 10 || (i >= 20 && i < 30)) s.cgroups.push_back(cpu_row(3, static_cast<double>(i)));
    ASSERT_TRUE(w.append(s).ok());
    if (i == 50) {
      ASSERT_NE(w.identity(2), nullptr);
      const auto cgroups = w.cgroups(w.all());
      ASSERT_EQ(cgroups.size(), 3u);
      EXPECT_TRUE(cgroups[1].removed);
      EXPECT_EQ(cgroups[1].first_index, 0u);
      EXPECT_EQ(cgroups[1].last_index, 9u);
      EXPECT_EQ(cgroups[1].intervals, 10u);
      EXPECT_EQ(cgroups[1][Series::kCpuPercent].sum, 20.0);
      const auto three = w.series(3, Series::kCpuPercent, {8, 22});
      EXPECT_EQ(three.values[0], 8.0f);
      EXPECT_EQ(three.values[1], 9.0f);
      for (std::size_t k = 2; k < 12; ++k) EXPECT_TRUE(std::isnan(three.values[k]));
      EXPECT_EQ(three.values[12], 20.0f);
      EXPECT_EQ(three.stats.count, 4u);
      EXPECT_EQ(cgroups[2].intervals, 20u);
      // Over a range after 2 and 3 vanished, only 1 is listed.
      EXPECT_EQ(w.cgroups({40, 51}).size(), 1u);
    }
    if (i == 109) {  // interval 9 is evicted: 2 is gone; 3 still has 20-29
      EXPECT_EQ(w.identity(2), nullptr);
      EXPECT_EQ(w.stats(2, Series::kCpuPercent, {0, 1000}).count, 0u);
      EXPECT_EQ(w.cgroups(w.all()).size(), 2u);
      EXPECT_EQ(w.top({.series = Series::kCpuPercent, .n = 10}, w.all()).size(), 2u);
      EXPECT_EQ(w.cgroups(w.all())[1].first_index, 20u);
      EXPECT_EQ(w.stats(3, Series::kCpuPercent, w.all()).count, 10u);
    }
  }
  EXPECT_EQ(w.cgroup_count(), 1u);
  EXPECT_EQ(w.identity(3), nullptr);
  // After interval 299 the window is [200, 300): chunks before 192 are freed, and with them
  // the storage of cgroups 2 and 3: one cgroup left, at most 2 chunks of it.
  Window one({.max_intervals = 100});
  for (std::uint64_t i = 0; i < 300; ++i) {
    auto s = interval_at(i);
    s.cgroups = {cpu_row(1, 1)};
    ASSERT_TRUE(one.append(s).ok());
  }
  // (Only container capacities may differ: w's vector of cgroups once held three.)
  EXPECT_LT(w.memory_bytes(), one.memory_bytes() + 200);
}

TEST(WindowTest, ResolvesMonotonicTimeRangesToIntervals) {
  Window w;
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(w.append(interval_at(i)).ok());
  // Interval i is [100 + i, 101 + i) s: [103.5 s, 106 s) overlaps intervals 3, 4 and 5.
  EXPECT_EQ(w.resolve({kBase + 3 * kSecond + kSecond / 2, kBase + 6 * kSecond}), (IntervalRange{3, 6}));
  EXPECT_EQ(w.resolve({kBase + 3 * kSecond, kBase + 4 * kSecond}), (IntervalRange{3, 4}));  // exactly one
  EXPECT_EQ(w.resolve({}), w.all());
  EXPECT_TRUE(w.resolve({0, kBase}).empty());
  EXPECT_TRUE(w.resolve({kBase + 20 * kSecond}).empty());
}

TEST(WindowTest, RejectsIntervalsOutOfOrderAndCountsDuplicateRows) {
  Window w;
  ASSERT_TRUE(w.append(interval_at(5)).ok());
  const Status st = w.append(interval_at(5));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.error().find("does not end after the previous one"), std::string::npos) << st.error();
  EXPECT_EQ(w.size(), 1u);
  auto s = interval_at(6);
  s.cgroups = {cpu_row(1, 10), cpu_row(1, 90)};
  ASSERT_TRUE(w.append(s).ok());
  EXPECT_EQ(w.counters().duplicate_rows, 1u);
  EXPECT_EQ(value(w, 1, Series::kCpuPercent, 1), 10.0f);
}

// Heat maps: one histogram per interval, exactly as appended (empty ones and absent intervals
// read back empty); the merged histogram over a range is their sum; the percentile series
// agree with them.
TEST(WindowTest, HistogramsRoundTripExactlyThroughTheSparseStorage) {
  std::mt19937_64 rng(7);
  Window w({.max_intervals = 150});
  std::vector<Log2Histogram> run(200), io(200), reclaim(200);
  for (std::uint64_t i = 0; i < 200; ++i) {
    auto s = interval_at(i);
    auto cg = cpu_row(1, 1);
    cg.io.has_bpf = true;
    cg.memory.has_bpf = true;
    const int kind = static_cast<int>(rng() % 5);
    if (kind == 1) cg.run_delay_ns.add_to_bucket(rng() % 64, 1 + rng() % 3);  // one bucket
    if (kind == 2)  // many buckets, counts of every size up to 2^64 - 1
      for (int k = 0; k < 20; ++k) cg.run_delay_ns.add_to_bucket(rng() % 64, rng() >> (rng() % 64));
    if (kind == 3) {
      cg.run_delay_ns.add_to_bucket(0, 1);
      cg.run_delay_ns.add_to_bucket(63, ~std::uint64_t{0});
    }
    cg.io.read_latency_ns.add_to_bucket(10 + rng() % 10, rng() % 1000);
    cg.io.write_latency_ns.add_to_bucket(12 + rng() % 10, rng() % 100);
    if (i % 3 == 0) cg.memory.reclaim_ns.add(rng() % 10'000'000, 1);
    run[i] = cg.run_delay_ns;
    io[i] = cg.io.read_latency_ns;
    io[i].merge(cg.io.write_latency_ns);
    reclaim[i] = cg.memory.reclaim_ns;
    if (i % 11 != 5) s.cgroups = {cg};  // some intervals without the cgroup
    if (i % 11 == 5) run[i] = io[i] = reclaim[i] = {};
    ASSERT_TRUE(w.append(s).ok());
  }
  ASSERT_EQ(w.all(), (IntervalRange{50, 200}));
  for (const IntervalRange r : {IntervalRange{0, 200}, IntervalRange{60, 70}, IntervalRange{127, 129}}) {
    const auto got_run = w.heat_map(1, HistogramSeries::kRunDelay, r);
    const auto got_io = w.heat_map(1, HistogramSeries::kIoLatency, r);
    const auto got_reclaim = w.heat_map(1, HistogramSeries::kReclaimStall, r);
    const IntervalRange clipped{std::max<std::uint64_t>(r.begin, 50), r.end};
    ASSERT_EQ(got_run.size(), clipped.size());
    Log2Histogram merged;
    for (std::uint64_t i = clipped.begin; i < clipped.end; ++i) {
      EXPECT_EQ(got_run[i - clipped.begin], run[i]) << "interval " << i;
      EXPECT_EQ(got_io[i - clipped.begin], io[i]) << "interval " << i;
      EXPECT_EQ(got_reclaim[i - clipped.begin], reclaim[i]) << "interval " << i;
      merged.merge(io[i]);
      // The percentile series are the histograms' own percentiles, absent when no bucket has a
      // count (Log2Histogram::empty() would say "empty" where counts near 2^64 add up to 0).
      auto no_counts = [](const Log2Histogram& h) {
        return std::all_of(h.buckets().begin(), h.buckets().end(), [](std::uint64_t b) { return b == 0; });
      };
      const float p99 = no_counts(run[i]) ? NAN : static_cast<float>(run[i].percentile(0.99) / 1e9);
      EXPECT_TRUE(same(value(w, 1, Series::kRunDelayP99Seconds, i), p99)) << "interval " << i;
      const float io_p50 = no_counts(io[i]) ? NAN : static_cast<float>(io[i].percentile(0.5) / 1e9);
      EXPECT_TRUE(same(value(w, 1, Series::kIoLatencyP50Seconds, i), io_p50)) << "interval " << i;
    }
    EXPECT_EQ(w.histogram(1, HistogramSeries::kIoLatency, r), merged);
  }
  EXPECT_TRUE(w.histogram(1, HistogramSeries::kNfsLatency, w.all()).empty());
}

TEST(WindowTest, TreeFollowsDockerKubernetesAndSystemdPaths) {
  const std::string pod =
      "/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice";
  const std::string ctr = pod + "/cri-containerd-" + std::string(64, 'a') + ".scope";
  auto s = interval_at(0);
  // The pod slice and the burstable slice are not in the snapshot: path prefixes only.
  s.cgroups = {row(1, "/"),
               row(2, "/system.slice"),
               row(3, "/system.slice/docker-" + std::string(64, 'b') + ".scope"),
               row(4, "/system.slice/nginx.service"),
               row(5, "/kubepods.slice"),
               row(6, ctr),
               row(0, ""),  // the kernel I/O bucket
               row(7, "/user.slice")};
  s.cgroups[7].identity.path.clear();  // known only by id: "cgroup#7"
  auto s1 = interval_at(1);
  s1.cgroups = {row(1, "/"), row(8, "/system.slice/nginx.service")};  // nginx restarted: a new id
  auto s2 = interval_at(2);
  s2.cgroups = {row(1, "/")};
  Window w;
  for (const auto* x : {&s, &s1, &s2}) ASSERT_TRUE(w.append(*x).ok());

  const CgroupTree tree = w.tree(w.all());
  std::vector<std::string> lines;  // "depth path id"
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const auto& n = tree.nodes[i];
    const CgroupSummary* cs = tree.summary(n);
    lines.push_back(std::string(2 * static_cast<std::size_t>(n.depth), ' ') + n.name +
                    (cs ? " #" + std::to_string(cs->id) : ""));
    if (i > 0) {
      ASSERT_LT(n.parent, i);
      EXPECT_EQ(n.depth, tree.nodes[n.parent].depth + 1);
    }
  }
  const std::vector<std::string> expected = {
      "/ #1",
      "  [kernel I/O] #0",
      "  cgroup#7 #7",
      "  kubepods.slice #5",
      "    kubepods-burstable.slice",
      "      kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice",
      "        cri-containerd-" + std::string(64, 'a') + ".scope #6",
      "  system.slice #2",
      "    docker-" + std::string(64, 'b') + ".scope #3",
      "    nginx.service #4",
      "    nginx.service #8",
  };
  EXPECT_EQ(lines, expected);
  // Pre-order: a subtree is a contiguous run of nodes.
  EXPECT_EQ(tree.nodes[0].subtree_end, tree.nodes.size());
  EXPECT_EQ(tree.nodes[3].subtree_end, 7u);
  EXPECT_EQ(tree.nodes[3].children, (std::vector<std::size_t>{4}));
  EXPECT_EQ(tree.summary(tree.nodes[6])->identity->container.pod_uid, "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
  // Over the last interval only the root is there.
  EXPECT_EQ(w.tree({2, 3}).nodes.size(), 1u);
}

namespace {

// A Source of prepared Samples.
class VectorSource : public Source {
 public:
  explicit VectorSource(std::vector<Sample> samples) : samples_(std::move(samples)) {}
  Result<std::optional<Sample>> next() override {
    if (next_ == samples_.size()) return std::optional<Sample>{};
    return std::optional<Sample>{samples_[next_++]};
  }
  std::string description() const override { return "test samples"; }

 private:
  std::vector<Sample> samples_;
  std::size_t next_ = 0;
};

}  // namespace

TEST(WindowTest, IsFilledByRunStreamFromASource) {
  // Three samples 1 s apart: cgroup 1 runs 0.5 s, then 0.25 s (50 %, 25 %); cgroup 2 appears
  // in the second interval.
  std::vector<Sample> samples(3);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i].monotonic_ns = kBase + i * kSecond;
    samples[i].nr_cpus = 2;
    CgroupSample a;
    a.identity.id = 1;
    a.identity.path = "/a";
    a.cpu_bpf = CpuBpfCounters{};
    a.cpu_bpf->on_cpu_ns = std::vector<std::uint64_t>{1'000'000'000, 1'500'000'000, 1'750'000'000}[i];
    samples[i].cgroups.push_back(a);
  }
  CgroupSample b;
  b.identity.id = 2;
  b.identity.path = "/b";
  b.cpu_stat.usage_usec = 100'000;  // first sight: all of it in the interval, 10 %
  samples[2].cgroups.push_back(b);
  VectorSource source(samples);
  Window w;
  SnapshotSink* sinks[] = {&w};
  const auto stats = run_stream(source, sinks, {});
  ASSERT_TRUE(stats.ok()) << stats.error();
  EXPECT_EQ(stats->intervals, 2u);
  ASSERT_EQ(w.all(), (IntervalRange{0, 2}));
  EXPECT_EQ(w.interval(0).start_monotonic_ns, kBase);
  const auto a = w.series(1, Series::kCpuPercent, w.all());
  EXPECT_EQ(a.values, (std::vector<float>{50.0f, 25.0f}));
  EXPECT_EQ(value(w, 2, Series::kCpuPercent, 1), 10.0f);
  EXPECT_EQ(w.identity(2)->path, "/b");
}

// Constant columns cost no value block: 64 intervals of an idle cgroup take less than those of
// one whose CPU changes every interval, by one 64-float block.
TEST(WindowTest, ConstantSeriesTakeNoValueBlock) {
  Window idle, busy;
  for (std::uint64_t i = 0; i < 64; ++i) {
    auto s = interval_at(i);
    s.cgroups = {cpu_row(1, 0)};
    ASSERT_TRUE(idle.append(s).ok());
    s.cgroups = {cpu_row(1, static_cast<double>(i))};
    ASSERT_TRUE(busy.append(s).ok());
  }
  EXPECT_EQ(busy.memory_bytes() - idle.memory_bytes(), 64 * sizeof(float));
  EXPECT_EQ(busy.stats(1, Series::kCpuPercent, {10, 20}).sum, 145.0);  // 10 + ... + 19
  EXPECT_EQ(idle.stats(1, Series::kCpuPercent, {10, 20}).count, 10u);
}

// Blame and demand records share the chunk's byte area with the histograms: each query reads
// its own kind over exactly the range, across chunk edges, and the histograms are unchanged.
TEST(WindowTest, BlameDemandStateAndNfsOverARange) {
  Window w;
  for (std::uint64_t i = 0; i < 70; ++i) {  // chunk 0 and part of chunk 1
    Snapshot s = interval_at(i);
    CgroupInterval cg = cpu_row(7, 50);
    cg.run_delay_ns.add(1000, 2);
    cg.run_delay_blame = {{0, 10, 1}, {7, 100, 2}, {9, 1000 + i, 3}};
    cg.run_delay_blame_overflow_ns = 5;
    cg.run_delay_blame_overflow_waits = 1;
    cg.cpu_demand_slot_ns = 100'000'000;
    cg.cpu_demand = {{20, 2}, {static_cast<std::uint32_t>(i % 2 ? 90 : 30), 8}};
    cg.cpu_demand_missed_slots = i == 65 ? 1 : 0;
    cg.cpu_knobs.quota_usec = 20'000 + static_cast<std::int64_t>(i);
    cg.cpu_knobs.period_usec = 100'000;
    s.cgroups = {cg};
    s.nfs.active = i >= 60;
    ASSERT_TRUE(w.append(s).ok());
  }
  const IntervalRange r{60, 70};
  const BlameTotals b = w.blame(7, r);
  ASSERT_EQ(b.holders.size(), 3u);
  EXPECT_EQ(b.holders[0].cgroup_id, 9u);  // most wait first
  EXPECT_EQ(b.holders[0].wait_ns, 10'000u + (60 + 69) * 10 / 2);
  EXPECT_EQ(b.holders[0].waits, 30u);
  EXPECT_EQ(b.holders[1].cgroup_id, 7u);
  EXPECT_EQ(b.holders[1].wait_ns, 1000u);
  EXPECT_EQ(b.holders[2].cgroup_id, 0u);
  EXPECT_EQ(b.overflow_ns, 50u);
  EXPECT_EQ(b.overflow_waits, 10u);
  EXPECT_EQ(b.total_ns(), b.holders[0].wait_ns + 1000 + 100 + 50);

  const DemandDistribution d = w.demand(7, r);
  EXPECT_EQ(d.slot_ns, 100'000'000u);
  EXPECT_EQ(d.slots, 100u);
  EXPECT_EQ(d.missed_slots, 1u);
  ASSERT_EQ(d.buckets.size(), 3u);
  EXPECT_DOUBLE_EQ(d.percentile(0.2), 0.21);  // 20 slots at 0.20
  EXPECT_DOUBLE_EQ(d.percentile(0.5), 0.31);  // 40 at 0.30
  EXPECT_DOUBLE_EQ(d.max(), 0.91);
  EXPECT_EQ(w.demand(7, {0, 1}).slots, 10u);

  ASSERT_NE(w.state(7), nullptr);
  EXPECT_EQ(w.state(7)->index, 69u);
  EXPECT_EQ(w.state(7)->cpu.quota_usec, 20'069);
  EXPECT_EQ(w.state(8), nullptr);
  const auto nfs = w.nfs({55, 70});
  ASSERT_EQ(nfs.size(), 15u);
  EXPECT_FALSE(nfs[0]->active);
  EXPECT_TRUE(nfs[5]->active);
  EXPECT_EQ(w.histogram(7, HistogramSeries::kRunDelay, r).count(), 20u);
}

// ---- the NFS part of each interval ----

namespace {

// An NFS part with every field set to something other than its default, histograms included
// (which the window does not keep); `i` changes some numbers from one interval to the next.
NfsInterval full_nfs(std::uint64_t i) {
  NfsInterval n;
  n.active = true;
  n.negative_lookups_visible = true;
  n.page_size = 16384;
  NfsMount a;
  a.dev = 53;
  a.sb_instance = 7001;
  a.mount_id = 301;
  a.mount_point = "/mnt/shared-data-volume";
  a.source = "filer.example.com:/exports/shared";
  a.server = "filer.example.com";
  a.export_path = "/exports/shared";
  a.fstype = "nfs4";
  a.vers = "4.2";
  a.options = {{"rw", ""}, {"vers", "4.2"}, {"actimeo", "5"}, {"addr", "10.0.0.5"}, {"nocto", ""}};
  a.acregmin_s = a.acregmax_s = a.acdirmin_s = a.acdirmax_s = 5;
  a.close_to_open = false;
  a.lookupcache = "positive";
  a.nconnect = 4;
  a.rsize = a.wsize = 1 << 20;
  NfsMount b = a;
  b.dev = 54;
  b.sb_instance = 0;
  b.vanished = true;
  b.mount_point = "/mnt/b";
  b.attribute_cache = false;
  b.rsize.reset();
  n.mounts = {a, b};

  NfsMountStats st;
  st.source = a.source;
  st.mount_point = a.mount_point;
  st.fstype = "nfs4";
  st.age_seconds = 100 + i;
  st.events = {{"inode_revalidate", 12 + i}, {"vfs_open", 0}, {"silly_rename", 1}};
  st.bytes = {{"normal_read", std::uint64_t{1} << 30}, {"normal_write", 0}};
  st.transport = "tcp";
  st.xprt = {{"sends", 500 + i}, {"backlog_u", 0}};
  st.ops["GETATTR"] = {.ops = 40 + i,
                       .transmissions = 41,
                       .major_timeouts = 1,
                       .bytes_sent = 9000,
                       .bytes_received = 12000,
                       .queue_ms = 3,
                       .rtt_ms = 80,
                       .execute_ms = 90,
                       .errors = 2};
  st.ops["WRITE"] = {.ops = 7, .transmissions = 7, .bytes_sent = 7 << 20, .rtt_ms = 30, .execute_ms = 35};
  NfsMountStats st_b;  // a mount with hardly anything in its mountstats
  st_b.source = b.source;
  st_b.mount_point = b.mount_point;
  st_b.transport = "udp";
  st_b.ops["NULL"] = {.errors = 0};
  n.mountstats_delta = {st, st_b};

  NfsCgroupMountInterval r;
  r.cgroup_id = 10;
  r.dev = a.dev;
  r.sb_instance = a.sb_instance;
  auto& getattr = r.ops[static_cast<std::size_t>(NfsOp::kGetattr)];
  getattr.count = 5 + i;
  getattr.time_ns = 1'000'000;
  getattr.time_ns_hist.add(200'000, 5);
  auto& open = r.ops[static_cast<std::size_t>(NfsOp::kOpen)];  // errors only
  open.errors = {2, 1, 0, 0, 0, 0};
  r.ops[static_cast<std::size_t>(NfsOp::kRevalidate)].time_ns_hist.add(1000);  // a histogram only
  r.read_bytes = 1 << 20;
  r.write_bytes = 2;
  r.dirtied_pages = 3;
  r.invalidated_pages = 4;
  r.lookup_negative = 5;
  r.negative_trusted = 6;
  r.negative_rejected = 7;
  r.negative_stale = ~std::uint64_t{0};  // the longest varint
  r.silly_renames = 9;
  NfsCgroupMountInterval r2;  // every operation
  r2.cgroup_id = 11;
  r2.dev = b.dev;
  for (std::size_t op = 0; op < kNfsOps; ++op) {
    r2.ops[op].count = op + 1;
    r2.ops[op].time_ns = 1000 * (op + 1);
    r2.ops[op].errors[op % kNfsErrors] = op;
  }
  n.cgroups = {r, r2};

  NfsRpcInterval rpc;
  rpc.cgroup_id = 10;
  rpc.prog = 100003;
  rpc.vers = 4;
  rpc.procedure = "GETATTR";
  rpc.count = 40;
  rpc.rtt_us = 800;
  rpc.execute_us = 900;
  rpc.retransmits = 1;
  rpc.timeouts = 2;
  rpc.rtt_us_hist.add(20, 40);
  rpc.execute_us_hist.add(22, 40);
  n.rpc = {rpc};

  const NfsFileCgroup writer{
      .cgroup_id = 10, .dev = a.dev, .sb_instance = a.sb_instance, .written_bytes = 4096, .dirtied_pages = 1};
  const NfsFileCgroup reader{
      .cgroup_id = 11, .dev = b.dev, .reads = 3 + i, .revalidations = 2, .invalidations = 1};
  n.files = {{.export_id = 77, .fileid = 123456789012, .cgroups = {writer, reader}},
             {.export_id = 77, .fileid = 5, .cgroups = {reader}}};
  n.stale_names = {{.export_id = 77,
                    .dir_fileid = 99,
                    .name_hash = 0xdeadbeef,
                    .victim_cgroup_id = 11,
                    .creator_cgroup_id = 10,
                    .victim_dev = b.dev,
                    .victim_sb_instance = 3,
                    .count = 2}};
  n.shared_writers = {{.export_name = "filer.example.com:/exports/shared",
                       .fileid = 123456789012,
                       .writers = {writer},
                       .readers = {reader}}};
  n.shared_files_not_shown = 3;
  n.negative_lookups = {{.export_name = "filer.example.com:/exports/shared",
                         .victim_cgroup_id = 11,
                         .creator_cgroup_id = 10,
                         .victim_dev = b.dev,
                         .victim_sb_instance = 3,
                         .stale_lookups = 2,
                         .names = 1,
                         .directories = 1}};
  return n;
}

NfsInterval without_histograms(NfsInterval n) {
  for (auto& r : n.cgroups)
    for (auto& op : r.ops) op.time_ns_hist = {};
  for (auto& r : n.rpc) r.rtt_us_hist = r.execute_us_hist = {};
  return n;
}

// Every field, one by one (the interval structs have no operator==).
void expect_same_nfs(const NfsInterval& got, const NfsInterval& want) {
  EXPECT_EQ(got.active, want.active);
  EXPECT_EQ(got.negative_lookups_visible, want.negative_lookups_visible);
  EXPECT_EQ(got.page_size, want.page_size);
  EXPECT_TRUE(got.mounts == want.mounts);
  EXPECT_TRUE(got.mountstats_delta == want.mountstats_delta);
  auto row = [](const NfsCgroupMountInterval& r) {
    return std::tie(r.cgroup_id, r.dev, r.sb_instance, r.ops, r.read_bytes, r.write_bytes, r.dirtied_pages,
                    r.invalidated_pages, r.lookup_negative, r.negative_trusted, r.negative_rejected,
                    r.negative_stale, r.silly_renames);
  };
  ASSERT_EQ(got.cgroups.size(), want.cgroups.size());
  for (std::size_t k = 0; k < got.cgroups.size(); ++k)
    EXPECT_TRUE(row(got.cgroups[k]) == row(want.cgroups[k]));
  auto rpc = [](const NfsRpcInterval& r) {
    return std::tie(r.cgroup_id, r.prog, r.vers, r.procedure, r.count, r.rtt_us, r.execute_us, r.retransmits,
                    r.timeouts, r.rtt_us_hist, r.execute_us_hist);
  };
  ASSERT_EQ(got.rpc.size(), want.rpc.size());
  for (std::size_t k = 0; k < got.rpc.size(); ++k) EXPECT_TRUE(rpc(got.rpc[k]) == rpc(want.rpc[k]));
  auto file = [](const NfsFileInterval& f) { return std::tie(f.export_id, f.fileid, f.cgroups); };
  ASSERT_EQ(got.files.size(), want.files.size());
  for (std::size_t k = 0; k < got.files.size(); ++k) EXPECT_TRUE(file(got.files[k]) == file(want.files[k]));
  EXPECT_TRUE(got.stale_names == want.stale_names);
  auto writers = [](const NfsSharedWriterHazard& h) {
    return std::tie(h.export_name, h.fileid, h.writers, h.readers);
  };
  ASSERT_EQ(got.shared_writers.size(), want.shared_writers.size());
  for (std::size_t k = 0; k < got.shared_writers.size(); ++k)
    EXPECT_TRUE(writers(got.shared_writers[k]) == writers(want.shared_writers[k]));
  EXPECT_EQ(got.shared_files_not_shown, want.shared_files_not_shown);
  auto lookups = [](const NfsNegativeLookupHazard& h) {
    return std::tie(h.export_name, h.victim_cgroup_id, h.creator_cgroup_id, h.victim_dev,
                    h.victim_sb_instance, h.stale_lookups, h.names, h.directories);
  };
  ASSERT_EQ(got.negative_lookups.size(), want.negative_lookups.size());
  for (std::size_t k = 0; k < got.negative_lookups.size(); ++k)
    EXPECT_TRUE(lookups(got.negative_lookups[k]) == lookups(want.negative_lookups[k]));
}

}  // namespace

// The window keeps the NFS part of an interval without its histograms (the latency of each
// cgroup's NFS waits is in its kNfsLatency series): everything else comes back as appended,
// for each interval of a range.
TEST(WindowTest, NfsPartRoundTripsWithoutHistograms) {
  Window w;
  for (std::uint64_t i = 0; i < 3; ++i) {
    Snapshot s = interval_at(i);
    s.nfs = full_nfs(i);
    ASSERT_TRUE(w.append(s).ok());
  }
  const NfsIntervals nfs = w.nfs(w.all());
  ASSERT_EQ(nfs.size(), 3u);
  for (std::uint64_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    expect_same_nfs(*nfs[k], without_histograms(full_nfs(k)));
  }
  EXPECT_TRUE(nfs[0]->cgroups[0].ops[static_cast<std::size_t>(NfsOp::kGetattr)].time_ns_hist.empty());
  EXPECT_EQ(nfs[2]->mountstats_delta[0].ops.at("GETATTR").errors, 2u);
  EXPECT_EQ(nfs[2]->mountstats_delta[0].ops.at("WRITE").errors, std::nullopt);
  // A range inside the window (a copy of the list rebuilds from the window), and range-for.
  NfsIntervals copy;
  {
    const NfsIntervals one = w.nfs({1, 2});
    copy = one;
  }
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0]->mountstats_delta[0].age_seconds, 101u);
  std::uint64_t reads = 0;
  for (const NfsInterval* iv : nfs) reads += iv->files[0].cgroups[1].reads;
  EXPECT_EQ(reads, 3u + 4u + 5u);
  EXPECT_EQ(w.nfs({5, 9}).size(), 0u);  // outside the window
}

// The list rebuilds an interval when asked for it and keeps the last NfsIntervals::kCached it
// rebuilt: a pointer survives kCached - 1 accesses to other intervals, asking again for a
// cached interval gives the same pointer, inactive intervals share one empty interval for the
// list's life, and the list never holds more than kCached rebuilt intervals.
TEST(WindowTest, NfsIntervalsRebuildOnAccessAndKeepTheLastFew) {
  static_assert(NfsIntervals::kCached >= 2, "the NFS rules hold intervals k - 1 and k together");
  constexpr std::uint64_t kN = 12;
  Window w;
  for (std::uint64_t i = 0; i < kN; ++i) {
    Snapshot s = interval_at(i);
    s.nfs = full_nfs(i);
    s.nfs.active = i != 3;
    ASSERT_TRUE(w.append(s).ok());
  }
  const NfsIntervals nfs = w.nfs(w.all());
  ASSERT_EQ(nfs.size(), kN);
  auto expect_interval = [](const NfsInterval* iv, std::uint64_t i) {
    SCOPED_TRACE(i);
    if (i == 3) {
      expect_same_nfs(*iv, NfsInterval{});
    } else {
      expect_same_nfs(*iv, without_histograms(full_nfs(i)));
    }
  };

  // kCached - 1 accesses to other intervals after p leave p valid; the inactive one rebuilds
  // nothing.
  const NfsInterval* first = nfs[0];
  std::vector<const NfsInterval*> others;
  for (std::uint64_t i = 1; i < NfsIntervals::kCached; ++i) others.push_back(nfs[i]);
  const NfsInterval* inactive = nfs[3];
  expect_interval(first, 0);
  for (std::uint64_t i = 1; i < NfsIntervals::kCached; ++i) expect_interval(others[i - 1], i);
  EXPECT_EQ(nfs[0], first);  // cached: not rebuilt
  expect_interval(inactive, 3);

  // Consecutive intervals held together, over the whole range.
  for (std::uint64_t k = 1; k < kN; ++k) {
    const NfsInterval* before = nfs[k - 1];
    const NfsInterval* now = nfs[k];
    expect_interval(before, k - 1);
    expect_interval(now, k);
  }

  // Iteration gives every interval in order, rebuilt into at most kCached places; the inactive
  // interval is the same one as before.
  std::set<const NfsInterval*> places;
  std::uint64_t i = 0;
  for (const NfsInterval* iv : nfs) {
    expect_interval(iv, i);
    if (i++ == 3) {
      EXPECT_EQ(iv, inactive);
    } else {
      places.insert(iv);
    }
  }
  EXPECT_EQ(i, kN);
  EXPECT_EQ(places.size(), NfsIntervals::kCached);
  EXPECT_EQ(static_cast<std::uint64_t>(
                std::count_if(nfs.begin(), nfs.end(), [](const NfsInterval* iv) { return iv->active; })),
            kN - 1);

  // A list that outlived the eviction of its intervals reads them as inactive.
  Window small({.max_intervals = 2});
  for (std::uint64_t j = 0; j < 2; ++j) {
    Snapshot s = interval_at(j);
    s.nfs = full_nfs(j);
    ASSERT_TRUE(small.append(s).ok());
  }
  const NfsIntervals old = small.nfs(small.all());
  Snapshot s = interval_at(2);
  s.nfs = full_nfs(2);
  ASSERT_TRUE(small.append(s).ok());
  EXPECT_FALSE(old[0]->active);
  expect_same_nfs(*old[1], without_histograms(full_nfs(1)));
}

// An interval without the NFS collector is inactive and empty, whatever its NfsInterval held,
// and takes no bytes beyond its place in the window.
TEST(WindowTest, InactiveNfsIntervalsAreStoredAsNothing) {
  Window mixed, off, never;
  for (std::uint64_t i = 0; i < 10; ++i) {
    Snapshot s = interval_at(i);
    ASSERT_TRUE(never.append(s).ok());
    s.nfs = full_nfs(i);
    s.nfs.active = i % 2 == 0;
    ASSERT_TRUE(mixed.append(s).ok());
    s.nfs.active = false;
    ASSERT_TRUE(off.append(s).ok());
  }
  EXPECT_EQ(off.memory_bytes(), never.memory_bytes());
  const NfsIntervals nfs = mixed.nfs(mixed.all());
  ASSERT_EQ(nfs.size(), 10u);
  for (std::uint64_t k = 0; k < 10; ++k) {
    SCOPED_TRACE(k);
    if (k % 2 == 0) {
      expect_same_nfs(*nfs[k], without_histograms(full_nfs(k)));
    } else {
      expect_same_nfs(*nfs[k], NfsInterval{});
    }
  }
}

// The mounts and the names of their mountstats are stored once for all the intervals in which
// they stay the same; a change makes a new copy, and each interval comes back with its own.
TEST(WindowTest, NfsMountsAreSharedWhileTheyStayTheSame) {
  Window same, changing;
  for (std::uint64_t i = 0; i < 100; ++i) {
    Snapshot s = interval_at(i);
    s.nfs = full_nfs(i);
    ASSERT_TRUE(same.append(s).ok());
    s.nfs.mounts[0].mount_id = static_cast<std::uint32_t>(1000 + i);  // remounted every interval
    ASSERT_TRUE(changing.append(s).ok());
  }
  // The numbers are the same in both: the difference is 99 more copies of two mounts (their
  // structs alone are 2 x sizeof(NfsMount), plus strings and options).
  EXPECT_GE(changing.memory_bytes() - same.memory_bytes(), 99 * 2 * sizeof(NfsMount));
  const NfsIntervals nfs = changing.nfs(changing.all());
  for (std::uint64_t k = 0; k < 100; k += 33) EXPECT_EQ(nfs[k]->mounts[0].mount_id, 1000 + k);

  // A mount goes away for one interval and comes back.
  Window w;
  for (std::uint64_t i = 0; i < 3; ++i) {
    Snapshot s = interval_at(i);
    s.nfs = full_nfs(i);
    if (i == 1) {
      s.nfs.mounts.pop_back();
      s.nfs.mountstats_delta.pop_back();
    }
    ASSERT_TRUE(w.append(s).ok());
  }
  const NfsIntervals three = w.nfs(w.all());
  EXPECT_EQ(three[0]->mounts.size(), 2u);
  EXPECT_EQ(three[1]->mounts.size(), 1u);
  EXPECT_EQ(three[1]->mountstats_delta.size(), 1u);
  expect_same_nfs(*three[2], without_histograms(full_nfs(2)));
}

// memory_bytes() counts the NFS part: far less than the NfsIntervals themselves (two rows are
// 2 x 9.3 KB there), and it leaves the count when its intervals leave the window.
TEST(WindowTest, MemoryBytesCountTheNfsPartUntilItIsEvicted) {
  Window with({.max_intervals = 10}), never({.max_intervals = 10});
  for (std::uint64_t i = 0; i < 10; ++i) {
    Snapshot s = interval_at(i);
    ASSERT_TRUE(never.append(s).ok());
    s.nfs = full_nfs(i);
    ASSERT_TRUE(with.append(s).ok());
  }
  const std::size_t nfs_bytes = with.memory_bytes() - never.memory_bytes();
  EXPECT_GE(nfs_bytes, 2 * sizeof(NfsMount) + 10 * 100);  // one copy of the mounts, >= 100 B of numbers each
  EXPECT_LT(nfs_bytes, 2 * sizeof(NfsCgroupMountInterval));
  // Ten intervals without NFS push them all out; what is left is the encoding buffer.
  for (std::uint64_t i = 10; i < 20; ++i) {
    ASSERT_TRUE(with.append(interval_at(i)).ok());
    ASSERT_TRUE(never.append(interval_at(i)).ok());
  }
  EXPECT_LT(with.memory_bytes(), never.memory_bytes() + 1024);
  const NfsIntervals nfs = with.nfs(with.all());
  EXPECT_TRUE(std::none_of(nfs.begin(), nfs.end(), [](const NfsInterval* iv) { return iv->active; }));
}

// Eviction by count and by age keeps the NFS part in step with the intervals.
TEST(WindowTest, NfsPartFollowsEviction) {
  Window w({.max_intervals = 4, .max_age_ns = 3 * kSecond});
  for (std::uint64_t i = 0; i < 12; ++i) {
    Snapshot s = interval_at(i, i == 11 ? 2 : 1);  // the last one is 2 s long: the age bound bites
    s.nfs = full_nfs(i);
    s.nfs.active = i % 3 != 0;
    ASSERT_TRUE(w.append(s).ok());
  }
  // Ends: ..., 10 s, 11 s, 13 s: the intervals ending within 3 s of 13 s are 10 and 11.
  ASSERT_EQ(w.all(), (IntervalRange{10, 12}));
  const NfsIntervals nfs = w.nfs(w.all());
  ASSERT_EQ(nfs.size(), 2u);
  expect_same_nfs(*nfs[0], without_histograms(full_nfs(10)));
  expect_same_nfs(*nfs[1], without_histograms(full_nfs(11)));
}
