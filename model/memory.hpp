// Memory of one cgroup: reclaim stalls, page cache, OOM kills (eBPF) and memory.* files
// (cgroupfs), raw cumulative values and one derived interval.
#pragma once

#include <cstdint>
#include <optional>

#include "model/histogram.hpp"
#include "model/pressure.hpp"

namespace cgscope::model {

// From eBPF; cumulative.
struct MemoryBpfCounters {
  std::uint64_t direct_reclaim_ns = 0, direct_reclaim_count = 0;  // host ran low
  std::uint64_t memcg_reclaim_ns = 0, memcg_reclaim_count = 0;    // the cgroup's own limit
  std::uint64_t reclaimed_pages = 0;
  Log2Histogram reclaim_ns;  // each stall, both kinds
  std::uint64_t cache_accessed_pages = 0;     // read through the page cache (reads, faults)
  std::uint64_t cache_read_added_pages = 0;   // brought in for those reads: misses
  std::uint64_t cache_other_added_pages = 0;  // new pages of buffered writes
  std::uint64_t file_faults = 0;
  std::uint64_t oom_kills = 0;
  bool operator==(const MemoryBpfCounters&) const = default;
};

// memory.stat (v2, or the v1 equivalents), bytes / counts as the kernel reports them.
struct MemoryStat {
  std::optional<std::uint64_t> anon_bytes, file_bytes, file_dirty_bytes, file_writeback_bytes, shmem_bytes;
  std::optional<std::uint64_t> pgfault, pgmajfault;                          // cumulative
  std::optional<std::uint64_t> workingset_refault_anon, workingset_refault_file;  // cumulative
  // v2 active_file / inactive_file, v1 total_active_file / total_inactive_file: the working set
  // is usage minus inactive file pages (the kernel reclaims those first), as cAdvisor reports it.
  std::optional<std::uint64_t> active_file_bytes, inactive_file_bytes;
  bool operator==(const MemoryStat&) const = default;
};

// Knobs and usage. Limits: nullopt = unlimited or not set ("max", v1's huge default).
struct MemoryKnobs {
  std::optional<std::uint64_t> current_bytes;  // memory.current / memory.usage_in_bytes
  std::optional<std::uint64_t> peak_bytes;     // memory.peak / memory.max_usage_in_bytes
  std::optional<std::uint64_t> max_bytes;      // memory.max / memory.limit_in_bytes
  std::optional<std::uint64_t> high_bytes;     // memory.high (v2)
  std::optional<std::uint64_t> low_bytes;      // memory.low (v2) / memory.soft_limit_in_bytes (v1)
  std::optional<std::uint64_t> min_bytes;      // memory.min (v2)
  std::optional<std::uint64_t> swap_max_bytes; // memory.swap.max (v2)
  bool v1 = false;                             // read from the v1 memory controller
  bool limits_known = false;                   // the limit file was read: nullopt means unlimited
  bool operator==(const MemoryKnobs&) const = default;
};

// memory.events (v2; cumulative). v1: oom_kill from memory.oom_control, and failcnt (times
// usage hit the limit) as `max`.
struct MemoryEvents {
  std::optional<std::uint64_t> low, high, max, oom, oom_kill;
  bool operator==(const MemoryEvents&) const = default;
};

struct MemoryInterval {
  bool has_bpf = false;
  std::uint64_t direct_reclaim_ns = 0, direct_reclaim_count = 0;
  std::uint64_t memcg_reclaim_ns = 0, memcg_reclaim_count = 0;
  std::uint64_t reclaimed_pages = 0;
  Log2Histogram reclaim_ns;
  std::uint64_t cache_accessed_pages = 0, cache_read_added_pages = 0, cache_other_added_pages = 0;
  std::optional<double> cache_hit_ratio;  // 1 - misses / accessed, when anything was accessed
  std::uint64_t file_faults = 0, oom_kills = 0;
  // cgroupfs: gauges as read at the end of the interval, counters as deltas.
  MemoryStat stat;  // gauges; its counters are unset, their deltas are the fields below
  std::optional<std::uint64_t> pgfault, pgmajfault, workingset_refault_anon, workingset_refault_file;
  MemoryKnobs knobs;
  MemoryEvents events;  // deltas
  Pressure pressure;
  std::optional<std::uint64_t> pressure_some_usec, pressure_full_usec;
};

void derive_memory_bpf(const MemoryBpfCounters* prev, const MemoryBpfCounters& curr, MemoryInterval& out);

}  // namespace cgscope::model
