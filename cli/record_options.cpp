#include "cli/record_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <utility>

#include "cli/format.hpp"

namespace cgscope::cli {
namespace {

constexpr std::string_view kTimeHelp =
    "use YYYY-MM-DD HH:MM[:SS][Z], HH:MM[:SS], @UNIX_SECONDS, +DURATION (after the start) or "
    "-DURATION (before the end)";

// Parses "HH:MM[:SS]" at `s`; true when it is the whole rest of the string.
bool parse_clock(std::string_view s, int& hour, int& minute, int& second) {
  second = 0;
  int* fields[] = {&hour, &minute, &second};
  std::size_t field = 0;
  const char* p = s.data();
  const char* end = s.data() + s.size();
  while (field < 3) {
    auto [next, ec] = std::from_chars(p, end, *fields[field]);
    if (ec != std::errc() || next - p != 2) return false;
    p = next;
    ++field;
    if (p == end) break;
    if (*p != ':') return false;
    ++p;
  }
  return p == end && field >= 2 && hour < 24 && minute < 60 && second < 61;
}

std::int64_t to_ns(std::time_t t) { return static_cast<std::int64_t>(t) * 1'000'000'000LL; }

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  const std::string original(text);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() || value < 0)
    return Error{"invalid size '" + original + "' (expected e.g. 1G, 500M, 64K)"};
  std::string unit(ptr, text.data() + text.size());
  for (const char* suffix : {"iB", "B"}) {
    if (unit.size() >= std::string_view(suffix).size() && unit.ends_with(suffix)) {
      unit.resize(unit.size() - std::string_view(suffix).size());
      break;
    }
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1.0}, {"K", 1024.0}, {"k", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0}, {"T", 1099511627776.0}};
  double scale = 0;
  for (const auto& [name, factor] : kUnits)
    if (unit == name) scale = factor;
  if (scale == 0) return Error{"invalid size unit in '" + original + "' (use K, M, G or T)"};
  const double bytes = value * scale;
  if (bytes > 1e18) return Error{"size '" + original + "' out of range"};
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_size(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < (1u << 20)) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < (1u << 30)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

Result<std::int64_t> parse_time(std::string_view text, std::int64_t start_ns, std::int64_t end_ns) {
  const std::string original(text);
  auto bad = [&](const std::string& why) -> Error {
    return Error{"invalid time '" + original + "'" + (why.empty() ? "" : " (" + why + ")") + ": " +
                 std::string(kTimeHelp)};
  };
  if (text.empty()) return bad("");
  if (text[0] == '+' || text[0] == '-') {
    auto d = parse_duration(text.substr(1));
    if (!d) return bad(d.error());
    return text[0] == '+' ? start_ns + d->count() : end_ns - d->count();
  }
  if (text[0] == '@') {
    double seconds = 0;
    auto [ptr, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), seconds);
    if (ec != std::errc() || ptr != text.data() + text.size()) return bad("");
    return static_cast<std::int64_t>(std::llround(seconds * 1e9));
  }
  bool utc = false;
  if (text.back() == 'Z') {
    utc = true;
    text.remove_suffix(1);
  }
  std::tm tm{};
  int hour = 0, minute = 0, second = 0;
  if (parse_clock(text, hour, minute, second)) {
    // On the day the recording starts, or the day after if that is before the start.
    const std::time_t start = static_cast<std::time_t>(start_ns / 1'000'000'000);
    utc ? gmtime_r(&start, &tm) : localtime_r(&start, &tm);
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    std::time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (to_ns(t) < start_ns - 999'999'999) {
      tm.tm_mday += 1;
      tm.tm_isdst = -1;
      t = utc ? timegm(&tm) : mktime(&tm);
    }
    return to_ns(t);
  }
  hour = minute = second = 0;
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return bad("");
  int year = 0, month = 0, day = 0;
  auto num = [&](std::size_t at, std::size_t len, int& out) {
    auto [p, ec] = std::from_chars(text.data() + at, text.data() + at + len, out);
    return ec == std::errc() && p == text.data() + at + len;
  };
  if (!num(0, 4, year) || !num(5, 2, month) || !num(8, 2, day) || month < 1 || month > 12 || day < 1 ||
      day > 31)
    return bad("not a date");
  if (text.size() > 10) {
    if ((text[10] != ' ' && text[10] != 'T') || !parse_clock(text.substr(11), hour, minute, second))
      return bad("not a time of day");
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  return to_ns(utc ? timegm(&tm) : mktime(&tm));
}

std::string format_time(std::int64_t realtime_ns) {
  const std::time_t t = static_cast<std::time_t>(realtime_ns / 1'000'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%F %T", &tm);
  return buf;
}

}  // namespace cgscope::cli
