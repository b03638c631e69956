#include "cli/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <functional>
#include <optional>
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

std::string format_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) bytes /= 1024, ++unit;
  return unit == 0 ? fmt::format("{:.0f}", bytes) : fmt::format("{:.1f}{}", bytes, kUnits[unit]);
}

Result<TableView> parse_table_view(std::string_view text) {
  if (text == "summary") return TableView::kSummary;
  if (text == "cpu") return TableView::kCpu;
  if (text == "io") return TableView::kIo;
  if (text == "memory") return TableView::kMemory;
  if (text == "nfs") return TableView::kNfs;
  return Error{"unknown view '" + std::string(text) + "' (expected summary, cpu, io, memory or nfs)"};
}

namespace {

using model::cpu_percent;
using model::io_bytes;
using model::reclaim_ns;

// Delays as measured: sub-microsecond waits are real since the default CPU mode corrects the
// runqueue clock's skipped updates (docs/collectors.md).
std::string format_delay(std::uint64_t ns) { return format_ns(ns); }

std::string fit(std::string_view s, std::size_t width) {
  if (s.size() <= width) return std::string(s);
  return "…" + std::string(s.substr(s.size() - (width - 1)));
}

std::string pct(std::optional<double> v) { return v ? fmt::format("{:.1f}", *v) : "-"; }
std::string p99(const model::Log2Histogram& h) { return h.empty() ? "-" : format_delay(h.percentile(0.99)); }
std::string p50(const model::Log2Histogram& h) { return h.empty() ? "-" : format_delay(h.percentile(0.5)); }

struct Column {
  const char* title;
  int width;
  std::function<std::string(const model::CgroupInterval&, double seconds)> cell;
};

// Which eBPF collectors ran: a cgroup they saw nothing of gets 0, not "-" (unknown).
struct Active {
  bool io = false, memory = false;
};

std::vector<Column> columns_of(TableView view, Active on, std::uint32_t page_size) {
  using CI = model::CgroupInterval;
  auto per_sec = [](double v, double s) { return s > 0 ? v / s : 0.0; };
  auto share = [](std::uint64_t ns, double s) -> std::optional<double> {
    return s > 0 ? std::optional<double>(100.0 * static_cast<double>(ns) / (s * 1e9)) : std::nullopt;
  };
  const Column cpu{"CPU%", 7, [](const CI& c, double) { return fmt::format("{:.1f}", cpu_percent(c)); }};
  const Column rq50{"RQ p50", 9, [](const CI& c, double) { return p50(c.run_delay_ns); }};
  const Column rq99{"RQ p99", 9, [](const CI& c, double) { return p99(c.run_delay_ns); }};
  const Column thr{"THR%", 6, [](const CI& c, double) { return pct(c.throttled_percent); }};
  const Column cpu_psi{"PSI%", 7, [](const CI& c, double) {
    return c.cpu_pressure.some ? fmt::format("{:.2f}", c.cpu_pressure.some->avg10) : "-";
  }};
  const Column io_rate{"IO/s", 7, [=](const CI& c, double s) { return format_bytes(per_sec(io_bytes(c), s)); }};
  const Column io_p99{"IO p99", 9, [](const CI& c, double) {
    model::Log2Histogram h = c.io.read_latency_ns;
    h.merge(c.io.write_latency_ns);
    return p99(h);
  }};
  const Column iowait{"IOWAIT%", 8, [=](const CI& c, double s) {
    return c.io.has_iowait ? pct(share(c.io.iowait_ns, s)) : "-";
  }};
  const Column reclaim{"RECL%", 6, [=](const CI& c, double s) {
    return c.memory.has_bpf || on.memory ? pct(share(reclaim_ns(c), s)) : "-";
  }};
  const Column hit{"HIT%", 6, [](const CI& c, double) {
    return c.memory.cache_hit_ratio ? fmt::format("{:.0f}", 100 * *c.memory.cache_hit_ratio) : "-";
  }};
  switch (view) {
    case TableView::kSummary:
    case TableView::kNfs:  // rendered by render_nfs
      return {cpu, rq99, thr, io_rate, io_p99, iowait, reclaim, hit};
    case TableView::kCpu:
      return {cpu, rq50, rq99, thr, cpu_psi};
    case TableView::kIo:
      return {
          {"READ/s", 7, [=](const CI& c, double s) { return format_bytes(per_sec(c.io.read_bytes, s)); }},
          {"WRITE/s", 7, [=](const CI& c, double s) { return format_bytes(per_sec(c.io.write_bytes, s)); }},
          {"R IOPS", 7, [=](const CI& c, double s) { return fmt::format("{:.0f}", per_sec(c.io.read_ios, s)); }},
          {"W IOPS", 7, [=](const CI& c, double s) { return fmt::format("{:.0f}", per_sec(c.io.write_ios, s)); }},
          {"R p50", 9, [](const CI& c, double) { return p50(c.io.read_latency_ns); }},
          {"R p99", 9, [](const CI& c, double) { return p99(c.io.read_latency_ns); }},
          {"W p99", 9, [](const CI& c, double) { return p99(c.io.write_latency_ns); }},
          {"WB/s", 7, [=](const CI& c, double s) { return format_bytes(per_sec(c.io.writeback_bytes, s)); }},
          iowait,
          {"DIRTY%", 7, [=](const CI& c, double s) { return c.io.has_bpf || on.io ? pct(share(c.io.dirty_throttle_ns, s)) : "-"; }},
          {"PSI%", 7, [](const CI& c, double) {
             return c.io.pressure.some ? fmt::format("{:.2f}", c.io.pressure.some->avg10) : "-";
           }},
      };
    case TableView::kMemory:
      return {
          {"USED", 7, [](const CI& c, double) {
             return c.memory.knobs.current_bytes ? format_bytes(*c.memory.knobs.current_bytes) : "-";
           }},
          {"LIMIT", 7, [](const CI& c, double) {
             const auto& k = c.memory.knobs;
             const auto limit = k.high_bytes ? k.high_bytes : k.max_bytes;
             return limit ? format_bytes(*limit) : "-";
           }},
          reclaim,
          {"RECL/s", 7, [=](const CI& c, double s) {
             return fmt::format("{:.0f}", per_sec(c.memory.direct_reclaim_count + c.memory.memcg_reclaim_count, s));
           }},
          {"RECL p99", 9, [](const CI& c, double) { return p99(c.memory.reclaim_ns); }},
          {"MAJFLT/s", 9, [=](const CI& c, double s) {
             return c.memory.pgmajfault ? fmt::format("{:.0f}", per_sec(*c.memory.pgmajfault, s)) : "-";
           }},
          hit,
          {"MISS/s", 7, [=](const CI& c, double s) {
             return format_bytes(per_sec(static_cast<double>(c.memory.cache_read_added_pages) * page_size, s));
           }},
          {"OOM", 4, [](const CI& c, double) { return fmt::format("{}", c.memory.oom_kills); }},
          {"PSI%", 7, [](const CI& c, double) {
             return c.memory.pressure.some ? fmt::format("{:.2f}", c.memory.pressure.some->avg10) : "-";
           }},
      };
  }
  return {};
}

double sort_key(const model::CgroupInterval& cg, TableView view) {
  switch (view) {
    case TableView::kIo: return io_bytes(cg) + static_cast<double>(cg.io.iowait_ns);
    case TableView::kMemory: return static_cast<double>(reclaim_ns(cg) + cg.memory.cache_read_added_pages);
    default: return cpu_percent(cg);
  }
}

}  // namespace

std::string render_table(const model::Snapshot& snap, const TableOptions& options) {
  std::vector<const model::CgroupInterval*> rows;
  for (const auto& cg : snap.cgroups)
    if (options.all || model::is_active(cg)) rows.push_back(&cg);
  std::stable_sort(rows.begin(), rows.end(), [&](auto* a, auto* b) {
    return sort_key(*a, options.view) > sort_key(*b, options.view);
  });
  const std::size_t shown = options.top ? std::min(rows.size(), options.top) : rows.size();
  const double seconds = snap.interval_seconds();

  std::string out;
  const std::time_t t = static_cast<std::time_t>(snap.end_realtime_ns / 1'000'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%F %T", &tm);
  out += fmt::format("{}  interval {:.2f}s  {} cgroups, {} shown  {} CPUs\n", when, seconds, snap.cgroups.size(),
                     shown, snap.nr_cpus);
  for (const auto& c : snap.collectors) {
    std::string drops;
    for (const auto& [reason, n] : c.drops)
      if (n) drops += fmt::format(" {}={}", reason, n);
    out += fmt::format("  {}: {}{}{}\n", c.name, c.active ? "" : "INACTIVE: ", c.message,
                       drops.empty() ? "" : "  dropped:" + drops);
  }
  Active on;
  for (const auto& c : snap.collectors) {
    if (c.name == "io") on.io = c.active;
    if (c.name == "memory") on.memory = c.active;
  }
  if (options.view == TableView::kNfs) return out + render_nfs(snap, options);
  const auto columns = columns_of(options.view, on, snap.page_size);
  out += fmt::format("{:<36} {:<12}", "CGROUP", "CONTAINER");
  for (const auto& col : columns) out += fmt::format(" {:>{}}", col.title, col.width);
  out += "\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& cg = *rows[i];
    const auto& c = cg.identity.container;
    const std::string container = c.is_container() ? c.container_id.substr(0, 12) : "-";
    std::string name = cg.identity.display_name();
    if (cg.removed) name += " (gone)";
    out += fmt::format("{:<36} {:<12}", fit(name, 36), container);
    for (const auto& col : columns) out += fmt::format(" {:>{}}", col.cell(cg, seconds), col.width);
    out += "\n";
  }
  return out;
}

}  // namespace cgscope::cli
