// Text of `cgscope profile`: what was measured and what was lost (the summary on stderr and
// the comments inside the profile), and the per-cgroup hardware counter table.
#pragma once

#include <string>
#include <vector>

#include "collector/profile/counters.hpp"
#include "collector/profile/profile.hpp"
#include "collector/profile/symbolize/symbolizer.hpp"

namespace cgscope::cli {

struct ProfileRun {
  collector::ProfileMode mode = collector::ProfileMode::kOnCpu;
  collector::SampleEvent event = collector::SampleEvent::kCpuClock;
  std::uint32_t frequency_hz = 0;
  double duration_s = 0;
  std::uint32_t cpus = 0;
  std::vector<std::string> patterns;  // --cgroup
  std::size_t matched_cgroups = 0;
  collector::UnwindMode unwind = collector::UnwindMode::kFramePointers;
  std::uint32_t stack_copy_bytes = 0;
};

// "user stacks: 980 unwound from CFI, 12 from CFI and frame pointers (code without CFI), ...";
// "" when no sample had a user stack.
std::string unwind_line(const collector::ProfilerStats& p, const collector::SymbolizerStats& s);

// "on-CPU, cpu-clock at 49 Hz per CPU, 10.0 s, 2 CPUs, cgroups matching '/a*' (1)".
std::string describe_run(const ProfileRun& run);

// One line per kind of loss or truncation that happened (none: empty), plus the symbolization
// totals; each line is self-explanatory ("3 user stacks lost: stack map hash collision ...").
std::vector<std::string> loss_lines(const ProfileRun& run, const collector::ProfilerStats& p,
                                    const collector::SymbolizerStats& s);

// The counter table: task-clock CPU time and share per cgroup, and cycles, instructions, IPC,
// cache miss rate, branch misses where the hardware counts them; else the reason why not.
std::string render_counters(const std::vector<collector::CounterReading>& readings,
                            const collector::CgroupCounters& counters, double duration_s);

}  // namespace cgscope::cli
