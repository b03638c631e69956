// Parsing of the recording options: sizes (--max-size) and points in time (--from, --to).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/result.hpp"

namespace cgscope::cli {

// "1G", "512M", "64K", "1.5G", "1000" (bytes); K/M/G/T are powers of 1024, "B" and "iB" suffixes
// are accepted ("100MiB"). "0" is 0 (no limit).
Result<std::uint64_t> parse_size(std::string_view text);
// 1536 -> "1.5 KiB", 104857600 -> "100.0 MiB".
std::string format_size(std::uint64_t bytes);

// A point in time on the wall clock (ns since the epoch), for selecting part of a recording
// that covers [start_ns, end_ns]:
//   "2026-11-25 03:40:01", "2026-11-25T03:40", "...Z" (UTC)   local time unless Z
//   "03:40:01", "03:40"        that time on the day the recording starts (the next day if it
//                              is earlier than the start)
//   "@1795000000.5"            Unix seconds
//   "+10m", "-90s"             after the start, before the end of the recording
Result<std::int64_t> parse_time(std::string_view text, std::int64_t start_ns, std::int64_t end_ns);
// Local "YYYY-MM-DD HH:MM:SS" of a wall-clock time in ns.
std::string format_time(std::int64_t realtime_ns);

}  // namespace cgscope::cli
