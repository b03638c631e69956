// Parsers for cgroupfs files. Pure functions of the file content: no I/O, no exceptions.
// Malformed content gives an Error naming what was wrong ("cpu.stat: line 2: expected
// '<key> <u64>', got 'usage_usec abc'"); unknown keys are ignored (kernels add keys).
#pragma once

#include <cstdint>
#include <string_view>

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

// cpuset list "0-3,8,10-11" -> number of CPUs (validates the syntax).
Result<int> count_cpu_list(std::string_view content);

}  // namespace cgscope::collector
