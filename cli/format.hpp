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

// 1536 -> "1.5K", 12_300_000 -> "12.3M" (powers of 1024; for byte rates and sizes).
std::string format_bytes(double bytes);

// Which columns the table shows: a summary of every area, or one area in detail.
enum class TableView { kSummary, kCpu, kIo, kMemory, kNfs };
Result<TableView> parse_table_view(std::string_view text);

struct TableOptions {
  bool all = false;   // also cgroups with no activity in the interval
  std::size_t top = 25;  // at most this many rows (0 = no limit)
  TableView view = TableView::kSummary;
};

// The human table of one snapshot: a header line, then one row per cgroup, busiest first
// (by CPU, or by I/O bytes / memory stall time in those views).
std::string render_table(const model::Snapshot& snapshot, const TableOptions& options);
// The NFS view (cli/nfs_view.cpp): rows per (cgroup, NFS mount) and the interval's hazards.
std::string render_nfs(const model::Snapshot& snapshot, const TableOptions& options);

}  // namespace cgscope::cli
