#include "cli/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <vector>

namespace cgscope::cli {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  const std::string original(text);
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin)
    return Error{"invalid duration '" + original + "' (expected e.g. 1s, 500ms, 2m)"};
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ns") scale = 1;
  else if (unit == "m") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return Error{"invalid duration unit in '" + original + "' (use ns, us, ms, s, m or h)"};
  const double ns = value * scale;
  if (!(ns >= 1) || ns > 1e18) return Error{"duration '" + original + "' out of range"};
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

std::string format_ns(std::uint64_t ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  if (ns < 1'000'000) return fmt::format("{:.1f}us", ns / 1e3);
  if (ns < 1'000'000'000) return fmt::format("{:.2f}ms", ns / 1e6);
  return fmt::format("{:.2f}s", ns / 1e9);
}

namespace {

double cpu_of(const model::CgroupInterval& cg) {
  if (cg.has_bpf) return cg.cpu_percent;
  return cg.cpu_percent_cgroupfs.value_or(0);
}

bool active(const model::CgroupInterval& cg) {
  return cpu_of(cg) >= 0.05 || cg.nr_throttled.value_or(0) > 0 || cg.run_delay_ns.count() > 0 ||
         cg.removed;
}

// Run-queue delays below 1 us mostly mean "no scheduler clock tick between wakeup and run"
// (sched_info mode): say so instead of printing a precise-looking "1ns".
std::string format_delay(std::uint64_t ns) { return ns < 1000 ? "<1us" : format_ns(ns); }

std::string fit(std::string_view s, std::size_t width) {
  if (s.size() <= width) return std::string(s);
  return "…" + std::string(s.substr(s.size() - (width - 1)));
}

}  // namespace

std::string render_table(const model::Snapshot& snap, const TableOptions& options) {
  std::vector<const model::CgroupInterval*> rows;
  for (const auto& cg : snap.cgroups)
    if (options.all || active(cg)) rows.push_back(&cg);
  std::stable_sort(rows.begin(), rows.end(),
                   [](auto* a, auto* b) { return cpu_of(*a) > cpu_of(*b); });
  const std::size_t shown = options.top ? std::min(rows.size(), options.top) : rows.size();

  std::string out;
  const std::time_t t = static_cast<std::time_t>(snap.end_realtime_ns / 1'000'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%F %T", &tm);
  out += fmt::format("{}  interval {:.2f}s  {} cgroups, {} shown  {} CPUs\n", when,
                     snap.interval_seconds(), snap.cgroups.size(), shown, snap.nr_cpus);
  for (const auto& c : snap.collectors) {
    std::string drops;
    for (const auto& [reason, n] : c.drops)
      if (n) drops += fmt::format(" {}={}", reason, n);
    out += fmt::format("  {}: {}{}{}\n", c.name, c.active ? "" : "INACTIVE: ", c.message,
                       drops.empty() ? "" : "  dropped:" + drops);
  }
  out += fmt::format("{:<40} {:<14} {:>7} {:>9} {:>9} {:>6} {:>7}\n", "CGROUP", "CONTAINER", "CPU%",
                     "RQ p50", "RQ p99", "THR%", "PSI%");
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& cg = *rows[i];
    const auto& c = cg.identity.container;
    const std::string container = c.is_container() ? c.container_id.substr(0, 12) : "-";
    const std::string p50 = cg.run_delay_ns.empty() ? "-" : format_delay(cg.run_delay_ns.percentile(0.5));
    const std::string p99 = cg.run_delay_ns.empty() ? "-" : format_delay(cg.run_delay_ns.percentile(0.99));
    const std::string thr = cg.throttled_percent ? fmt::format("{:.1f}", *cg.throttled_percent) : "-";
    const std::string psi =
        cg.cpu_pressure.some ? fmt::format("{:.2f}", cg.cpu_pressure.some->avg10) : "-";
    std::string name = cg.identity.display_name();
    if (cg.removed) name += " (gone)";
    out += fmt::format("{:<40} {:<14} {:>7.1f} {:>9} {:>9} {:>6} {:>7}\n", fit(name, 40), container,
                       cpu_of(cg), p50, p99, thr, psi);
  }
  return out;
}

}  // namespace cgscope::cli
