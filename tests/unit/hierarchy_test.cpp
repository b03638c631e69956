#include "collector/cgroupfs/hierarchy.hpp"

#include <gtest/gtest.h>

using namespace cgscope::collector;

namespace {
std::string fixture(const std::string& name) { return std::string(CGSCOPE_FIXTURES_DIR) + "/" + name; }
}  // namespace

TEST(HierarchyTest, HybridLikeTheDevelopmentMachines) {
  auto h = discover_hierarchy(fixture("mountinfo-hybrid"));
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->layout, Layout::kHybrid);
  EXPECT_EQ(h->v2_root, "/sys/fs/cgroup/unified");
  EXPECT_EQ(h->v1_root("cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(h->v1_root("cpuacct"), "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(h->v1_root("memory"), "/sys/fs/cgroup/memory");
  EXPECT_EQ(h->v1_root("name=systemd"), "/sys/fs/cgroup/systemd");
  EXPECT_EQ(h->v1_root("hugetlb"), "");
}

TEST(HierarchyTest, PureV2TakesTheFirstCgroup2Mount) {
  auto h = discover_hierarchy(fixture("mountinfo-v2"));
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->layout, Layout::kV2);
  EXPECT_EQ(h->v2_root, "/sys/fs/cgroup");  // not the container's bind mount further down
  EXPECT_TRUE(h->v1_roots.empty());
}

TEST(HierarchyTest, PureV1WithCoMountedCpuAndCpuacct) {
  auto h = discover_hierarchy(fixture("mountinfo-v1"));
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->layout, Layout::kV1);
  EXPECT_EQ(h->v2_root, "");
  EXPECT_EQ(h->v1_root("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(h->v1_root("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(h->v1_root("cpuset"), "/sys/fs/cgroup/cpuset");
  // Mount options are not controllers.
  EXPECT_EQ(h->v1_root("seclabel"), "");
  EXPECT_EQ(h->v1_root("xattr"), "");
}

TEST(HierarchyTest, NamedHierarchyAloneIsNotHybrid) {
  auto h = parse_mountinfo(
      "30 22 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
      "31 22 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->layout, Layout::kV2);
}

TEST(HierarchyTest, PrefixAndEscapedMountPoints) {
  auto h = parse_mountinfo("30 22 0:26 / /sys/fs/with\\040space rw shared:9 master:1 - cgroup2 cgroup2 rw\n",
                           "/tmp/fixture");
  ASSERT_TRUE(h.ok()) << h.error();
  EXPECT_EQ(h->v2_root, "/tmp/fixture/sys/fs/with space");
}

TEST(HierarchyTest, NoCgroupMountIsAClearError) {
  auto h = parse_mountinfo("22 28 0:21 / /sys rw - sysfs sysfs rw\ngarbage line\n\n");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().find("no cgroup filesystem"), std::string::npos) << h.error();
  auto missing = discover_hierarchy("/nonexistent/mountinfo");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("/nonexistent/mountinfo"), std::string::npos);
}

TEST(HierarchyTest, ProcPidCgroupForEachLayout) {
  auto hybrid = parse_proc_cgroup("9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/kubepods/x\n0::/init.scope\n");
  ASSERT_TRUE(hybrid.ok()) << hybrid.error();
  EXPECT_EQ(hybrid->at(""), "/init.scope");
  EXPECT_EQ(hybrid->at("cpu"), "/kubepods/x");
  EXPECT_EQ(hybrid->at("cpuacct"), "/kubepods/x");
  EXPECT_EQ(hybrid->at("memory"), "/a/b");
  EXPECT_EQ(hybrid->at("name=systemd"), "/");
  auto v2 = parse_proc_cgroup("0::/system.slice/docker-abc.scope\n");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->size(), 1u);
  EXPECT_EQ(v2->at(""), "/system.slice/docker-abc.scope");
  auto path_with_colon = parse_proc_cgroup("0::/odd:name\n");
  ASSERT_TRUE(path_with_colon.ok());
  EXPECT_EQ(path_with_colon->at(""), "/odd:name");
  auto bad = parse_proc_cgroup("0::/ok\nnonsense\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("line 2"), std::string::npos) << bad.error();
}
