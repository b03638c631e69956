// `cgscope advise` end to end (root): real workloads in real cgroups, the analysis the command
// prints as JSON, and a suggested command applied to the test cgroup that makes its finding go
// away in the next window.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector/cgroupfs/hierarchy.hpp"
#include "tests/bpf/helpers.hpp"
#include "tests/bpf/workload.hpp"
#include "tests/support/child_process.hpp"

namespace cgscope {
namespace {

// Runs `cgscope advise --json` for `seconds` at 500 ms intervals and returns the analysis.
nlohmann::json advise(int seconds, int* status = nullptr) {
  test::ChildProcess child({CGSCOPE_BINARY, "advise", "--json", "--duration", std::to_string(seconds) + "s",
                            "--interval", "500ms", "--min-intervals", "6", "--bpf", "required"});
  EXPECT_TRUE(child.started());
  std::string text;
  for (const auto& line : child.read_rest()) text += line + "\n";
  const int st = child.wait();
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text.substr(0, 2000);
  return j;
}

// The findings of a rule for a cgroup (by path).
std::vector<nlohmann::json> findings(const nlohmann::json& a, const std::string& rule, const std::string& path) {
  std::vector<nlohmann::json> out;
  if (!a.contains("findings")) return out;
  for (const auto& f : a["findings"])
    if (f["rule"] == rule && f["cgroup"].is_object() && f["cgroup"]["path"] == path) out.push_back(f);
  return out;
}

std::string titles(const nlohmann::json& a) {
  std::string s;
  if (!a.contains("findings")) return "no analysis: " + a.dump().substr(0, 1000);
  for (const auto& n : a["notes"]) s += "\n  note: " + n.get<std::string>();
  for (const auto& b : a["budgets"]) s += "\n  budget: " + b["cgroup"]["path"].dump() + " " + b["lost"].dump();
  for (const auto& f : a["findings"]) s += "\n  " + f["rule"].get<std::string>() + ": " + f["title"].get<std::string>();
  return s;
}

const nlohmann::json* recommendation(const nlohmann::json& f, const std::string& knob) {
  for (const auto& r : f["recommendations"])
    if (r["knob"] == knob) return &r;
  return nullptr;
}

collector::Hierarchy hierarchy() {
  auto h = collector::discover_hierarchy();
  EXPECT_TRUE(h.ok());
  return h.ok() ? *h : collector::Hierarchy{};
}

std::unique_ptr<test::TestCgroup> cgroup(const collector::Hierarchy& h, const std::string& name) {
  auto c = test::TestCgroup::create(h, "/cgscope-test-advise-" + name);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error());
  return c.ok() ? std::move(*c) : nullptr;
}

Status set_quota(test::TestCgroup& cg, std::int64_t quota_usec) {
  if (cg.has_v1_cpu()) return cg.write_v1_cpu("cpu.cfs_quota_us", std::to_string(quota_usec));
  return cg.write_v2("cpu.max", std::to_string(quota_usec) + " 100000");
}

// A 2-thread burner under a 20% quota is throttled: the finding suggests a quota from its
// measured demand (both threads share one CPU: demand about one CPU), and once the suggested
// command (the one for how this cgroup is managed: v1 here, v2 on a pure v2 host) is applied,
// the next window has no throttling finding for it.
TEST(AdviseTest, ThrottledBurnerGetsAQuotaFromDemandAndTheFixWorks) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = hierarchy();
  auto cg = cgroup(h, "throttled");
  ASSERT_TRUE(cg);
  ASSERT_TRUE(set_quota(*cg, 20'000).ok());
  auto burner = test::Burner::start(*cg, 2, 1);
  ASSERT_TRUE(burner.ok());

  int status = -1;
  const auto before = advise(8, &status);
  EXPECT_EQ(status, 0);
  const auto found = findings(before, "cpu-throttling", cg->path());
  ASSERT_EQ(found.size(), 1u) << titles(before);
  const auto& f = found[0];
  EXPECT_NE(f["severity"], "info");
  EXPECT_GT(f["evidence"]["throttled_fraction"]["value"].get<double>(), 0.5);
  EXPECT_NEAR(f["evidence"]["quota_cpus"]["value"].get<double>(), 0.2, 1e-9);
  const double demand = f["evidence"]["demand_p95_cpus"]["value"].get<double>();
  EXPECT_GT(demand, 0.8) << "two threads on one CPU demand about one CPU";
  EXPECT_LT(demand, 1.3);
  const auto* r = recommendation(f, "cpu.max");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ((*r)["current"], "20000 100000");
  const std::string suggested = (*r)["suggested"];
  const long quota = std::stol(suggested.substr(0, suggested.find(' ')));
  EXPECT_GE(quota, static_cast<long>(demand * 100'000)) << suggested;
  EXPECT_LE(quota, static_cast<long>(demand * 1.1 * 100'000) + 5'000) << suggested;
  EXPECT_NE((*r)["derivation"].get<std::string>().find("slots of 100 ms"), std::string::npos)
      << "sized from the 100 ms demand slots: " << (*r)["derivation"];

  // Apply the preferred command as printed.
  std::string command;
  for (const auto& c : (*r)["commands"])
    if (c["preferred"]) command = c["command"];
  ASSERT_FALSE(command.empty());
  EXPECT_NE(command.find(cg->path()), std::string::npos) << command;
  test::ChildProcess sh({"/bin/sh", "-c", command});
  ASSERT_TRUE(sh.started());
  sh.read_rest();
  ASSERT_EQ(sh.wait(), 0) << command;

  const auto after = advise(8, &status);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(findings(after, "cpu-throttling", cg->path()).empty())
      << "applied `" << command << "`, still throttled:" << titles(after);
}

// Two single-thread burners pinned to one CPU: each waits behind the other, and the finding
// names the other cgroup as the neighbour.
TEST(AdviseTest, TwoBurnersOnOneCpuNameEachOtherAsNoisyNeighbours) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = hierarchy();
  auto a = cgroup(h, "victim");
  auto b = cgroup(h, "noisy");
  ASSERT_TRUE(a && b);
  auto ba = test::Burner::start(*a, 1, 1);
  auto bb = test::Burner::start(*b, 1, 1);
  ASSERT_TRUE(ba.ok() && bb.ok());
  const auto analysis = advise(8);
  const auto found = findings(analysis, "cpu-noisy-neighbour", a->path());
  ASSERT_EQ(found.size(), 1u) << titles(analysis);
  const auto& f = found[0];
  const auto& related = f["related_cgroup_ids"];
  ASSERT_FALSE(related.empty());
  EXPECT_EQ(related[0].get<std::uint64_t>(), b->v2_id()) << f["title"];
  // The largest share; the rest is behind whatever else runs on that CPU (on a busy machine,
  // the root cgroup's processes).
  EXPECT_GT(f["evidence"]["neighbour_share"]["value"].get<double>(), 0.3) << f["summary"];
  EXPECT_NE(f["title"].get<std::string>().find("noisy"), std::string::npos) << f["title"];
  // The budget of the victim puts the wait behind the neighbour, not behind itself.
  for (const auto& budget : analysis["budgets"]) {
    if (budget["cgroup"]["path"] != a->path()) continue;
    EXPECT_GT(budget["lost"]["run_delay_others_seconds"].get<double>(),
              2 * budget["lost"]["run_delay_own_seconds"].get<double>())
        << budget.dump();
  }
}

// A cgroup re-reading a file larger than its memory limit stalls in reclaim and refaults: the
// memory finding suggests a higher limit.
TEST(AdviseTest, MemoryLimitedCgroupRereadingAFileGetsTheMemoryFinding) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = hierarchy();
  auto file = test::TempFile::create("advise-reread.dat", 96ull << 20);
  ASSERT_TRUE(file.ok());
  auto cg = cgroup(h, "memory");
  ASSERT_TRUE(cg);
  ASSERT_TRUE(cg->limit_memory(64ull << 20).ok());
  test::drop_caches();  // the file's pages were charged to the test's cgroup when it wrote them
  auto reader = test::Child::start(
      *cg, {"/bin/sh", "-c", "end=$(($(date +%s) + 12)); while [ $(date +%s) -lt $end ]; do cat " + (*file)->path() +
                                 " > /dev/null; done"});
  ASSERT_TRUE(reader.ok());
  const auto analysis = advise(8);
  (*reader)->wait();
  const auto found = findings(analysis, "memory-pressure", cg->path());
  ASSERT_EQ(found.size(), 1u) << titles(analysis);
  const auto& f = found[0];
  EXPECT_GT(f["evidence"]["refaults"]["value"].get<double>(), 0) << f["summary"];
  const auto* r = recommendation(f, "memory.max");
  ASSERT_NE(r, nullptr) << f.dump(2);
  EXPECT_EQ((*r)["current"], std::to_string(64ull << 20));
  EXPECT_GE(std::stoull((*r)["suggested"].get<std::string>()), 96ull << 20) << (*r)["derivation"];
}

}  // namespace
}  // namespace cgscope
