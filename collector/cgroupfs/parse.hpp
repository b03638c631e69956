// Parsers for cgroupfs files. Pure functions of the file content: no I/O, no exceptions.
// Malformed content gives an Error naming what was wrong ("cpu.stat: line 2: expected
// '<key> <u64>', got 'usage_usec abc'"); unknown keys are ignored (kernels add keys).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::collector {

// Single unsigned integer (cpuacct.usage, cpu.shares, cpu.weight, cpu.cfs_period_us).
Result<std::uint64_t> parse_u64_file(std::string_view content);
// Single signed integer (cpu.cfs_quota_us: -1 = unlimited).
Result<std::int64_t> parse_i64_file(std::string_view content);

// v2 cpu.stat: usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec.
Result<model::CpuStat> parse_cpu_stat_v2(std::string_view content);
// v1 cpu.stat of the cpu controller: nr_periods, nr_throttled, throttled_time (ns -> usec).
Result<model::CpuStat> parse_cpu_stat_v1(std::string_view content);
// v1 cpuacct.stat: "user N" / "system N" in USER_HZ ticks -> usec (user_hz is usually 100).
Result<model::CpuStat> parse_cpuacct_stat_v1(std::string_view content, long user_hz);

// v2 cpu.max: "max 100000" or "20000 100000" -> quota (nullopt = max) and period.
struct CpuMax {
  std::optional<std::int64_t> quota_usec;
  std::uint64_t period_usec = 100000;
};
Result<CpuMax> parse_cpu_max(std::string_view content);

// cpu.pressure / io.pressure / memory.pressure (and /proc/pressure/*):
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and optionally a "full ..." line.
Result<model::Pressure> parse_pressure(std::string_view content);

// The largest CPU number a CPU list may name: beyond any kernel's NR_CPUS (x86-64: 8192). A larger
// one is a typo or a hostile input, not gigabytes to allocate or a count to overflow.
inline constexpr int kMaxCpuNumber = 65535;

// cpuset list "0-3,8,10-11" -> number of CPUs (validates the syntax).
Result<int> count_cpu_list(std::string_view content);

// ---- I/O (parse_io_memory.cpp) ----

// "MAJ:MIN" -> kernel dev_t (major << 20 | minor).
Result<std::uint32_t> parse_dev(std::string_view text);
// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6" per disk (other keys,
// e.g. cost.* of io.cost, are ignored).
Result<std::vector<model::IoStatDevice>> parse_io_stat_v2(std::string_view content);
// v1 blkio.throttle.io_service_bytes (bytes = true) or io_serviced: "8:0 Read 4096" lines and a
// final "Total N"; merged into `devices` (so both files fill one list).
Status parse_blkio_rw_v1(std::string_view file, std::string_view content, bool bytes,
                         std::vector<model::IoStatDevice>& devices);
// v2 io.max: "8:16 rbps=2097152 wbps=max riops=max wiops=120".
Result<std::vector<model::IoDeviceLimit>> parse_io_max(std::string_view content);
// v2 io.weight / io.bfq.weight ("default 100" + "8:16 200" lines) -> the default weight;
// v1 blkio.weight / blkio.bfq.weight (a bare number) too.
Result<std::uint64_t> parse_io_weight(std::string_view file, std::string_view content);
// v1 blkio.throttle.{read,write}_{bps,iops}_device: "8:16 1048576" lines, merged into `limits`.
enum class BlkioLimit { kReadBps, kWriteBps, kReadIops, kWriteIops };
// A file with a bad line leaves `limits` as it was.
Status parse_blkio_throttle_v1(std::string_view file, std::string_view content, BlkioLimit which,
                               std::vector<model::IoDeviceLimit>& limits);

// ---- memory (parse_io_memory.cpp) ----

// "<key> <u64>" lines (memory.stat, memory.events, memory.oom_control) into a map; unknown
// keys kept, bad lines an error naming the file.
Result<std::map<std::string, std::uint64_t, std::less<>>> parse_flat_keyed(std::string_view file,
                                                                           std::string_view content);
// A limit file: "max" (v2) or a byte count; v1's "unlimited" (a huge page-aligned value
// >= 2^62) -> nullopt as well.
Result<std::optional<std::uint64_t>> parse_memory_limit(std::string_view content);
// The fields cgscope uses from a memory.stat (v2 names, or v1: rss, cache, dirty, writeback,
// shmem, pgfault, pgmajfault, workingset_refault_*; total_* hierarchical keys ignored).
model::MemoryStat memory_stat_from(const std::map<std::string, std::uint64_t, std::less<>>& keys, bool v1);

}  // namespace cgscope::collector
