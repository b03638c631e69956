// CPU demand per slot: the arithmetic of one slot, the schedule of the sampler, the sampler
// itself driven by hand over fake cgroupfs files (no thread), where read_cpu says to read
// demand from, and the --demand-slot option.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/live_options.hpp"
#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/cgroupfs/demand_sampler.hpp"

using namespace cgscope;
using namespace cgscope::collector;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

DemandReading at(std::uint64_t ms, std::uint64_t usage_ms, std::uint64_t throttled_ms) {
  return {ms * kMs, usage_ms * kMs, throttled_ms * kMs};
}

std::vector<model::CpuDemandBucket> buckets(std::initializer_list<model::CpuDemandBucket> b) { return b; }

}  // namespace

// ---- one slot ----

// A 20% quota on a busy thread: 20 ms run + 80 ms throttled in 100 ms = one CPU of demand,
// where usage alone says 0.2.
TEST(CpuDemandSlot, UsagePlusThrottledOverTheSlot) {
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 20, 80), 2), 100u);
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 20, 0), 2), 20u);
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 0, 0), 2), 0u);
}

// Hundredths rounded down: 29.99 ms in 100 ms is 29, not 30.
TEST(CpuDemandSlot, QuantizedDown) {
  EXPECT_EQ(slot_centi_cpus({0, 0, 0}, {100 * kMs, 29'990'000, 0}, 1), 29u);
  EXPECT_EQ(slot_centi_cpus({0, 0, 0}, {100 * kMs, 30'000'000, 0}, 1), 30u);
  EXPECT_EQ(slot_centi_cpus({0, 0, 0}, {100 * kMs, 9'999'999, 0}, 1), 9u);
}

// The real elapsed time, not the nominal slot: 30 ms of CPU in a slot stretched to 150 ms is
// 0.20 CPU; in one cut to 60 ms, 0.50.
TEST(CpuDemandSlot, OverTheRealElapsedTime) {
  EXPECT_EQ(slot_centi_cpus(at(1000, 500, 0), at(1150, 530, 0), 4), 20u);
  EXPECT_EQ(slot_centi_cpus(at(1000, 500, 0), at(1060, 530, 0), 4), 50u);
}

// Never more than every CPU: 300 ms of usage + throttling in 100 ms on 2 CPUs reads 2.00.
// (Throttled time is summed over the per-CPU run queues and charged when they are unthrottled,
// so a slot can hold more than its share of it.)
TEST(CpuDemandSlot, CappedAtEveryCpu) {
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 150, 150), 2), 200u);
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 150, 150), 8), 300u);
  EXPECT_EQ(slot_centi_cpus(at(0, 0, 0), at(100, 150, 150), 0), 100u);  // no CPU count: one
}

// A process stalled for an hour on 1024 CPUs: 64-bit ns x 100 would overflow, the answer does not.
TEST(CpuDemandSlot, LongSlotsOnManyCpusDoNotOverflow) {
  const std::uint64_t hour = 3600ULL * 1'000'000'000ULL;
  EXPECT_EQ(slot_centi_cpus({0, 0, 0}, {hour, 1000 * hour, 24 * hour}, 2048), 102400u);
}

TEST(CpuDemandSlot, NotMeasurableWithoutTimeOrWhenCountersGoBack) {
  EXPECT_FALSE(slot_centi_cpus(at(100, 0, 0), at(100, 10, 0), 2));   // no time elapsed
  EXPECT_FALSE(slot_centi_cpus(at(100, 50, 0), at(200, 10, 0), 2));  // usage went back: another cgroup
  EXPECT_FALSE(slot_centi_cpus(at(100, 0, 50), at(200, 10, 0), 2));  // throttled went back
}

// ---- the schedule ----

TEST(CpuDemandSchedule, OnTimeSkipsNothing) {
  const Wake w = after_wake(1000 * kMs, 1000 * kMs + 300'000, 100 * kMs);  // 0.3 ms late
  EXPECT_EQ(w.skipped_slots, 0u);
  EXPECT_EQ(w.next_deadline_ns, 1100 * kMs);  // on the grid, not 0.3 ms later
}

// Woken 250 ms late with 100 ms slots: the deadlines at +100 and +200 passed too. The long slot
// is measured as one; the two skipped are missed; the grid continues at +300.
TEST(CpuDemandSchedule, LateWakeupSkipsWholeSlots) {
  const Wake w = after_wake(1000 * kMs, 1250 * kMs, 100 * kMs);
  EXPECT_EQ(w.skipped_slots, 2u);
  EXPECT_EQ(w.next_deadline_ns, 1300 * kMs);
  const Wake exact = after_wake(1000 * kMs, 1200 * kMs, 100 * kMs);  // exactly on a later deadline
  EXPECT_EQ(exact.skipped_slots, 2u);
  EXPECT_EQ(exact.next_deadline_ns, 1300 * kMs);
}

TEST(CpuDemandSchedule, BucketsStaySortedAndCumulative) {
  std::vector<model::CpuDemandBucket> b;
  for (std::uint32_t c : {100u, 20u, 100u, 55u, 20u, 100u}) add_slot(b, c);
  EXPECT_EQ(b, buckets({{20, 2}, {55, 1}, {100, 3}}));
}

// ---- the sampler over fake files, no thread ----

namespace {

class DemandSamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cgscope-demand-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    now_ns_ = 5000 * kMs;
    // No file kept open (as beyond the budget): a removed fake file then reads ENOENT as a
    // removed cgroup's reads ENODEV, where a kept fd of a removed regular file would read on.
    sampler_ = make(/*max_open_files=*/0);
  }
  static std::unique_ptr<DemandSampler> make(int max_open_files) {
    auto s = DemandSampler::manual(
        {.slot = 100ms, .nr_cpus = 2, .clock_ns = [] { return now_ns_; }, .max_open_files = max_open_files});
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(*s) : nullptr;
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& content) {
    const fs::path p = root_ + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  // v2: one cpu.stat; v1: throttled_time in the cpu controller, usage in cpuacct.
  void set_v2(std::uint64_t usage_ms, std::uint64_t throttled_ms) {
    write("/unified/a/cpu.stat",
          "usage_usec " + std::to_string(usage_ms * 1000) +
              "\nuser_usec 0\nsystem_usec 0\nnr_periods 9\nnr_throttled 3\nthrottled_usec " +
              std::to_string(throttled_ms * 1000) + "\nnr_bursts 0\nburst_usec 0\n");
  }
  void set_v1(std::uint64_t usage_ms, std::uint64_t throttled_ms) {
    write("/cpu/b/cpu.stat", "nr_periods 9\nnr_throttled 3\nthrottled_time " +
                                 std::to_string(throttled_ms * kMs) + "\nnr_bursts 0\nburst_time 0\n");
    write("/cpuacct/b/cpuacct.usage", std::to_string(usage_ms * kMs) + "\n");
  }
  DemandTarget v2_target() { return {1, {.cpu_stat = root_ + "/unified/a/cpu.stat", .cpuacct_usage = ""}}; }
  DemandTarget v1_target() {
    return {2, {.cpu_stat = root_ + "/cpu/b/cpu.stat", .cpuacct_usage = root_ + "/cpuacct/b/cpuacct.usage"}};
  }
  // One round at t ms.
  void round(std::uint64_t t_ms, std::uint64_t skipped = 0) {
    now_ns_ = t_ms * kMs;
    sampler_->read_round(skipped);
  }
  // The interval read: samples of cgroups 1, 2 and 3 with what the sampler has, and a new set.
  std::vector<model::CgroupSample> exchange(std::vector<DemandTarget> targets) {
    std::vector<model::CgroupSample> cgroups(3);
    for (std::uint64_t i = 0; i < 3; ++i) cgroups[i].identity.id = i + 1;
    sampler_->exchange(cgroups, std::move(targets));
    return cgroups;
  }

  std::string root_;
  static inline std::uint64_t now_ns_ = 0;
  std::unique_ptr<DemandSampler> sampler_;
};

}  // namespace

// v2 (one file) and v1 (two files) cgroups, each slot measured over the clock between reads.
TEST_F(DemandSamplerTest, CountsEachSlotOfEachCgroupInItsBucket) {
  set_v2(0, 0);
  set_v1(0, 0);
  auto none = exchange({v2_target(), v1_target()});
  EXPECT_EQ(none[0].cpu_demand, model::CpuDemand{});  // not sampled yet: slot_ns 0, no buckets
  EXPECT_EQ(sampler_->sampled(), 2u);

  round(1000);     // the first read of each: a base, no slot
  set_v2(20, 80);  // 20 ms run + 80 ms throttled
  set_v1(30, 0);
  round(1100);
  set_v2(40, 160);
  set_v1(60, 0);
  round(1200);
  set_v2(60, 240);
  set_v1(75, 0);
  round(1300);
  auto s = exchange({v2_target(), v1_target()});
  EXPECT_EQ(s[0].cpu_demand.slot_ns, 100 * kMs);
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{100, 3}}));
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 0u);
  EXPECT_EQ(s[1].cpu_demand.buckets, buckets({{15, 1}, {30, 2}}));
  EXPECT_EQ(s[2].cpu_demand, model::CpuDemand{});  // no quota: not sampled
  EXPECT_EQ(sampler_->read_errors(), 0u);
}

// A late wake-up: the long slot is one slot over its real length, the skipped ones are missed.
TEST_F(DemandSamplerTest, LateRoundCountsSkippedSlotsAsMissed) {
  set_v2(0, 0);
  (void)exchange({v2_target()});
  round(1000);
  set_v2(90, 0);  // 90 ms of CPU over 300 ms: 0.30 CPU
  round(1300, /*skipped=*/2);
  auto s = exchange({v2_target()});
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{30, 1}}));
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 2u);
}

// A file that vanished: the cgroup leaves the set, each slot missed until the interval read puts
// it back; its next read is a new base (one more missed slot), then it is measured again.
// Counts are kept throughout (cumulative).
TEST_F(DemandSamplerTest, VanishedFileDropsTheCgroupWithItsSlotsMissed) {
  set_v2(0, 0);
  (void)exchange({v2_target()});
  round(1000);
  set_v2(50, 0);
  round(1100);  // one slot at 50
  fs::remove(root_ + "/unified/a/cpu.stat");
  round(1200);  // missed (read failed)
  round(1300);  // missed (out of the set)
  EXPECT_EQ(sampler_->sampled(), 0u);
  set_v2(100, 0);
  auto s = exchange({v2_target()});  // still has a quota: back in the set
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{50, 1}}));
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 2u);
  round(1400);  // the new base ends a third unmeasured slot
  set_v2(110, 0);
  round(1500);
  s = exchange({v2_target()});
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{10, 1}, {50, 1}}));
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 3u);
  EXPECT_EQ(sampler_->read_errors(), 0u) << "a vanished cgroup is not an error";
}

// Garbage in a file is an error (counted, last message kept), and the slot is missed.
TEST_F(DemandSamplerTest, UnparsableFileIsAnErrorAndAMissedSlot) {
  set_v1(0, 0);
  (void)exchange({v1_target()});
  round(1000);
  write("/cpuacct/b/cpuacct.usage", "lots\n");
  round(1100);
  auto s = exchange({v1_target()});
  EXPECT_EQ(s[1].cpu_demand.missed_slots, 1u);
  EXPECT_EQ(sampler_->read_errors(), 1u);
  EXPECT_NE(sampler_->last_error().find("cpuacct.usage"), std::string::npos) << sampler_->last_error();
}

// A cgroup whose quota was removed reports the slots measured until then, then is forgotten;
// given a quota again it starts from zero (derive() sees slot_ns 0 in between).
TEST_F(DemandSamplerTest, CgroupLeavingTheSetIsForgotten) {
  set_v2(0, 0);
  (void)exchange({v2_target()});
  round(1000);
  set_v2(10, 0);
  round(1100);
  auto s = exchange({});  // quota removed
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{10, 1}}));
  round(1200);
  s = exchange({v2_target()});  // quota again
  EXPECT_EQ(s[0].cpu_demand, model::CpuDemand{});
  round(1300);
  set_v2(30, 0);
  round(1400);
  s = exchange({v2_target()});
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{20, 1}}));
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 0u);
}

// Another cgroup created under the same path: its counters are not deltas of the old one's.
TEST_F(DemandSamplerTest, RecreatedCgroupIsNotMeasuredAgainstTheOldOne) {
  set_v2(500, 0);
  (void)exchange({v2_target()});
  round(1000);
  // A new file (another inode: made before the old one goes) with counters that did not go back.
  fs::copy_file(root_ + "/unified/a/cpu.stat", root_ + "/unified/a/new.stat");
  fs::rename(root_ + "/unified/a/new.stat", root_ + "/unified/a/cpu.stat");
  set_v2(900, 0);
  round(1100);
  auto s = exchange({v2_target()});
  EXPECT_TRUE(s[0].cpu_demand.buckets.empty());
  EXPECT_EQ(s[0].cpu_demand.missed_slots, 1u);
}

// Files kept open are read again from offset 0 (new content, no reopening) within the budget,
// the rest opened at each read; the kept ones are closed when their cgroup leaves the set.
TEST_F(DemandSamplerTest, KeptFilesAreReadAgainAndClosedWhenForgotten) {
  auto fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  sampler_ = make(/*max_open_files=*/2);  // v2 takes one, v1 two: one of v1's is opened each time
  set_v2(0, 0);
  set_v1(0, 0);
  const std::size_t before = fds();
  (void)exchange({v2_target(), v1_target()});
  round(1000);
  EXPECT_EQ(sampler_->open_files(), 2u);
  EXPECT_EQ(fds(), before + 2);
  set_v2(40, 0);  // rewritten in place, as the kernel's files change under a kept fd
  set_v1(0, 50);
  round(1100);
  auto s = exchange({v1_target()});  // cgroup 1 lost its quota
  EXPECT_EQ(s[0].cpu_demand.buckets, buckets({{40, 1}}));
  EXPECT_EQ(s[1].cpu_demand.buckets, buckets({{50, 1}}));
  EXPECT_EQ(sampler_->open_files(), 1u) << "cgroup 1's file closed";
  EXPECT_EQ(fds(), before + 1);
  sampler_.reset();
  EXPECT_EQ(fds(), before);
}

TEST(DemandSamplerOptionsTest, SlotOutOfRangeIsAClearError) {
  auto small = DemandSampler::manual({.slot = 5ms});
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().find("5ms out of range (10ms to 1000ms)"), std::string::npos) << small.error();
  EXPECT_FALSE(DemandSampler::manual({.slot = 2s}).ok());
  EXPECT_TRUE(DemandSampler::manual({.slot = 10ms}).ok());
  EXPECT_TRUE(DemandSampler::manual({.slot = 1s}).ok());
}

// The real thread: starts, samples nothing when nothing has a quota, stops at once.
TEST(DemandSamplerThreadTest, StopsPromptly) {
  auto s = DemandSampler::start({.slot = 1s});
  ASSERT_TRUE(s.ok()) << s.error();
  std::this_thread::sleep_for(20ms);
  const auto t0 = std::chrono::steady_clock::now();
  s->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);  // not the 1 s slot
}

// ---- where read_cpu says demand is read from ----

namespace {

class DemandFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cgscope-demand-files-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& content) {
    const fs::path p = root_ + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  CgroupfsOptions options(Layout layout) {
    CgroupfsOptions o;
    o.hierarchy.layout = layout;
    if (layout != Layout::kV1) o.hierarchy.v2_root = root_ + "/unified";
    if (layout != Layout::kV2) {
      o.hierarchy.v1_roots["cpu"] = root_ + "/cpu";
      o.hierarchy.v1_roots["cpuacct"] = root_ + (layout == Layout::kV1 ? "/cpu" : "/cpuacct");
    }
    o.proc_root = root_ + "/proc";
    return o;
  }
  DemandFiles files_of(Cgroupfs& cg, const std::string& path, const std::string& v1_path = "") {
    model::CgroupSample s;
    s.identity.path = path;
    s.identity.v1_cpu_path = v1_path;
    s.identity.v1_cpuacct_path = v1_path;
    DemandFiles f;
    cg.read_cpu(s, &f);
    return f;
  }
  std::string root_;
};

}  // namespace

TEST_F(DemandFilesTest, PureV2ReadsTheV2CpuStatOfCgroupsWithAQuota) {
  write("/unified/q/cpu.max", "20000 100000\n");
  write("/unified/q/cpu.stat", "usage_usec 1\nthrottled_usec 2\n");
  write("/unified/free/cpu.max", "max 100000\n");
  write("/unified/free/cpu.stat", "usage_usec 1\nthrottled_usec 2\n");
  Cgroupfs cg(options(Layout::kV2));
  EXPECT_EQ(files_of(cg, "/q"),
            (DemandFiles{.cpu_stat = root_ + "/unified/q/cpu.stat", .cpuacct_usage = ""}));
  EXPECT_EQ(files_of(cg, "/free"), DemandFiles{});
}

// Hybrid: the quota is the v1 cpu controller's, so are usage (cpuacct) and throttled time,
// even though v2 has a cpu.stat (usage only) too.
TEST_F(DemandFilesTest, HybridReadsTheV1ControllersThatHoldTheQuota) {
  write("/unified/web/cpu.stat", "usage_usec 5\n");
  write("/cpu/web/cpu.cfs_quota_us", "20000\n");
  write("/cpu/web/cpu.cfs_period_us", "100000\n");
  write("/cpu/web/cpu.stat", "nr_periods 1\nnr_throttled 1\nthrottled_time 3\n");
  write("/cpuacct/web/cpuacct.usage", "9\n");
  write("/cpu/free/cpu.cfs_quota_us", "-1\n");
  write("/unified/free/cpu.stat", "usage_usec 5\n");
  Cgroupfs cg(options(Layout::kHybrid));
  EXPECT_EQ(files_of(cg, "/web", "/web"),
            (DemandFiles{.cpu_stat = root_ + "/cpu/web/cpu.stat",
                         .cpuacct_usage = root_ + "/cpuacct/web/cpuacct.usage"}));
  EXPECT_EQ(files_of(cg, "/free", "/free"), DemandFiles{});
}

// Pure v1 with cpu and cpuacct co-mounted: both files in the one directory.
TEST_F(DemandFilesTest, PureV1CoMounted) {
  write("/cpu/batch/cpu.cfs_quota_us", "50000\n");
  write("/cpu/batch/cpu.stat", "throttled_time 0\n");
  write("/cpu/batch/cpuacct.usage", "0\n");
  Cgroupfs cg(options(Layout::kV1));
  EXPECT_EQ(files_of(cg, "/batch", "/batch"),
            (DemandFiles{.cpu_stat = root_ + "/cpu/batch/cpu.stat",
                         .cpuacct_usage = root_ + "/cpu/batch/cpuacct.usage"}));
}

// ---- --demand-slot ----

TEST(DemandSlotOption, ParsedAndChecked) {
  cli::LiveOptions o;
  auto slot = [&](const std::string& text) {
    o.demand_slot = text;
    return o.parsed_demand_slot();
  };
  EXPECT_EQ(*slot("100ms"), 100ms);  // the default
  EXPECT_EQ(*slot(cli::LiveOptions{}.demand_slot), 100ms);
  EXPECT_EQ(*slot("10ms"), 10ms);
  EXPECT_EQ(*slot("1s"), 1s);
  EXPECT_EQ(*slot("0"), 0ns);  // off
  EXPECT_EQ(*slot("0ms"), 0ns);
  EXPECT_EQ(*slot("0.0s"), 0ns);
  for (const char* bad : {"5ms", "2s", "abc", "-100ms", "0x", "100 ms", ""}) {
    auto r = slot(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().rfind("--demand-slot: ", 0), 0u) << r.error();
  }
  EXPECT_NE(slot("5ms").error().find("10ms to 1s, or 0"), std::string::npos) << slot("5ms").error();
}
