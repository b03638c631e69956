// JIT perf maps (/tmp/perf-PID.map): parsing, replaced code, partial and malformed lines.
#include "collector/profile/symbolize/perf_map.hpp"

#include <gtest/gtest.h>

using cgscope::collector::PerfMap;

TEST(PerfMapTest, NamesTheCodeEachLineCovers) {
  PerfMap m;
  const std::string text =
      "7f1000 40 JS:*hot /app/x.js:1:10\n"
      "0x7f2000 0x10 Builtin:ArgumentsAdaptorTrampoline\n";
  EXPECT_EQ(m.add(text), text.size());
  ASSERT_NE(m.lookup(0x7f1000), nullptr);
  EXPECT_EQ(*m.lookup(0x7f103f), "JS:*hot /app/x.js:1:10");  // names may contain spaces
  EXPECT_EQ(m.lookup(0x7f1040), nullptr);                     // one past the end
  EXPECT_EQ(*m.lookup(0x7f2008), "Builtin:ArgumentsAdaptorTrampoline");
  EXPECT_EQ(m.lookup(0x7f0fff), nullptr);
  EXPECT_EQ(m.size(), 2u);
}

TEST(PerfMapTest, CodeReplacedAtTheSameAddressTakesTheLastName) {
  PerfMap m;
  m.add("1000 100 old_big\n1040 10 new_small\n");
  EXPECT_EQ(*m.lookup(0x1048), "new_small");
  EXPECT_EQ(m.lookup(0x1000), nullptr);  // the old piece was dropped, not half-kept
  EXPECT_EQ(m.size(), 1u);
}

TEST(PerfMapTest, APartialLastLineWaitsForTheRestOfIt) {
  PerfMap m;
  const std::string first = "1000 10 a\n2000 1";
  EXPECT_EQ(m.add(first), 10u);  // "2000 1" is still being written
  EXPECT_EQ(m.lookup(0x2000), nullptr);
  EXPECT_EQ(m.add("2000 10 b\n"), 10u);
  EXPECT_EQ(*m.lookup(0x2004), "b");
}

TEST(PerfMapTest, MalformedLinesAreSkippedAndCounted) {
  PerfMap m;
  m.add("zz 10 x\n1000 zz y\n1000 10\n1000 0 empty\nffffffffffffffff 10 wraps\n\n3000 8 ok\n");
  EXPECT_EQ(m.malformed_lines(), 5u);
  EXPECT_EQ(*m.lookup(0x3004), "ok");
  EXPECT_EQ(m.size(), 1u);
}
