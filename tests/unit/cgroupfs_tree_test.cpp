// Cgroupfs::scan() and read_cpu() on fake cgroupfs trees built in a temp directory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "collector/cgroupfs/cgroupfs.hpp"

using namespace cgscope;
using namespace cgscope::collector;
namespace fs = std::filesystem;

namespace {

class CgroupfsTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cgscope-tree-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& content) {
    const fs::path p = root_ + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  void mkdir(const std::string& rel) { fs::create_directories(root_ + rel); }
  std::uint64_t inode(const std::string& rel) {
    struct stat st{};
    return ::stat((root_ + rel).c_str(), &st) == 0 ? st.st_ino : 0;
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
  static const model::CgroupIdentity* find(const ScanResult& r, const std::string& path) {
    for (const auto& c : r.cgroups)
      if (c.path == path) return &c;
    return nullptr;
  }

  std::string root_;
};

}  // namespace

TEST_F(CgroupfsTreeTest, PureV2ScanAndRead) {
  write("/unified/cpu.stat", "usage_usec 900\nuser_usec 600\nsystem_usec 300\n");
  write("/proc/pressure/cpu", "some avg10=1.50 avg60=1.00 avg300=0.50 total=777\n");
  const std::string svc = "/unified/system.slice/nginx.service";
  write(svc + "/cpu.stat",
        "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 10\nnr_throttled 4\nthrottled_usec 2500\n");
  write(svc + "/cpu.max", "20000 100000\n");
  write(svc + "/cpu.weight", "250\n");
  write(svc + "/cpuset.cpus.effective", "0-1\n");
  write(svc + "/cpu.pressure", "some avg10=5.00 avg60=4.00 avg300=3.00 total=123\nfull avg10=0 avg60=0 avg300=0 total=0\n");
  mkdir("/unified/system.slice/docker-8f2c4e6a1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a.scope");

  Cgroupfs cg(options(Layout::kV2));
  auto scan = cg.scan();
  ASSERT_TRUE(scan.ok()) << scan.error();
  ASSERT_EQ(scan->cgroups.size(), 4u);
  EXPECT_EQ(scan->cgroups[0].path, "/");
  EXPECT_EQ(scan->cgroups[0].id, inode("/unified"));
  EXPECT_EQ(scan->added.size(), 4u);
  const auto* nginx = find(*scan, "/system.slice/nginx.service");
  ASSERT_TRUE(nginx);
  EXPECT_EQ(nginx->id, inode(svc));
  EXPECT_EQ(nginx->container.systemd_unit, "nginx.service");
  const auto* docker = find(*scan, "/system.slice/docker-8f2c4e6a1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a.scope");
  ASSERT_TRUE(docker);
  EXPECT_TRUE(docker->container.is_container());
  EXPECT_TRUE(nginx->v1_cpu_path.empty());

  model::CgroupSample s;
  s.identity = *nginx;
  cg.read_cpu(s);
  EXPECT_EQ(s.cpu_stat.usage_usec, 100u);
  EXPECT_EQ(s.cpu_stat.nr_throttled, 4u);
  EXPECT_EQ(s.cpu_stat.throttled_usec, 2500u);
  EXPECT_EQ(s.cpu_knobs.quota_usec, 20000);
  EXPECT_EQ(s.cpu_knobs.period_usec, 100000u);
  EXPECT_TRUE(s.cpu_knobs.quota_known);
  EXPECT_EQ(s.cpu_knobs.weight, 250u);
  EXPECT_EQ(s.cpu_knobs.cpuset_cpus, "0-1");
  ASSERT_TRUE(s.cpu_pressure.some);
  EXPECT_EQ(s.cpu_pressure.some->total_usec, 123u);

  // The root has no cpu.pressure here: the host-wide /proc/pressure/cpu stands in.
  model::CgroupSample r;
  r.identity = scan->cgroups[0];
  cg.read_cpu(r);
  EXPECT_EQ(r.cpu_stat.usage_usec, 900u);
  ASSERT_TRUE(r.cpu_pressure.some);
  EXPECT_EQ(r.cpu_pressure.some->total_usec, 777u);
  EXPECT_FALSE(r.cpu_knobs.quota_known);  // no cpu.max in the root: unknown, not "max"
  EXPECT_EQ(cg.read_errors(), 0u);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(CgroupfsTreeTest, CgroupsAppearingAndDisappearingBetweenScans) {
  mkdir("/unified/a");
  mkdir("/unified/b");
  Cgroupfs cg(options(Layout::kV2));
  auto first = cg.scan();
  ASSERT_TRUE(first.ok());
  const auto b_id = inode("/unified/b");
  fs::remove(root_ + "/unified/b");
  mkdir("/unified/c/d");
  auto second = cg.scan();
  ASSERT_TRUE(second.ok()) << second.error();
  ASSERT_EQ(second->removed.size(), 1u);
  EXPECT_EQ(second->removed[0].id, b_id);
  EXPECT_EQ(second->removed[0].path, "/b");
  EXPECT_EQ(second->added.size(), 2u);  // /c and /c/d
  EXPECT_TRUE(find(*second, "/c/d"));
  auto third = cg.scan();
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->added.empty());
  EXPECT_TRUE(third->removed.empty());
}

TEST_F(CgroupfsTreeTest, GarbageIsCountedAndNamedMissingFilesAreNot) {
  write("/unified/bad/cpu.stat", "usage_usec lots\n");
  write("/unified/bad/cpu.max", "whatever\n");
  mkdir("/unified/empty");
  Cgroupfs cg(options(Layout::kV2));
  auto scan = cg.scan();
  ASSERT_TRUE(scan.ok());
  model::CgroupSample empty;
  empty.identity = *find(*scan, "/empty");
  cg.read_cpu(empty);
  EXPECT_EQ(cg.parse_errors(), 0u);
  EXPECT_EQ(cg.read_errors(), 0u);
  EXPECT_FALSE(empty.cpu_stat.usage_usec);
  model::CgroupSample bad;
  bad.identity = *find(*scan, "/bad");
  cg.read_cpu(bad);
  EXPECT_EQ(cg.parse_errors(), 2u);
  EXPECT_NE(cg.last_error().find(root_ + "/unified/bad/cpu.max"), std::string::npos) << cg.last_error();
  EXPECT_FALSE(bad.cpu_stat.usage_usec);
}

TEST_F(CgroupfsTreeTest, HybridReadsThrottlingAndKnobsFromV1) {
  write("/unified/web/cpu.stat", "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n");
  write("/cpu/web/cpu.stat", "nr_periods 20\nnr_throttled 15\nthrottled_time 3000000000\n");
  write("/cpu/web/cpu.cfs_quota_us", "20000\n");
  write("/cpu/web/cpu.cfs_period_us", "100000\n");
  write("/cpu/web/cpu.shares", "2048\n");
  write("/cpuacct/web/cpuacct.usage", "9000000\n");
  // "moved" is laid out differently in v1: found through a member task's /proc/PID/cgroup.
  write("/unified/moved/cgroup.procs", "4242\n");
  write("/cpu/elsewhere/cpu.shares", "512\n");
  write("/cpuacct/elsewhere/cpuacct.usage", "1000\n");
  write("/proc/4242/cgroup", "2:cpuacct:/elsewhere\n1:cpu:/elsewhere\n0::/moved\n");
  mkdir("/cpu");
  mkdir("/cpuacct");

  Cgroupfs cg(options(Layout::kHybrid));
  auto scan = cg.scan();
  ASSERT_TRUE(scan.ok()) << scan.error();
  const auto* web = find(*scan, "/web");
  ASSERT_TRUE(web);
  EXPECT_EQ(web->id, inode("/unified/web"));  // identity is the v2 id
  EXPECT_EQ(web->v1_cpu_path, "/web");
  EXPECT_EQ(web->v1_cpuacct_path, "/web");
  const auto* moved = find(*scan, "/moved");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->v1_cpu_path, "/elsewhere");
  EXPECT_EQ(moved->v1_cpuacct_path, "/elsewhere");

  model::CgroupSample s;
  s.identity = *web;
  cg.read_cpu(s);
  EXPECT_EQ(s.cpu_stat.usage_usec, 5000u);  // v2 usage wins over cpuacct.usage
  EXPECT_EQ(s.cpu_stat.nr_periods, 20u);
  EXPECT_EQ(s.cpu_stat.nr_throttled, 15u);
  EXPECT_EQ(s.cpu_stat.throttled_usec, 3'000'000u);
  EXPECT_EQ(s.cpu_knobs.quota_usec, 20000);
  EXPECT_EQ(s.cpu_knobs.period_usec, 100000u);
  EXPECT_EQ(s.cpu_knobs.shares, 2048u);
  model::CgroupSample m;
  m.identity = *moved;
  cg.read_cpu(m);
  EXPECT_EQ(m.cpu_knobs.shares, 512u);
  EXPECT_EQ(cg.parse_errors(), 0u);
}

TEST_F(CgroupfsTreeTest, PureV1IdentifiesByTheCpuHierarchy) {
  write("/cpu/cpuacct.usage", "123000\n");
  write("/cpu/batch/cpuacct.usage", "7000000\n");
  write("/cpu/batch/cpuacct.stat", "user 30\nsystem 20\n");
  write("/cpu/batch/cpu.cfs_quota_us", "-1\n");
  write("/cpu/batch/cpu.cfs_period_us", "100000\n");
  Cgroupfs cg(options(Layout::kV1));
  auto scan = cg.scan();
  ASSERT_TRUE(scan.ok()) << scan.error();
  const auto* batch = find(*scan, "/batch");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->id, inode("/cpu/batch"));
  EXPECT_EQ(batch->v1_cpu_path, "/batch");
  model::CgroupSample s;
  s.identity = *batch;
  cg.read_cpu(s);
  EXPECT_EQ(s.cpu_stat.usage_usec, 7000u);
  EXPECT_EQ(s.cpu_stat.user_usec, 300'000u);
  EXPECT_EQ(s.cpu_stat.system_usec, 200'000u);
  EXPECT_TRUE(s.cpu_knobs.quota_known);
  EXPECT_FALSE(s.cpu_knobs.quota_usec);  // -1: unlimited
}

TEST_F(CgroupfsTreeTest, MissingRootIsAClearError) {
  CgroupfsOptions o = options(Layout::kV2);
  o.hierarchy.v2_root = root_ + "/does-not-exist";
  Cgroupfs cg(o);
  auto scan = cg.scan();
  ASSERT_FALSE(scan.ok());
  EXPECT_NE(scan.error().find("does-not-exist"), std::string::npos);
}
