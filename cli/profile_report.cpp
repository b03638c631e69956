#include "cli/profile_report.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cli/format.hpp"

namespace cgscope::cli {

std::string describe_run(const ProfileRun& run) {
  std::string out;
  if (run.mode == collector::ProfileMode::kOnCpu)
    out = fmt::format("on-CPU, {} at {} Hz per CPU", collector::to_string(run.event), run.frequency_hz);
  else
    out = "off-CPU (time blocked, by blocking stack)";
  out += fmt::format(", {:.1f} s, {} CPUs", run.duration_s, run.cpus);
  if (run.mode == collector::ProfileMode::kOnCpu)
    out += run.unwind == collector::UnwindMode::kDwarf
               ? fmt::format(", user stacks unwound from CFI ({} KiB stack copies)", run.stack_copy_bytes / 1024.0)
               : ", user stacks by frame pointers";
  if (run.patterns.empty()) {
    out += ", every cgroup";
  } else {
    std::string pats;
    for (const auto& p : run.patterns) pats += (pats.empty() ? "'" : ", '") + p + "'";
    out += fmt::format(", cgroups matching {} ({} and their descendants)", pats, run.matched_cgroups);
  }
  return out;
}

namespace {

// "a.so (12), b (3), c (1)": the three binaries with the most samples.
std::string top_modules(const std::map<std::string, std::uint64_t>& counts) {
  std::vector<std::pair<std::uint64_t, std::string>> mods;
  for (const auto& [m, n] : counts) mods.emplace_back(n, m);
  std::sort(mods.rbegin(), mods.rend());
  std::string where;
  for (std::size_t i = 0; i < mods.size() && i < 3; ++i)
    where += fmt::format("{}{} ({})", i ? ", " : "", mods[i].second, mods[i].first);
  return where;
}

}  // namespace

std::string unwind_line(const collector::ProfilerStats& p, const collector::SymbolizerStats& s) {
  const std::uint64_t total = s.unwind_dwarf_samples + s.unwind_joined_samples + s.unwind_fp_samples;
  if (!total) return {};
  std::string out = fmt::format("user stacks: {} unwound from CFI, {} from CFI and frame pointers (code "
                                "without CFI), {} by frame pointers",
                                s.unwind_dwarf_samples, s.unwind_joined_samples, s.unwind_fp_samples);
  if (p.stack_copies)
    out += fmt::format("; {} stack copies, {:.1f} KiB on average", p.stack_copies,
                       static_cast<double>(p.stack_copy_bytes) / 1024.0 / static_cast<double>(p.stack_copies));
  return out;
}

std::vector<std::string> loss_lines(const ProfileRun& run, const collector::ProfilerStats& p,
                                    const collector::SymbolizerStats& s) {
  std::vector<std::string> out;
  const bool on_cpu = run.mode == collector::ProfileMode::kOnCpu;
  const char* what = on_cpu ? "samples" : "off-CPU intervals";
  if (p.count_map_full)
    out.push_back(fmt::format("{} {} lost: the count map was full (raise --count-map-entries)",
                              p.count_map_full, what));
  if (p.user_stack_collisions || p.user_stack_map_full)
    out.push_back(fmt::format(
        "{} user stacks lost ({} stack map hash collisions, {} stack map full): shown as "
        "'[user stack lost: ...]' (raise --stack-map-entries)",
        p.user_stack_collisions + p.user_stack_map_full, p.user_stack_collisions, p.user_stack_map_full));
  if (p.kernel_stack_collisions || p.kernel_stack_map_full)
    out.push_back(
        fmt::format("{} kernel stacks lost ({} stack map hash collisions, {} stack map full): shown as "
                    "'[kernel stack lost: ...]' (raise --stack-map-entries)",
                    p.kernel_stack_collisions + p.kernel_stack_map_full, p.kernel_stack_collisions,
                    p.kernel_stack_map_full));
  if (p.process_events_lost)
    out.push_back(fmt::format("{} new-process events lost (ring buffer full): their maps may be unread",
                              p.process_events_lost));
  if (p.off_cpu_no_storage)
    out.push_back(
        fmt::format("{} blocking tasks not tracked: no task storage (memory)", p.off_cpu_no_storage));
  if (p.kernel_recursion_misses)
    out.push_back(fmt::format("{} program runs skipped by the kernel (nested BPF programs)",
                              p.kernel_recursion_misses));
  for (const auto& e : p.cpu_errors) out.push_back("not sampled: " + e);
  if (p.stack_copies_lost)
    out.push_back(fmt::format("{} samples fell back to frame pointers: the stack copy ring buffer was full "
                              "(raise --stack-ring)",
                              p.stack_copies_lost));
  if (p.stack_copies_dropped)
    out.push_back(fmt::format("{} samples lost their user stack: cgscope fell behind reading the stack copies "
                              "(64 MiB waiting); shown as '[user stack lost: ...]'",
                              p.stack_copies_dropped));
  if (p.stack_copies_unreadable)
    out.push_back(fmt::format("{} samples fell back to frame pointers: their user stack or registers could "
                              "not be read",
                              p.stack_copies_unreadable));
  std::uint64_t stopped = 0;
  std::string why;
  for (int i = 0; i < static_cast<int>(collector::UnwindStop::kCount); ++i) {
    const auto stop = static_cast<collector::UnwindStop>(i);
    if (stop == collector::UnwindStop::kOutermost || !s.unwind_stops[i]) continue;
    stopped += s.unwind_stops[i];
    why += fmt::format("{}{} {}", why.empty() ? "" : ", ", s.unwind_stops[i], collector::to_string(stop));
  }
  if (stopped) {
    const std::string where = top_modules(s.unwind_stop_modules);
    out.push_back(fmt::format("{} of {} unwinds stopped short ({}), shown as '[unwind stopped: ...]'; in: {}{}",
                              stopped, s.unwound, why, where,
                              s.unwind_stops[static_cast<int>(collector::UnwindStop::kEndOfCopy)]
                                  ? " (deep stacks: raise --stack-copy)"
                                  : ""));
  }
  if (s.processes_gone || s.samples_without_maps)
    out.push_back(
        fmt::format("{} processes exited before their maps were read; {} {} of processes without maps "
                    "have '[unknown] (process exited before its maps were read)' user frames",
                    s.processes_gone, s.samples_without_maps, what));
  if (s.module_errors) {
    std::string first = s.errors.empty() ? "" : " (first: " + s.errors.front() + ")";
    out.push_back(fmt::format("{} binaries could not be read; their frames are '[unknown] (name)'{}",
                              s.module_errors, first));
  }
  if (!s.kernel_symbols_error.empty()) out.push_back("kernel frames unnamed: " + s.kernel_symbols_error);
  if (s.short_user_stack_samples) {
    const std::string where = top_modules(s.short_stack_modules);
    out.push_back(
        fmt::format("{} of {} {} with a user stack ({:.1f}%) have short user stacks that stop before a "
                    "thread entry point{}; outermost frame in: {}",
                    s.short_user_stack_samples, s.user_stack_samples, what,
                    100.0 * static_cast<double>(s.short_user_stack_samples) /
                        static_cast<double>(std::max<std::uint64_t>(s.user_stack_samples, 1)),
                    s.unwind_fp_samples > s.unwind_dwarf_samples + s.unwind_joined_samples
                        ? " (code built without frame pointers: --unwind dwarf walks it)"
                        : "",
                    where));
  }
  if (s.max_depth_user_stack_samples)
    out.push_back(
        fmt::format("{} {} have user stacks cut at 127 frames", s.max_depth_user_stack_samples, what));
  return out;
}

std::string render_counters(const std::vector<collector::CounterReading>& readings,
                            const collector::CgroupCounters& counters, double duration_s) {
  std::string out;
  const bool hw = counters.hardware_available();
  out += fmt::format("{:<44} {:>10} {:>7} {:>14} {:>14} {:>5} {:>8} {:>12}\n", "CGROUP", "CPU", "CPU%",
                     "CYCLES", "INSTRUCTIONS", "IPC", "LLC-MISS", "BR-MISSES");
  for (const auto& r : readings) {
    const auto& v = r.values;
    const double cpu_pct =
        duration_s > 0 ? 100.0 * static_cast<double>(v.task_clock_ns) / (duration_s * 1e9) : 0;
    std::string path = r.path.size() > 44 ? "..." + r.path.substr(r.path.size() - 41) : r.path;
    if (hw && v.hardware) {
      out += fmt::format("{:<44} {:>10} {:>7.1f} {:>14} {:>14} {:>5.2f} {:>7.1f}% {:>12}\n", path,
                         format_ns(v.task_clock_ns), cpu_pct, v.cycles, v.instructions, v.ipc(),
                         100.0 * v.cache_miss_rate(), v.branch_misses);
    } else {
      out += fmt::format("{:<44} {:>10} {:>7.1f} {:>14} {:>14} {:>5} {:>8} {:>12}\n", path,
                         format_ns(v.task_clock_ns), cpu_pct, "-", "-", "-", "-", "-");
    }
  }
  if (!hw) out += "hardware counters: unavailable: " + counters.hardware_unavailable_reason() + "\n";
  return out;
}

}  // namespace cgscope::cli
