// Small helpers around libbpf shared by the eBPF collectors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cgscope::collector {

// Routes libbpf's messages: warnings to stderr always, debug output only when verbose.
void setup_libbpf_logging(bool verbose);

// "Operation not permitted (need CAP_BPF and CAP_PERFMON, or run as root)" for a negative
// libbpf/kernel error code; adds what to do for the errors users meet.
std::string bpf_error_message(int err);

// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns().
std::uint64_t monotonic_ns();

// Reads a per-CPU map value into `out` (resized to possible CPUs x value size, 8-aligned).
// Returns false if the key is absent.
bool lookup_percpu(int map_fd, const void* key, std::size_t value_size, std::vector<std::uint8_t>& out);

// Kernel statistics of one loaded program (run_cnt/run_time_ns need kernel.bpf_stats_enabled).
struct ProgramStats {
  std::uint32_t id = 0;
  std::string name;
  std::uint64_t run_cnt = 0;
  std::uint64_t run_time_ns = 0;
  std::uint64_t recursion_misses = 0;  // events the kernel skipped because the program nested
};
ProgramStats program_stats(int prog_fd);

}  // namespace cgscope::collector
