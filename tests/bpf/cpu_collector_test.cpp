// The CPU collector, for real: eBPF in this kernel, cgroups on this host, pinned burners.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "collector/pipeline.hpp"
#include "model/snapshot.hpp"
#include "tests/bpf/workload.hpp"

using namespace cgscope;
using namespace std::chrono_literals;

namespace {

#define REQUIRE_BPF_PREREQUISITES()                                   \
  do {                                                                \
    if (auto why = test::bpf_test_prerequisites(); !why.empty())      \
      GTEST_SKIP() << why;                                            \
  } while (0)

collector::Hierarchy host_hierarchy() {
  auto h = collector::discover_hierarchy();
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error());
  return h.ok() ? *h : collector::Hierarchy{};
}

std::string unique_root() { return "/cgscope-test-" + std::to_string(getpid()); }

std::unique_ptr<collector::Pipeline> make_pipeline(collector::CpuBpfMode mode = collector::CpuBpfMode::kAuto,
                                                   bool v1_identity = false, std::uint32_t max_cgroups = 8192) {
  collector::PipelineOptions options;
  options.bpf = collector::BpfPolicy::kRequired;
  options.cpu.mode = mode;
  options.cpu.max_cgroups = max_cgroups;
  options.v1_identity = v1_identity;
  auto p = collector::Pipeline::create(options);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error());
  return p.ok() ? std::move(*p) : nullptr;
}

model::Sample take(collector::Pipeline& p) {
  auto s = p.sample();
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
  return s.ok() ? std::move(*s) : model::Sample{};
}

const model::CgroupInterval* find(const model::Snapshot& s, std::uint64_t id) {
  for (const auto& cg : s.cgroups)
    if (cg.identity.id == id) return &cg;
  return nullptr;
}

std::set<int> bpftool_ids(const char* what) {
  std::set<int> ids;
  const std::string cmd = std::string("bpftool -j ") + what + " show 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return ids;
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
  pclose(f);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_array())
    for (const auto& e : j) ids.insert(e.value("id", -1));
  return ids;
}

// program id -> its map ids, from bpftool.
std::map<int, std::vector<int>> bpftool_prog_maps() {
  std::map<int, std::vector<int>> out;
  FILE* f = popen("bpftool -j prog show 2>/dev/null", "r");
  if (!f) return out;
  std::string text;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), f)) text.append(buf.data(), n);
  pclose(f);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& p : j) out[p.value("id", -1)] = p.value("map_ids", std::vector<int>{});
  return out;
}

double relative_error(double measured, double reference) {
  return reference > 0 ? std::abs(measured - reference) / reference : 1.0;
}

class CpuCollectorModeTest : public ::testing::TestWithParam<collector::CpuBpfMode> {};

}  // namespace

// Two cgroups on one CPU: A with 2 busy threads, B with 1. On-CPU time agrees with the
// kernel's own accounting within 5%, A gets about twice B, and both wait >= 1 ms to run.
TEST_P(CpuCollectorModeTest, OnCpuTimeMatchesKernelAccountingWhenOversubscribed) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  auto pipeline = make_pipeline(GetParam());
  ASSERT_TRUE(pipeline);
  ASSERT_EQ(pipeline->cpu_collector()->mode(), GetParam());

  auto a = test::TestCgroup::create(h, unique_root() + "/a");
  auto b = test::TestCgroup::create(h, unique_root() + "/b");
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  // With group scheduling each cgroup gets its share, not each thread: give A twice B's
  // share so that "A gets twice B" holds on hybrid/v1 (cpu.shares) and v2 (cpu.weight) alike.
  if ((*a)->has_v1_cpu()) {
    ASSERT_TRUE((*a)->write_v1_cpu("cpu.shares", "2048"));
    ASSERT_TRUE((*b)->write_v1_cpu("cpu.shares", "1024"));
  } else {
    (void)(*a)->write_v2("cpu.weight", "200");
    (void)(*b)->write_v2("cpu.weight", "100");
  }
  auto burn_a = test::Burner::start(**a, 2, 0);
  auto burn_b = test::Burner::start(**b, 1, 0);
  ASSERT_TRUE(burn_a.ok()) << burn_a.error();
  ASSERT_TRUE(burn_b.ok()) << burn_b.error();
  std::this_thread::sleep_for(500ms);  // let them settle

  const auto s0 = take(*pipeline);
  const auto ka0 = (*a)->kernel_usage_ns(), kb0 = (*b)->kernel_usage_ns();
  std::this_thread::sleep_for(4s);
  const auto s1 = take(*pipeline);
  const auto ka1 = (*a)->kernel_usage_ns(), kb1 = (*b)->kernel_usage_ns();
  const auto snap = model::derive(s0, s1);

  const auto* ca = find(snap, (*a)->v2_id());
  const auto* cb = find(snap, (*b)->v2_id());
  ASSERT_TRUE(ca && cb) << "test cgroups not found in the snapshot";
  ASSERT_TRUE(ca->has_bpf && cb->has_bpf);
  const double kernel_a = static_cast<double>(ka1 - ka0), kernel_b = static_cast<double>(kb1 - kb0);
  EXPECT_LT(relative_error(ca->on_cpu_ns, kernel_a), 0.05) << ca->on_cpu_ns << " vs kernel " << kernel_a;
  EXPECT_LT(relative_error(cb->on_cpu_ns, kernel_b), 0.05) << cb->on_cpu_ns << " vs kernel " << kernel_b;
  const double ratio = static_cast<double>(ca->on_cpu_ns) / static_cast<double>(cb->on_cpu_ns);
  EXPECT_GT(ratio, 1.7) << "A/B on-CPU ratio";
  EXPECT_LT(ratio, 2.3) << "A/B on-CPU ratio";
  // Together they fill one CPU.
  EXPECT_NEAR(ca->cpu_percent + cb->cpu_percent, 100.0, 8.0);
  EXPECT_GE(ca->run_delay_ns.percentile(0.5), 1'000'000u);
  EXPECT_GE(cb->run_delay_ns.percentile(0.5), 1'000'000u);
  EXPECT_GT(ca->involuntary_switches + cb->involuntary_switches, 100u);
  // Busy loops never block: the waits are preemptions.
  EXPECT_GT(ca->preempt_delay_ns.count(), ca->wakeup_delay_ns.count());
  // The cgroupfs side of the same snapshot agrees with the kernel too.
  ASSERT_TRUE(ca->cpu_percent_cgroupfs);
  EXPECT_NEAR(*ca->cpu_percent_cgroupfs, ca->cpu_percent, 5.0);
}

INSTANTIATE_TEST_SUITE_P(AllModes, CpuCollectorModeTest,
                         ::testing::Values(collector::CpuBpfMode::kBtfSchedInfo,
                                           collector::CpuBpfMode::kBtfTaskStorage,
                                           collector::CpuBpfMode::kBtfHash,
                                           collector::CpuBpfMode::kRawTracepointHash),
                         [](const auto& info) {
                           switch (info.param) {
                             case collector::CpuBpfMode::kBtfSchedInfo: return std::string("BtfSchedInfo");
                             case collector::CpuBpfMode::kBtfTaskStorage: return std::string("BtfTaskStorage");
                             case collector::CpuBpfMode::kBtfHash: return std::string("BtfHash");
                             default: return std::string("RawTracepoint");
                           }
                         });

// Each cgroup alone on its own CPU, waking up every millisecond: waits are short.
TEST(CpuCollectorTest, RunDelayIsShortWhenEachRunsAlone) {
  REQUIRE_BPF_PREREQUISITES();
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  const auto h = host_hierarchy();
  auto pipeline = make_pipeline();
  ASSERT_TRUE(pipeline);
  auto a = test::TestCgroup::create(h, unique_root() + "/alone-a");
  auto b = test::TestCgroup::create(h, unique_root() + "/alone-b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto burn_a = test::Burner::start(**a, 1, 0, test::BurnKind::kSleepy);
  auto burn_b = test::Burner::start(**b, 1, 1, test::BurnKind::kSleepy);
  ASSERT_TRUE(burn_a.ok() && burn_b.ok());
  std::this_thread::sleep_for(300ms);
  const auto s0 = take(*pipeline);
  std::this_thread::sleep_for(3s);
  const auto snap = model::derive(s0, take(*pipeline));
  for (const auto* cg : {find(snap, (*a)->v2_id()), find(snap, (*b)->v2_id())}) {
    ASSERT_TRUE(cg && cg->has_bpf);
    EXPECT_GT(cg->wakeup_delay_ns.count(), 500u) << cg->identity.path;
    EXPECT_LT(cg->run_delay_ns.percentile(0.5), 1'000'000u) << cg->identity.path;
    EXPECT_GT(cg->voluntary_switches, 500u) << cg->identity.path;
  }
}

// A 20% CFS quota on a busy loop: most periods throttled, CPU close to 20%.
TEST(CpuCollectorTest, ThrottlingUnderQuotaIsReported) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  auto pipeline = make_pipeline();
  ASSERT_TRUE(pipeline);
  auto a = test::TestCgroup::create(h, unique_root() + "/quota");
  ASSERT_TRUE(a.ok());
  if ((*a)->has_v1_cpu()) {
    ASSERT_TRUE((*a)->write_v1_cpu("cpu.cfs_period_us", "100000"));
    ASSERT_TRUE((*a)->write_v1_cpu("cpu.cfs_quota_us", "20000"));
  } else {
    ASSERT_TRUE((*a)->write_v2("cpu.max", "20000 100000"));
  }
  auto burn = test::Burner::start(**a, 1, 0);
  ASSERT_TRUE(burn.ok());
  std::this_thread::sleep_for(500ms);
  const auto s0 = take(*pipeline);
  std::this_thread::sleep_for(3s);
  const auto snap = model::derive(s0, take(*pipeline));
  const auto* cg = find(snap, (*a)->v2_id());
  ASSERT_TRUE(cg);
  ASSERT_TRUE(cg->throttled_percent) << "no cpu.stat throttling counters read";
  EXPECT_GT(*cg->throttled_percent, 50.0);
  EXPECT_NEAR(cg->cpu_percent, 20.0, 3.0);
  ASSERT_TRUE(cg->cpu_percent_cgroupfs);
  EXPECT_NEAR(*cg->cpu_percent_cgroupfs, 20.0, 3.0);
  EXPECT_EQ(cg->cpu_knobs.quota_usec.value_or(-1), 20000);
  EXPECT_EQ(cg->cpu_knobs.period_usec.value_or(0), 100000u);
  EXPECT_GT(cg->throttled_usec.value_or(0), 1'000'000u);  // ~80% of 3 s
}

// A cgroup that vanishes between samples is reported once more with its last values.
TEST(CpuCollectorTest, RemovedCgroupKeepsItsLastInterval) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  auto pipeline = make_pipeline();
  ASSERT_TRUE(pipeline);
  auto a = test::TestCgroup::create(h, unique_root() + "/short-lived");
  ASSERT_TRUE(a.ok());
  const auto id = (*a)->v2_id();
  auto burn = test::Burner::start(**a, 1, 0);
  ASSERT_TRUE(burn.ok());
  std::this_thread::sleep_for(200ms);
  const auto s0 = take(*pipeline);
  std::this_thread::sleep_for(1s);
  (*burn)->stop();
  std::this_thread::sleep_for(100ms);  // the exited task leaves the cgroup
  ASSERT_TRUE((*a)->remove());
  const auto s1 = take(*pipeline);
  const auto snap = model::derive(s0, s1);
  const auto* cg = find(snap, id);
  ASSERT_TRUE(cg) << "removed cgroup missing from the snapshot";
  EXPECT_TRUE(cg->removed);
  EXPECT_GT(cg->on_cpu_ns, 500'000'000u);
  // Reported once: the next interval no longer has it.
  const auto snap2 = model::derive(s1, take(*pipeline));
  EXPECT_EQ(find(snap2, id), nullptr);
}

// Full map: new cgroups are not silently lost, they are counted.
TEST(CpuCollectorTest, FullCgroupMapIsCounted) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  auto pipeline = make_pipeline(collector::CpuBpfMode::kAuto, false, /*max_cgroups=*/2);
  ASSERT_TRUE(pipeline);
  std::vector<std::unique_ptr<test::TestCgroup>> cgroups;
  std::vector<std::unique_ptr<test::Burner>> burners;
  for (int i = 0; i < 4; ++i) {
    auto cg = test::TestCgroup::create(h, unique_root() + "/full-" + std::to_string(i));
    ASSERT_TRUE(cg.ok());
    auto burner = test::Burner::start(**cg, 1, i % 2, test::BurnKind::kSleepy);
    ASSERT_TRUE(burner.ok());
    cgroups.push_back(std::move(*cg));
    burners.push_back(std::move(*burner));
  }
  std::this_thread::sleep_for(1s);
  const auto s = take(*pipeline);
  bool found = false;
  for (const auto& c : s.collectors) {
    if (c.name != "cpu") continue;
    found = true;
    ASSERT_TRUE(c.drops.count("cgroup_map_full"));
    EXPECT_GT(c.drops.at("cgroup_map_full"), 0u);
  }
  EXPECT_TRUE(found);
  burners.clear();  // stop the tasks before their cgroups are removed
}

// Keyed by the v1 cpu hierarchy (what a pure v1 host needs), checked on this hybrid host.
TEST(CpuCollectorTest, V1IdentityAttributesToV1CpuCgroups) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  if (h.v1_root("cpu").empty()) GTEST_SKIP() << "no v1 cpu hierarchy on this host (pure v2)";
  auto pipeline = make_pipeline(collector::CpuBpfMode::kAuto, /*v1_identity=*/true);
  ASSERT_TRUE(pipeline);
  auto a = test::TestCgroup::create(h, unique_root() + "/v1");
  ASSERT_TRUE(a.ok());
  auto burn = test::Burner::start(**a, 1, 0);
  ASSERT_TRUE(burn.ok());
  std::this_thread::sleep_for(300ms);
  const auto s0 = take(*pipeline);
  const auto k0 = (*a)->kernel_usage_ns();
  std::this_thread::sleep_for(2s);
  const auto s1 = take(*pipeline);
  const auto k1 = (*a)->kernel_usage_ns();
  const auto snap = model::derive(s0, s1);
  const auto* cg = find(snap, (*a)->v1_cpu_id());
  ASSERT_TRUE(cg && cg->has_bpf) << "v1 cpu cgroup not found by its v1 id";
  EXPECT_LT(relative_error(cg->on_cpu_ns, static_cast<double>(k1 - k0)), 0.05);
}

// Loads, runs 10 s under a context-switch storm, unloads: no program or map left behind.
TEST(CpuCollectorTest, LoadRunUnloadLeavesNothingBehind) {
  REQUIRE_BPF_PREREQUISITES();
  if (system("command -v stress-ng >/dev/null 2>&1") != 0) GTEST_SKIP() << "stress-ng not installed";
  std::set<int> our_progs, our_maps;
  {
    auto pipeline = make_pipeline();
    ASSERT_TRUE(pipeline);
    for (const auto& p : pipeline->cpu_collector()->program_stats()) our_progs.insert(static_cast<int>(p.id));
    ASSERT_FALSE(our_progs.empty());
    for (const auto& [id, maps] : bpftool_prog_maps())
      if (our_progs.count(id)) our_maps.insert(maps.begin(), maps.end());
    EXPECT_GE(our_maps.size(), 3u) << "stats, running and drops maps at least";
    // bpftool lists what the kernel has loaded: ours must be there while we run.
    for (int id : our_progs) EXPECT_TRUE(bpftool_ids("prog").count(id)) << "program " << id;

    FILE* load = popen("stress-ng --switch 2 --cpu 1 --timeout 10s --quiet 2>&1", "r");
    ASSERT_TRUE(load);
    auto prev = take(*pipeline);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(1s);
      auto curr = take(*pipeline);
      const auto snap = model::derive(prev, curr);
      double total = 0;
      for (const auto& cg : snap.cgroups) total += cg.cpu_percent;
      EXPECT_LE(total, 100.0 * snap.nr_cpus * 1.05);  // never more than the machine has
      prev = std::move(curr);
    }
    pclose(load);
    for (const auto& c : prev.collectors) {
      if (c.name == "cpu") {
        EXPECT_EQ(c.drops.at("cgroup_map_full"), 0u);
      }
    }
  }
  // The kernel frees programs and maps after an RCU grace period: wait for it, bounded.
  std::set<int> left_progs, left_maps;
  for (int i = 0; i < 50; ++i) {
    left_progs.clear();
    left_maps.clear();
    for (int id : bpftool_ids("prog"))
      if (our_progs.count(id)) left_progs.insert(id);
    for (int id : bpftool_ids("map"))
      if (our_maps.count(id)) left_maps.insert(id);
    if (left_progs.empty() && left_maps.empty()) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(left_progs.empty()) << left_progs.size() << " programs left behind";
  EXPECT_TRUE(left_maps.empty()) << left_maps.size() << " maps left behind";
}

// The command users run, end to end: a busy cgroup shows up at ~100% in --json output.
TEST(CpuCollectorTest, SnapshotCommandReportsABusyCgroup) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  auto a = test::TestCgroup::create(h, unique_root() + "/cli");
  ASSERT_TRUE(a.ok());
  auto burn = test::Burner::start(**a, 1, 1);
  ASSERT_TRUE(burn.ok());
  const std::string cmd = std::string(CGSCOPE_BINARY) + " snapshot --interval 1s --count 2 --json --bpf required";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_TRUE(f);
  std::vector<nlohmann::json> lines;
  std::array<char, 1 << 16> buf{};
  std::string line;
  while (fgets(buf.data(), static_cast<int>(buf.size()), f)) {
    line += buf.data();
    if (!line.empty() && line.back() == '\n') {
      lines.push_back(nlohmann::json::parse(line));
      line.clear();
    }
  }
  EXPECT_EQ(pclose(f), 0);
  ASSERT_EQ(lines.size(), 2u);
  const auto& last = lines.back();
  bool found = false;
  for (const auto& cg : last["cgroups"]) {
    if (cg["id"] != (*a)->v2_id()) continue;
    found = true;
    EXPECT_EQ(cg["path"], unique_root() + "/cli");
    EXPECT_NEAR(cg["bpf"]["cpu_percent"].get<double>(), 100.0, 8.0);
    EXPECT_NEAR(cg["cgroupfs"]["cpu_percent"].get<double>(), 100.0, 8.0);
  }
  EXPECT_TRUE(found);
  bool cpu_active = false;
  for (const auto& c : last["collectors"])
    if (c["name"] == "cpu") cpu_active = c["active"].get<bool>();
  EXPECT_TRUE(cpu_active);
}
