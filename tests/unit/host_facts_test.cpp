#include "cli/host_facts.hpp"

#include <gtest/gtest.h>

using namespace cgscope::cli;

// The memory the dirty ratios apply to (host-dirty-throttle compares its advice with it).
TEST(HostFactsTest, DirtyableMemoryIsFreePlusFileLruPages) {
  const std::string meminfo =
      "MemTotal:       24576000 kB\n"
      "MemFree:         1000000 kB\n"
      "MemAvailable:    9000000 kB\n"
      "Active:          5000000 kB\n"
      "Inactive:        4000000 kB\n"
      "Active(anon):    1000000 kB\n"
      "Inactive(anon):   500000 kB\n"
      "Active(file):    4000000 kB\n"
      "Inactive(file):  3500000 kB\n";
  EXPECT_EQ(dirtyable_memory_bytes(meminfo), (1000000ull + 4000000 + 3500000) * 1024);
  // A line missing or garbled: not known (0), never a partial sum.
  EXPECT_EQ(dirtyable_memory_bytes("MemFree: 10 kB\nActive(file): 20 kB\n"), 0u);
  EXPECT_EQ(dirtyable_memory_bytes("MemFree: x kB\nActive(file): 20 kB\nInactive(file): 30 kB\n"), 0u);
  EXPECT_EQ(dirtyable_memory_bytes(""), 0u);
}

TEST(HostFactsTest, DirtyableMemoryOfThisHostAndThroughARecordingsMeta) {
  EXPECT_GT(host_dirtyable_memory_bytes(), 0u);  // /proc/meminfo is readable by anyone
  std::map<std::string, std::string> meta;
  put_host_facts(meta);
  ASSERT_TRUE(meta.count("dirtyable_memory_bytes"));
  EXPECT_GT(dirtyable_memory_from_meta(meta), 0u);
  EXPECT_EQ(dirtyable_memory_from_meta({}), 0u);  // recorded by an older cgscope
}
