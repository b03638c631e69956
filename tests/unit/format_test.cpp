#include "cli/format.hpp"

#include <gtest/gtest.h>

using namespace cgscope;
using namespace std::chrono_literals;

TEST(FormatTest, ParsesDurations) {
  EXPECT_EQ(*cli::parse_duration("1s"), 1s);
  EXPECT_EQ(*cli::parse_duration("2"), 2s);
  EXPECT_EQ(*cli::parse_duration("500ms"), 500ms);
  EXPECT_EQ(*cli::parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*cli::parse_duration("250us"), 250us);
  EXPECT_EQ(*cli::parse_duration("2m"), 120s);
}

TEST(FormatTest, RejectsBadDurationsWithAClearMessage) {
  for (const char* bad : {"", "s", "1x", "-1s", "0", "1e30h", "abc"}) {
    auto r = cli::parse_duration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("duration"), std::string::npos) << r.error();
    }
  }
}

TEST(FormatTest, FormatsNanoseconds) {
  EXPECT_EQ(cli::format_ns(850), "850ns");
  EXPECT_EQ(cli::format_ns(12'300), "12.3us");
  EXPECT_EQ(cli::format_ns(1'200'000), "1.20ms");
  EXPECT_EQ(cli::format_ns(2'500'000'000), "2.50s");
}

TEST(FormatTest, TableSortsByCpuAndHidesIdleCgroups) {
  model::Snapshot s;
  s.end_monotonic_ns = 1'000'000'000;
  model::CgroupInterval idle, busy, medium;
  idle.identity = {.id = 11, .path = "/idle"};
  busy.identity = {.id = 12, .path = "/busy"};
  busy.has_bpf = true;
  busy.cpu_percent = 90;
  medium.identity = {.id = 13, .path = "/medium"};
  medium.has_bpf = true;
  medium.cpu_percent = 10;
  medium.throttled_percent = 55.0;
  s.cgroups = {idle, medium, busy};
  const std::string t = cli::render_table(s, {});
  EXPECT_EQ(t.find("idle"), std::string::npos);
  ASSERT_NE(t.find("busy"), std::string::npos);
  ASSERT_NE(t.find("medium"), std::string::npos);
  EXPECT_LT(t.find("busy"), t.find("medium"));
  EXPECT_NE(t.find("55.0"), std::string::npos);
  EXPECT_NE(cli::render_table(s, {.all = true}).find("idle"), std::string::npos);
}
