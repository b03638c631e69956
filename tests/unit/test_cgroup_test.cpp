// The root suites' TestCgroup helper (tests/bpf/workload.hpp), without root: a hierarchy whose
// v2 mount is a temporary directory. A path without its leading '/' once made directories next
// to the mount (plain directories in the tmpfs at /sys/fs/cgroup on a hybrid host); now it is
// refused before anything is created.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/bpf/workload.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cgscope;
namespace fs = std::filesystem;

namespace {

// Everything under `dir`, as paths relative to it.
std::vector<std::string> tree(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(TestCgroupTest, RefusesPathsOutsideTheMountAndCreatesNothing) {
  test::TempDir parent;
  ASSERT_TRUE(parent.ok());
  const std::string mount = parent.file("cgroup");
  fs::create_directory(mount);
  collector::Hierarchy h;
  h.v2_root = mount;

  for (const std::string bad : {"cgscope-test-1/a", "", "/", "//", "/cgscope-test-1/../escape", "/./a"}) {
    auto cg = test::TestCgroup::create(h, bad);
    ASSERT_FALSE(cg.ok()) << "'" << bad << "' was accepted";
    EXPECT_NE(cg.error().find("TestCgroup: bad cgroup path \"" + bad + "\""), std::string::npos)
        << cg.error();
    EXPECT_NE(cg.error().find("with a leading '/'"), std::string::npos) << cg.error();
  }
  // Neither inside the mount nor next to it ("cgroupcgscope-test-1", the old bug).
  EXPECT_EQ(tree(parent.path()), std::vector<std::string>{"cgroup"});
}

TEST(TestCgroupTest, CreatesUnderTheMountAndRemovesItsParents) {
  test::TempDir parent;
  ASSERT_TRUE(parent.ok());
  const std::string mount = parent.file("cgroup");
  fs::create_directory(mount);
  collector::Hierarchy h;
  h.v2_root = mount;
  {
    auto cg = test::TestCgroup::create(h, "/cgscope-test-1/a");
    ASSERT_TRUE(cg.ok()) << cg.error();
    EXPECT_EQ((*cg)->path(), "/cgscope-test-1/a");
    EXPECT_EQ(tree(parent.path()),
              (std::vector<std::string>{"cgroup", "cgroup/cgscope-test-1", "cgroup/cgscope-test-1/a"}));
  }
  EXPECT_EQ(tree(parent.path()), std::vector<std::string>{"cgroup"});
}
