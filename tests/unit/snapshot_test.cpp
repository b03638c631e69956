#include "model/snapshot.hpp"

#include <gtest/gtest.h>

#include "model/json.hpp"

using namespace cgscope::model;

namespace {

CgroupSample cgroup(std::uint64_t id, const std::string& path) {
  CgroupSample cg;
  cg.identity.id = id;
  cg.identity.path = path;
  return cg;
}

}  // namespace

TEST(SnapshotTest, DeriveComputesRatesAndHistogramDeltas) {
  Sample prev, curr;
  prev.monotonic_ns = 1'000'000'000;
  curr.monotonic_ns = 3'000'000'000;  // 2 s
  prev.nr_cpus = curr.nr_cpus = 2;

  auto a0 = cgroup(10, "/a");
  a0.cpu_bpf = CpuBpfCounters{};
  a0.cpu_bpf->on_cpu_ns = 500'000'000;
  a0.cpu_bpf->wakeup_delay_ns.add(2000, 5);
  a0.cpu_stat.usage_usec = 1'000'000;
  a0.cpu_stat.nr_periods = 100;
  a0.cpu_stat.nr_throttled = 10;
  auto a1 = a0;
  a1.cpu_bpf->on_cpu_ns += 1'000'000'000;  // 1 s in 2 s = 50 %
  a1.cpu_bpf->wakeup_delay_ns.add(2000, 3);
  a1.cpu_bpf->preempt_delay_ns.add(4'000'000, 2);
  a1.cpu_bpf->involuntary_switches = 7;
  a1.cpu_stat.usage_usec = 2'000'000;
  a1.cpu_stat.nr_periods = 120;
  a1.cpu_stat.nr_throttled = 25;
  a1.cpu_pressure.some = PsiLine{1.5, 1.0, 0.5, 9000};
  prev.cgroups = {a0};
  curr.cgroups = {a1};

  const Snapshot s = derive(prev, curr);
  ASSERT_EQ(s.cgroups.size(), 1u);
  const auto& a = s.cgroups[0];
  EXPECT_DOUBLE_EQ(s.interval_seconds(), 2.0);
  EXPECT_FALSE(a.is_new);
  EXPECT_TRUE(a.has_bpf);
  EXPECT_NEAR(a.cpu_percent, 50.0, 1e-9);
  ASSERT_TRUE(a.cpu_percent_cgroupfs);
  EXPECT_NEAR(*a.cpu_percent_cgroupfs, 50.0, 1e-9);
  EXPECT_EQ(a.wakeup_delay_ns.count(), 3u);
  EXPECT_EQ(a.preempt_delay_ns.count(), 2u);
  EXPECT_EQ(a.run_delay_ns.count(), 5u);
  EXPECT_EQ(a.involuntary_switches, 7u);
  ASSERT_TRUE(a.throttled_percent);
  EXPECT_NEAR(*a.throttled_percent, 75.0, 1e-9);  // 15 of 20 periods
  ASSERT_TRUE(a.cpu_pressure_some_usec);
  EXPECT_EQ(*a.cpu_pressure_some_usec, 9000u);  // no earlier reading: all of it
}

TEST(SnapshotTest, NewAndRemovedCgroupsAreMarked) {
  Sample prev, curr;
  prev.monotonic_ns = 0;
  curr.monotonic_ns = 1'000'000'000;
  auto gone = cgroup(1, "/gone");
  gone.cpu_bpf = CpuBpfCounters{};
  gone.cpu_bpf->on_cpu_ns = 100;
  prev.cgroups = {gone};
  auto gone_now = gone;
  gone_now.removed = true;
  gone_now.cpu_bpf->on_cpu_ns = 300;
  auto fresh = cgroup(2, "/fresh");
  fresh.cpu_stat.usage_usec = 40;
  curr.cgroups = {gone_now, fresh};

  const Snapshot s = derive(prev, curr);
  ASSERT_EQ(s.cgroups.size(), 2u);
  EXPECT_TRUE(s.cgroups[0].removed);
  EXPECT_EQ(s.cgroups[0].on_cpu_ns, 200u);  // the last values are not lost
  EXPECT_TRUE(s.cgroups[1].is_new);
  EXPECT_EQ(s.cgroups[1].usage_usec.value_or(0), 40u);
  EXPECT_FALSE(s.cgroups[1].has_bpf);
}

TEST(SnapshotTest, CounterResetCountsFromZero) {
  Sample prev, curr;
  curr.monotonic_ns = 1'000'000'000;
  auto a0 = cgroup(5, "/a");
  a0.cpu_stat.usage_usec = 5'000;
  auto a1 = a0;
  a1.cpu_stat.usage_usec = 1'000;
  prev.cgroups = {a0};
  curr.cgroups = {a1};
  EXPECT_EQ(derive(prev, curr).cgroups[0].usage_usec.value_or(0), 1'000u);
}

TEST(SnapshotTest, ThrottledPercentIsZeroWithoutNewPeriods) {
  Sample prev, curr;
  curr.monotonic_ns = 1;
  auto a = cgroup(5, "/a");
  a.cpu_stat.nr_periods = 10;
  a.cpu_stat.nr_throttled = 0;
  prev.cgroups = {a};
  curr.cgroups = {a};
  const auto s = derive(prev, curr);
  ASSERT_TRUE(s.cgroups[0].throttled_percent);  // 0 of 0 new periods: reported as 0
  EXPECT_EQ(*s.cgroups[0].throttled_percent, 0.0);
}

TEST(SnapshotTest, JsonHasTheDocumentedKeys) {
  Sample prev, curr;
  curr.monotonic_ns = 1'000'000'000;
  auto a = cgroup(7, "/system.slice/x.service");
  a.cpu_bpf = CpuBpfCounters{};
  a.cpu_bpf->wakeup_delay_ns.add(3000, 2);
  prev.cgroups = {cgroup(7, "/system.slice/x.service")};
  curr.cgroups = {a};
  const auto j = to_json(derive(prev, curr));
  ASSERT_EQ(j["cgroups"].size(), 1u);
  const auto& cg = j["cgroups"][0];
  EXPECT_EQ(cg["id"], 7);
  EXPECT_EQ(cg["path"], "/system.slice/x.service");
  EXPECT_EQ(cg["bpf"]["run_delay"]["count"], 2);
  EXPECT_EQ(cg["bpf"]["wakeup_delay"]["buckets"]["2048"], 2);
  EXPECT_TRUE(cg["cgroupfs"].contains("throttled_percent"));
}

// A stream derives each interval into the storage of the one before (run_stream): what that
// leaves must equal a fresh derive, whatever the earlier interval held (more rows, blame rows,
// demand slots, histograms, cgroups in another order).
TEST(SnapshotTest, DeriveIntoAReusedSnapshotEqualsAFreshOne) {
  Sample a, b, c;
  a.monotonic_ns = 1'000'000'000;
  b.monotonic_ns = 2'000'000'000;
  c.monotonic_ns = 3'000'000'000;
  auto busy0 = cgroup(10, "/busy/with/a/long/path/that/does/not/fit/in/place");
  busy0.cpu_bpf = CpuBpfCounters{};
  busy0.cpu_bpf->blame = {{20, 1'000, 2}, {30, 5'000, 1}};
  busy0.cpu_demand = {100'000'000, {{50, 3}, {120, 7}}, 0};
  busy0.cpu_stat.usage_usec = 10;
  auto busy1 = busy0;
  busy1.cpu_bpf->on_cpu_ns = 900'000'000;
  busy1.cpu_bpf->wakeup_delay_ns.add(4'000, 9);
  busy1.cpu_bpf->blame = {{20, 9'000, 5}, {30, 5'000, 1}};
  busy1.cpu_demand.buckets = {{50, 5}, {120, 12}};
  busy1.cpu_stat.usage_usec = 900'000;
  auto idle = cgroup(20, "/idle");
  idle.cpu_stat.usage_usec = 5;
  a.cgroups = {busy0, idle};
  b.cgroups = {busy1, idle};
  // c: the busy one is idle now and comes second; a new cgroup first.
  auto quiet = busy1;
  quiet.cpu_bpf->wakeup_delay_ns = busy1.cpu_bpf->wakeup_delay_ns;
  c.cgroups = {cgroup(40, "/new"), quiet, idle};

  Snapshot reused = derive(a, b);
  ASSERT_EQ(reused.cgroups[0].run_delay_blame.size(), 1u);  // only 20 grew
  ASSERT_EQ(reused.cgroups[0].cpu_demand.size(), 2u);
  derive(b, c, reused);
  const Snapshot fresh = derive(b, c);
  EXPECT_EQ(to_json(reused).dump(), to_json(fresh).dump());
  ASSERT_EQ(reused.cgroups.size(), 3u);
  for (std::size_t i = 0; i < fresh.cgroups.size(); ++i) {
    EXPECT_EQ(reused.cgroups[i].identity, fresh.cgroups[i].identity);
    EXPECT_EQ(reused.cgroups[i].is_new, fresh.cgroups[i].is_new);
    EXPECT_EQ(reused.cgroups[i].run_delay_blame, fresh.cgroups[i].run_delay_blame);
    EXPECT_EQ(reused.cgroups[i].cpu_demand, fresh.cgroups[i].cpu_demand);
    EXPECT_EQ(reused.cgroups[i].run_delay_ns.count(), fresh.cgroups[i].run_delay_ns.count());
  }
  EXPECT_TRUE(reused.cgroups[0].is_new);
  EXPECT_TRUE(reused.cgroups[1].run_delay_blame.empty());
  EXPECT_TRUE(reused.cgroups[1].cpu_demand.empty());
  EXPECT_EQ(reused.cgroups[1].run_delay_ns.count(), 0u);
}
