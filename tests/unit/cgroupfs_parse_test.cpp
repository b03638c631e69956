#include "collector/cgroupfs/parse.hpp"

#include <gtest/gtest.h>

using namespace cgscope::collector;

TEST(CgroupfsParseTest, CpuStatV2WithAndWithoutTheCpuController) {
  auto basic = parse_cpu_stat_v2("usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n");
  ASSERT_TRUE(basic.ok()) << basic.error();
  EXPECT_EQ(basic->usage_usec, 1234u);
  EXPECT_EQ(basic->user_usec, 1000u);
  EXPECT_EQ(basic->system_usec, 234u);
  EXPECT_FALSE(basic->nr_periods);  // no cpu controller: no throttling keys
  auto full = parse_cpu_stat_v2(
      "usage_usec 5\nuser_usec 3\nsystem_usec 2\ncore_sched.force_idle_usec 0\nnr_periods 100\n"
      "nr_throttled 40\nthrottled_usec 123456\nnr_bursts 0\nburst_usec 0");  // no final newline
  ASSERT_TRUE(full.ok()) << full.error();
  EXPECT_EQ(full->nr_periods, 100u);
  EXPECT_EQ(full->nr_throttled, 40u);
  EXPECT_EQ(full->throttled_usec, 123456u);
}

TEST(CgroupfsParseTest, CpuStatV1ConvertsNanoseconds) {
  auto st = parse_cpu_stat_v1("nr_periods 10\nnr_throttled 3\nthrottled_time 4500000\nnr_bursts 0\nburst_time 0\n");
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(st->nr_periods, 10u);
  EXPECT_EQ(st->nr_throttled, 3u);
  EXPECT_EQ(st->throttled_usec, 4500u);
}

TEST(CgroupfsParseTest, CpuacctStatTicks) {
  auto st = parse_cpuacct_stat_v1("user 250\nsystem 50\n", 100);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(st->user_usec, 2'500'000u);
  EXPECT_EQ(st->system_usec, 500'000u);
}

TEST(CgroupfsParseTest, GarbageNamesTheFileAndLine) {
  auto bad = parse_cpu_stat_v2("usage_usec 12\nuser_usec abc\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "cpu.stat: line 2: expected '<key> <u64>', got 'user_usec abc'");
  EXPECT_FALSE(parse_cpu_stat_v2("usage_usec -5\n").ok());
  EXPECT_FALSE(parse_cpu_stat_v2("usage_usec\n").ok());
  EXPECT_FALSE(parse_cpu_stat_v2("usage_usec 99999999999999999999999\n").ok());  // > 2^64
  EXPECT_FALSE(parse_cpu_stat_v1("nr_periods ten\n").ok());
  EXPECT_FALSE(parse_cpuacct_stat_v1("user x\n", 100).ok());
  auto empty = parse_cpu_stat_v2("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->usage_usec);
}

TEST(CgroupfsParseTest, SingleNumbers) {
  EXPECT_EQ(*parse_u64_file("1024\n"), 1024u);
  EXPECT_EQ(*parse_u64_file("18446744073709551615\n"), 18446744073709551615ull);
  EXPECT_FALSE(parse_u64_file("18446744073709551616\n").ok());
  EXPECT_FALSE(parse_u64_file("-1\n").ok());
  EXPECT_FALSE(parse_u64_file("").ok());
  EXPECT_FALSE(parse_u64_file("12 34\n").ok());
  EXPECT_EQ(*parse_i64_file("-1\n"), -1);
  EXPECT_EQ(*parse_i64_file("20000"), 20000);
  EXPECT_FALSE(parse_i64_file("max\n").ok());
}

TEST(CgroupfsParseTest, CpuMax) {
  auto unlimited = parse_cpu_max("max 100000\n");
  ASSERT_TRUE(unlimited.ok());
  EXPECT_FALSE(unlimited->quota_usec);
  EXPECT_EQ(unlimited->period_usec, 100000u);
  auto limited = parse_cpu_max("20000 50000\n");
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->quota_usec, 20000);
  EXPECT_EQ(limited->period_usec, 50000u);
  EXPECT_EQ(parse_cpu_max("max\n")->period_usec, 100000u);  // period omitted: default
  for (const char* bad : {"", "abc 100000", "0 100000", "-5 100000", "20000 0", "20000 x"})
    EXPECT_FALSE(parse_cpu_max(bad).ok()) << bad;
}

TEST(CgroupfsParseTest, Pressure) {
  auto p = parse_pressure(
      "some avg10=0.74 avg60=13.49 avg300=12.73 total=169844124\n"
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_TRUE(p->some);
  EXPECT_DOUBLE_EQ(p->some->avg10, 0.74);
  EXPECT_DOUBLE_EQ(p->some->avg300, 12.73);
  EXPECT_EQ(p->some->total_usec, 169844124u);
  ASSERT_TRUE(p->full);
  EXPECT_EQ(p->full->total_usec, 0u);
  auto some_only = parse_pressure("some avg10=1.00 avg60=2.00 avg300=3.00 total=4");  // older kernels
  ASSERT_TRUE(some_only.ok());
  EXPECT_FALSE(some_only->full);
  EXPECT_FALSE(parse_pressure("some avg10=x avg60=0 avg300=0 total=0\n").ok());
  EXPECT_FALSE(parse_pressure("most avg10=0 avg60=0 avg300=0 total=0\n").ok());
  EXPECT_FALSE(parse_pressure("some avg10=0.00\n").ok());
}

TEST(CgroupfsParseTest, CpuLists) {
  EXPECT_EQ(*count_cpu_list("0-3,8,10-11\n"), 7);
  EXPECT_EQ(*count_cpu_list("0\n"), 1);
  EXPECT_EQ(*count_cpu_list("\n"), 0);  // empty cpuset
  // A range to INT_MAX overflowed the count (signed overflow, UB): refused.
  EXPECT_FALSE(count_cpu_list("0-2147483647").ok());
  EXPECT_FALSE(count_cpu_list("0-65535,0-65535").ok());
  EXPECT_FALSE(count_cpu_list("3-1").ok());
  EXPECT_FALSE(count_cpu_list("a-b").ok());
  EXPECT_FALSE(count_cpu_list("1,,x").ok());
}
