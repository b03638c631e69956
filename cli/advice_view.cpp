#include "cli/advice_view.hpp"

#include <fmt/format.h>

#include "cli/record_options.hpp"

namespace cgscope::cli {
namespace {

using analyzers::Cause;

std::string indent(const std::string& text, const std::string& prefix, const std::string& first_prefix) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    out += (first ? first_prefix : prefix) + line + "\n";
    first = false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string clock_time(std::int64_t realtime_ns) {
  const std::string t = format_time(realtime_ns);  // "YYYY-MM-DD HH:MM:SS"
  return t.size() >= 19 ? t.substr(11, 8) : t;
}

}  // namespace

std::string budget_cell(const analyzers::CgroupBudget& b, Cause c) {
  const auto i = static_cast<std::size_t>(c);
  if (!b.measured[i] || b.wall_seconds <= 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * b.lost[i] / b.wall_seconds);
}

std::string render_advice(const analyzers::Analysis& a, const AdviceViewOptions& options) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& f : a.findings) shown += f.severity >= options.min_severity;
  out += fmt::format("cgscope advise: {} intervals, {:.0f} s ({} to {}), {} cgroups, {} finding(s)", a.range.size(),
                     a.seconds, a.start_realtime_ns ? format_time(a.start_realtime_ns) : "-",
                     a.end_realtime_ns ? clock_time(a.end_realtime_ns) : "-", a.cgroups, shown);
  if (shown < a.findings.size())
    out += fmt::format(" ({} below {} not shown)", a.findings.size() - shown, to_string(options.min_severity));
  out += "\n";
  for (const auto& n : a.notes) out += "note: " + n + "\n";

  if (!a.budgets.empty()) {
    out += "\nLOST TIME: share of each cgroup's time (100% = one of its tasks all the time)\n";
    out += fmt::format("{:<40}", "CGROUP");
    for (std::size_t c = 0; c < analyzers::kCauseCount; ++c) out += fmt::format(" {:>9}", label(static_cast<Cause>(c)));
    out += fmt::format(" {:>9}  NEIGHBOURS\n", "TOTAL");
    for (std::size_t r = 0; r < a.budgets.size() && r < options.budget_rows; ++r) {
      const auto& b = a.budgets[r];
      std::string name = b.identity.display_name();
      if (name.size() > 40) name = name.substr(0, 19) + ".." + name.substr(name.size() - 19);
      out += fmt::format("{:<40}", name);
      for (std::size_t c = 0; c < analyzers::kCauseCount; ++c) {
        std::string cell = budget_cell(b, static_cast<Cause>(c));
        if (static_cast<Cause>(c) == Cause::kRunDelayOwn && b.run_delay_unsplit > 0)
          cell = fmt::format("{:.1f}%*", 100.0 * (b.lost[c] + b.run_delay_unsplit) / b.wall_seconds);
        out += fmt::format(" {:>9}", cell);
      }
      out += fmt::format(" {:>8.1f}%  ", b.wall_seconds > 0 ? 100.0 * b.total() / b.wall_seconds : 0.0);
      for (std::size_t n = 0; n < b.neighbours.size() && n < 2; ++n)
        out += fmt::format("{}{} {:.1f}s", n ? ", " : "",
                           b.neighbours[n].identity.path.empty() ? fmt::format("cgroup#{}", b.neighbours[n].cgroup_id)
                                                                 : b.neighbours[n].identity.display_name(),
                           b.neighbours[n].seconds);
      out += "\n";
    }
    if (a.budgets.size() > options.budget_rows)
      out += fmt::format("({} more cgroups lost time: --json lists every one)\n", a.budgets.size() - options.budget_rows);
    bool unsplit = false;
    for (const auto& b : a.budgets) unsplit |= b.run_delay_unsplit > 0;
    if (unsplit) out += "* run delay not split by who held the CPU (no holder data in this window)\n";
  }

  std::size_t n = 0;
  for (const auto& f : a.findings) {
    if (f.severity < options.min_severity) continue;
    out += fmt::format("\n{}. [{}] {}: {}\n", ++n, to_string(f.severity), f.rule, f.title);
    std::string where = f.cgroup_id ? fmt::format("cgroup {}", f.identity.path.empty() ? fmt::format("#{}", f.cgroup_id)
                                                                                       : f.identity.path)
                                    : "host";
    out += fmt::format("   {} · seen {}–{} ({} intervals) · confidence {} ({})\n", where, clock_time(f.first_realtime_ns),
                       clock_time(f.last_realtime_ns), f.intervals, to_string(f.confidence), f.confidence_basis);
    out += indent(f.summary, "   ", "   Evidence: ");
    out += indent(f.cause, "   ", "   Cause: ");
    for (const auto& r : f.recommendations) {
      out += fmt::format("   -> {} on {}: {} -> {}\n", r.knob, r.target, r.current, r.suggested);
      out += indent(r.derivation, "        ", "      how:    ");
      out += indent(r.effect, "        ", "      effect: ");
      out += indent(r.risk, "        ", "      risk:   ");
      for (const auto& c : r.commands) {
        if (!options.all_commands && !c.preferred) continue;
        const std::string tag = fmt::format("      {}{}:", to_string(c.manager), c.preferred ? " (how this cgroup is managed)" : "");
        if (c.text.empty()) {
          out += tag + " " + c.note + "\n";
          continue;
        }
        out += tag + (c.note.empty() ? "" : " (" + c.note + ")") + "\n";
        out += indent(c.text, "        ", "        ");
      }
    }
  }
  if (n == 0) out += "\nNo findings: nothing measured in this window crosses a rule's threshold (docs/analyzers.md).\n";
  return out;
}

}  // namespace cgscope::cli
