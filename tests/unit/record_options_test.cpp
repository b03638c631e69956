// --max-size and --from/--to parsing.
#include "cli/record_options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

using namespace cgscope;
using namespace cgscope::cli;

namespace {

// Local time in a fixed zone (POSIX rule, no tzdata needed), restored afterwards.
class InTimeZone {
 public:
  explicit InTimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~InTimeZone() {
    if (old_.empty()) {
      unsetenv("TZ");
    } else {
      setenv("TZ", old_.c_str(), 1);
    }
    tzset();
  }

 private:
  std::string old_;
};

constexpr std::int64_t kS = 1'000'000'000;
// 2026-11-25 03:40:01 UTC
constexpr std::int64_t kStart = 1795578001LL * kS;
constexpr std::int64_t kEnd = kStart + 3600 * kS;

}  // namespace

TEST(RecordOptionsTest, Sizes) {
  EXPECT_EQ(*parse_size("0"), 0u);
  EXPECT_EQ(*parse_size("1000"), 1000u);
  EXPECT_EQ(*parse_size("64K"), 64u << 10);
  EXPECT_EQ(*parse_size("512M"), 512u << 20);
  EXPECT_EQ(*parse_size("100MiB"), 100u << 20);
  EXPECT_EQ(*parse_size("1G"), 1u << 30);
  EXPECT_EQ(*parse_size("1.5G"), 3u << 29);
  EXPECT_EQ(*parse_size("2GB"), 2ull << 30);
  for (const char* bad : {"", "G", "-1M", "12Q", "1 G", "1e30"}) EXPECT_FALSE(parse_size(bad).ok()) << bad;
  EXPECT_NE(parse_size("12Q").error().find("use K, M, G or T"), std::string::npos);
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(100u << 20), "100.0 MiB");
}

TEST(RecordOptionsTest, RelativeAndUnixTimes) {
  EXPECT_EQ(*parse_time("+10m", kStart, kEnd), kStart + 600 * kS);
  EXPECT_EQ(*parse_time("-90s", kStart, kEnd), kEnd - 90 * kS);
  EXPECT_EQ(*parse_time("@1795578001", kStart, kEnd), kStart);
  EXPECT_EQ(*parse_time("@1795578001.5", kStart, kEnd), kStart + kS / 2);
  for (const char* bad :
       {"", "+", "+10x", "@", "@12abc", "yesterday", "2026-13-01", "2026-11-25 25:00", "3:40"}) {
    auto r = parse_time(bad, kStart, kEnd);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("@UNIX_SECONDS"), std::string::npos) << r.error();
    }
  }
}

TEST(RecordOptionsTest, DatesAndClockTimesAreLocalUnlessZ) {
  InTimeZone berlin("CET-1CEST,M3.5.0,M10.5.0/3");  // UTC+1 in November
  EXPECT_EQ(*parse_time("2026-11-25 04:40:01", kStart, kEnd), kStart);
  EXPECT_EQ(*parse_time("2026-11-25T04:40:01", kStart, kEnd), kStart);
  EXPECT_EQ(*parse_time("2026-11-25T03:40:01Z", kStart, kEnd), kStart);
  EXPECT_EQ(*parse_time("2026-11-25 04:40", kStart, kEnd), kStart - kS);
  EXPECT_EQ(*parse_time("2026-11-25", kStart, kEnd), kStart - (3 * 3600 + 40 * 60 + 1) * kS - 3600 * kS);
  // A time of day is on the day the recording starts...
  EXPECT_EQ(*parse_time("05:00", kStart, kEnd), kStart + (19 * 60 + 59) * kS);
  // ...or the day after, when that is before the start.
  EXPECT_EQ(*parse_time("04:00:00", kStart, kEnd), kStart + (24 * 3600 - 40 * 60 - 1) * kS);
  EXPECT_EQ(format_time(kStart), "2026-11-25 04:40:01");
}
