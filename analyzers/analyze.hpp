// The analyzers: pure functions of a Window (live or replayed) and a range of its intervals
// that return the lost-time budget per cgroup and findings with advice. Never the kernel, never
// a collector: they run the same on live data, on a recording and on test fixtures.
//
// The rules are listed in one place (analyzers/rules.cpp), one file per area: cpu, memory, io,
// nfs, host. docs/analyzers.md has one section per rule: signal, threshold and why, advice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyzers/commands.hpp"
#include "analyzers/finding.hpp"
#include "model/window.hpp"

namespace cgscope::analyzers {

struct AnalysisOptions {
  // No advice on too little data: a cgroup needs this many intervals and seconds in the range.
  std::uint32_t min_intervals = 10;
  double min_seconds = 10;
  CgroupLayout layout;  // for the commands
  // Host settings, read live or from the recording's meta: "vm.dirty_bytes" -> "0". Missing: not
  // read (a recording without them).
  std::map<std::string, std::string> sysctls;
  // The memory the dirty ratios are shares of (vm.rst's "available memory": free and reclaimable
  // pages, about MemFree + Active(file) + Inactive(file) of /proc/meminfo), bytes. 0: not known;
  // host-dirty-throttle then takes the root cgroup's page cache as a lower bound of it.
  std::uint64_t dirtyable_memory_bytes = 0;
};

struct Analysis {
  model::IntervalRange range;
  double seconds = 0;  // wall time of the range
  std::int64_t start_realtime_ns = 0, end_realtime_ns = 0;
  std::uint32_t cgroups = 0;          // in the range
  std::vector<CgroupBudget> budgets;  // cgroups with lost time, most first
  std::vector<Finding> findings;      // most lost time first, then severity
  std::uint32_t too_little_data = 0;  // cgroups left out for too few intervals
  std::vector<std::string> notes;     // what could not be judged, and why
};

Analysis analyze(const model::Window& window, model::IntervalRange range,
                 const AnalysisOptions& options = {});

// The budget of one cgroup over a range.
CgroupBudget lost_time(const model::Window& window, const model::CgroupSummary& cgroup,
                       model::IntervalRange range);

// ---- what rules see ----

struct RuleContext {
  const model::Window& window;
  model::IntervalRange range;
  const AnalysisOptions& options;
  std::vector<model::CgroupSummary> cgroups;             // in the range
  std::unordered_map<std::uint64_t, std::size_t> by_id;  // -> cgroups / budgets index
  std::vector<CgroupBudget> budgets;                     // same order as cgroups
  std::vector<bool> enough;                              // enough data for advice, same order
  double seconds = 0;

  const model::CgroupSummary* cgroup(std::uint64_t id) const;
  const CgroupBudget* budget(std::uint64_t id) const;
  // The display name of a cgroup id, in the window or not.
  std::string name(std::uint64_t id) const;
  // Wall seconds of the intervals a cgroup was present in.
  double present_seconds(const model::CgroupSummary& cg) const;
  // Interval values of a series over the range (NaN where absent).
  model::SeriesValues values(std::uint64_t id, model::Series s) const;
  double interval_seconds(std::uint64_t index) const;
  // Fills first/last/intervals of a finding from the intervals where `held(i)` (i: offset in range).
  template <typename Held>
  void mark_span(Finding& f, Held&& held) const;
  // Starts a finding of a cgroup with its identity, key and confidence filled.
  Finding finding(std::string_view rule, const model::CgroupSummary& cg, std::string key_extra = {}) const;
  void set_span(Finding& f, std::uint64_t first, std::uint64_t last, std::uint32_t n) const;
};

template <typename Held>
void RuleContext::mark_span(Finding& f, Held&& held) const {
  std::uint64_t first = 0, last = 0;
  std::uint32_t n = 0;
  for (std::uint64_t i = range.begin; i < range.end; ++i) {
    if (!held(i - range.begin)) continue;
    if (n++ == 0) first = i;
    last = i;
  }
  set_span(f, first, last, n);
}

using RuleFunction = void (*)(const RuleContext&, std::vector<Finding>&);
struct Rule {
  std::string_view id;
  std::string_view area;  // cpu, memory, io, nfs, host
  std::string_view title;
  RuleFunction run;
};
// Every rule, in one list (analyzers/rules.cpp).
const std::vector<Rule>& rules();

// The rules of each area (analyzers/<area>.cpp).
void cpu_throttling(const RuleContext&, std::vector<Finding>&);
void cpu_noisy_neighbour(const RuleContext&, std::vector<Finding>&);
void cpu_oversized(const RuleContext&, std::vector<Finding>&);
void memory_pressure(const RuleContext&, std::vector<Finding>&);
void memory_oom(const RuleContext&, std::vector<Finding>&);
void io_contention(const RuleContext&, std::vector<Finding>&);
void host_dirty_throttle(const RuleContext&, std::vector<Finding>&);
void host_direct_reclaim(const RuleContext&, std::vector<Finding>&);
void nfs_negative_lookups(const RuleContext&, std::vector<Finding>&);
void nfs_shared_writers(const RuleContext&, std::vector<Finding>&);
void nfs_revalidation_storm(const RuleContext&, std::vector<Finding>&);
void nfs_errors(const RuleContext&, std::vector<Finding>&);
void nfs_slow_rpcs(const RuleContext&, std::vector<Finding>&);

}  // namespace cgscope::analyzers
