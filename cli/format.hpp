// Text helpers of the command line: durations in and out, table rendering.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::cli {

// "1s", "500ms", "2m", "1.5s", "250us"; a bare number is seconds. Must be > 0.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// 850 -> "850ns", 12300 -> "12.3us", 1200000 -> "1.20ms", 2500000000 -> "2.50s".
std::string format_ns(std::uint64_t ns);

struct TableOptions {
  bool all = false;   // also cgroups with no activity in the interval
  std::size_t top = 25;  // at most this many rows (0 = no limit)
};

// The human table of one snapshot: a header line, then one row per cgroup sorted by CPU.
std::string render_table(const model::Snapshot& snapshot, const TableOptions& options);

}  // namespace cgscope::cli
