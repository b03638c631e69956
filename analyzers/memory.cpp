// Memory rules: reclaim stalls and pressure under the cgroup's own limits (sized from the
// working set), OOM kills and OOM risk (sized from the peak).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analyzers/rule_util.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;
using model::Series;

constexpr double kReclaimWarning = 0.01;   // of wall time stalled in reclaim
constexpr double kPressureWarning = 0.05;  // PSI memory some, of wall time
constexpr double kHighEventsShare = 0.10;  // of intervals with memory.high events
constexpr double kLimitMargin = 1.20;      // over the working set peak
constexpr double kOomMargin = 1.25;        // over the peak
constexpr double kOomRiskShare = 0.95;     // peak at this share of memory.max: at risk
constexpr double kAtLimit = 0.95;          // memory.current peak at this share of its limit
constexpr double kStepUp = 1.5;            // limit step when the working set does not fit

double stat_max(const model::CgroupSummary& cg, Series s) { return cg[s].count ? cg[s].max : 0; }

}  // namespace

// ---- 4. memory pressure ----

void memory_pressure(const RuleContext& ctx, std::vector<Finding>& out) {
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    if (!ctx.enough[i]) continue;
    const auto& cg = ctx.cgroups[i];
    const CgroupBudget& b = ctx.budgets[i];
    if (b.wall_seconds <= 0) continue;
    const double reclaim = b[Cause::kReclaim];
    const double direct = cg[Series::kDirectReclaimSeconds].sum;
    const double psi = cg[Series::kMemoryPressureSomeSeconds].sum;
    const double high_intervals = [&] {
      const auto v = ctx.values(cg.id, Series::kMemoryHighEvents);
      std::size_t n = 0;
      for (float x : v.values) n += !std::isnan(x) && x > 0;
      return static_cast<double>(n);
    }();
    const double max_events = cg[Series::kMemoryMaxEvents].sum;
    const double refaults = cg[Series::kMemoryRefaults].sum;
    const bool stalls = reclaim / b.wall_seconds >= kReclaimWarning;
    const bool pressure = psi / b.wall_seconds >= kPressureWarning;
    const bool high = cg.intervals && high_intervals / cg.intervals >= kHighEventsShare;
    if (!stalls && !pressure && !high) continue;
    // Reclaim the host forced on everyone (direct, no limit of its own hit) is the host rule's.
    const auto* st = ctx.window.state(cg.id);
    const bool own_limit = st && (st->memory.high_bytes || st->memory.max_bytes);
    if (!own_limit && direct >= 0.5 * reclaim && !high) continue;

    // Severity from the worse of the two stall measures; the lost time it explains is the
    // budget's reclaim time, PSI only where reclaim was not measured (PSI some also counts other
    // memory stalls, and is not part of the budget).
    const bool reclaim_measured = b.measured[static_cast<std::size_t>(Cause::kReclaim)];
    const double worst = std::max(reclaim, psi);
    const std::string name = name_of(cg);
    Finding f = ctx.finding("memory-pressure", cg);
    f.severity = severity_for(worst / b.wall_seconds, kReclaimWarning, 0.10);
    f.explains = Cause::kReclaim;
    f.lost_seconds = reclaim_measured ? reclaim : psi;
    f.lost_fraction = f.lost_seconds / b.wall_seconds;
    const double ws = stat_max(cg, Series::kMemoryWorkingSetBytes);
    const double current = stat_max(cg, Series::kMemoryCurrentBytes);
    f.title = reclaim_measured
                  ? fmt::format("{} stalled {} of its time reclaiming memory under its limit", name,
                                share_of_time(reclaim, b.wall_seconds))
                  : fmt::format("{} stalled on memory {} of its time (PSI memory some) under its limit", name,
                                share_of_time(psi, b.wall_seconds));
    if (reclaim_measured && psi > reclaim)
      f.title += fmt::format(" (PSI memory some {})", share_of_time(psi, b.wall_seconds));
    f.summary = fmt::format(
        "In {:.0f} s: reclaim stalls {:.2f} s (threshold {} of the time), PSI memory some {:.2f} s "
        "(threshold {}), memory.high events in {:.0f} of {} intervals, memory.max events {:.0f}, refaults "
        "{:.0f}; working set peak {}, memory.current peak {}.",
        b.wall_seconds, reclaim, percent(kReclaimWarning), psi, percent(kPressureWarning), high_intervals,
        cg.intervals, max_events, refaults, bytes_human(ws), bytes_human(current));
    f.evidence = {{"reclaim_seconds", reclaim, fmt::format("{:.2f} s in reclaim", reclaim)},
                  {"memory_pressure_some_seconds", psi, fmt::format("{:.2f} s PSI some", psi)},
                  {"memory_high_event_intervals", high_intervals, "intervals with memory.high events"},
                  {"memory_max_events", max_events, "memory.max events"},
                  {"refaults", refaults, "pages read back after eviction"},
                  {"working_set_peak_bytes", ws, bytes_human(ws) + " working set peak"}};
    f.cause = refaults > 0
                  ? "Its working set does not fit under its limit: the kernel evicts pages it needs again "
                    "soon (refaults), and its tasks stall reclaiming them."
                  : "It runs at its memory limit: its tasks stall reclaiming page cache to allocate.";
    // At its limit with refaults, the working set does not fit and cannot be measured under the
    // limit (it is capped by it): step the limit up instead of sizing it from what fits.
    const double limit = st && st->memory.high_bytes  ? static_cast<double>(*st->memory.high_bytes)
                         : st && st->memory.max_bytes ? static_cast<double>(*st->memory.max_bytes)
                                                      : 0;
    const bool capped = limit > 0 && refaults > 0 && (current >= kAtLimit * limit || max_events > 0 || high);
    const double target = capped ? std::max(ws * kLimitMargin, limit * kStepUp) : ws * kLimitMargin;
    const std::string derivation =
        capped ? fmt::format(
                     "{:.0f} refaults at the limit ({}): the working set is larger than the limit and cannot "
                     "be measured under it; the limit x {:.1f}, rounded up to a MiB (check refaults again "
                     "after the change)",
                     refaults, bytes_human(limit), kStepUp)
               : fmt::format(
                     "working set peak {} (memory.current minus inactive file pages) x {:.2f}, rounded up to "
                     "a MiB",
                     bytes_human(ws), kLimitMargin);
    auto add = [&](const std::string& file, std::optional<std::uint64_t> now, const std::string& why) {
      Recommendation r;
      r.knob = file;
      r.target = name;
      r.current = now ? std::to_string(*now) : "max";
      r.suggested = bytes_knob(target);
      r.derivation = derivation;
      r.effect = why;
      r.risk = "the host must have the memory: other cgroups' page cache is reclaimed instead";
      r.commands =
          knob_commands(f.identity, ctx.options.layout, memory_change(file, target, swap_now(st->memory)));
      f.recommendations.push_back(std::move(r));
    };
    if (st && st->memory.high_bytes && static_cast<double>(*st->memory.high_bytes) < target)
      add("memory.high", st->memory.high_bytes, "no more throttling into reclaim below the working set");
    if (st && st->memory.max_bytes && static_cast<double>(*st->memory.max_bytes) < target)
      add("memory.max", st->memory.max_bytes,
          "room for the working set; reclaim only of what it does not reuse");
    if (f.recommendations.empty()) {
      // No limit of its own below the working set: protect it from others' reclaim instead.
      Recommendation r;
      r.knob = "memory.low";
      r.target = name;
      r.current = st && st->memory.low_bytes ? std::to_string(*st->memory.low_bytes) : "0";
      r.suggested = bytes_knob(ws);
      r.derivation = fmt::format("its working set peak {}", bytes_human(ws));
      r.effect = "its working set is reclaimed only after unprotected memory of other cgroups";
      r.risk =
          "protected memory the host cannot reclaim: the sum of memory.low must stay below the host's memory";
      r.commands = knob_commands(f.identity, ctx.options.layout, memory_change("memory.low", ws));
      f.recommendations.push_back(std::move(r));
    }
    const auto rc = ctx.values(cg.id, Series::kReclaimSeconds);
    const auto hv = ctx.values(cg.id, Series::kMemoryHighEvents);
    ctx.mark_span(f, [&](std::size_t k) {
      return (!std::isnan(rc.values[k]) && rc.values[k] > 0) ||
             (!std::isnan(hv.values[k]) && hv.values[k] > 0);
    });
    out.push_back(std::move(f));
  }
}

// ---- 5. OOM kills and OOM risk ----

void memory_oom(const RuleContext& ctx, std::vector<Finding>& out) {
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    const auto& cg = ctx.cgroups[i];
    if (cg.id == 0 || (cg.identity && cg.identity->path == "/")) continue;  // the host's OOM, not a cgroup's
    const double kills = cg[Series::kOomKills].sum;
    const auto* st = ctx.window.state(cg.id);
    const bool max = st && st->memory.max_bytes.has_value();
    const double max_bytes = max ? static_cast<double>(*st->memory.max_bytes) : 0;
    const double peak_series =
        cg[Series::kMemoryCurrentBytes].count ? cg[Series::kMemoryCurrentBytes].max : 0;
    const double peak =
        std::max(peak_series, st && st->memory.peak_bytes ? static_cast<double>(*st->memory.peak_bytes) : 0);
    const bool risk = max && peak >= kOomRiskShare * max_bytes;
    // A kill is advice-worthy at once (it is rare and never noise); a risk needs enough data.
    if (kills <= 0 && !(risk && ctx.enough[i])) continue;
    const std::string name = name_of(cg);
    Finding f = ctx.finding("memory-oom", cg);
    f.severity = kills > 0 ? Severity::kCritical : Severity::kWarning;
    f.explains = Cause::kNone;
    if (kills > 0 && f.confidence == Confidence::kLow) f.confidence = Confidence::kMedium;
    f.title = kills > 0 ? fmt::format("{}: {:.0f} task(s) killed by the OOM killer", name, kills)
                        : fmt::format("{} peaked at {} of its memory.max: one step from the OOM killer", name,
                                      percent(peak / max_bytes));
    f.summary =
        fmt::format("OOM kills {:.0f}; memory peak {} against memory.max {} (risk threshold {}).", kills,
                    bytes_human(peak), max ? bytes_human(max_bytes) : "none", percent(kOomRiskShare));
    f.evidence = {{"oom_kills", kills, fmt::format("{:.0f} kills", kills)},
                  {"memory_peak_bytes", peak, bytes_human(peak) + " peak"},
                  {"memory_max_bytes", max_bytes, max ? "memory.max" : "no limit"}};
    f.cause =
        max ? "Its memory use reaches its limit: what cannot be reclaimed (anonymous memory, dirty pages) is "
              "ended by killing a task."
            : "The host ran out of memory: the kernel chose a task of this cgroup.";
    if (max) {
      const double target = peak * kOomMargin;
      Recommendation r;
      r.knob = "memory.max";
      r.target = name;
      r.current = std::to_string(*st->memory.max_bytes);
      r.suggested = bytes_knob(target);
      r.derivation =
          fmt::format("measured peak {} x {:.2f} margin, rounded up to a MiB{}", bytes_human(peak),
                      kOomMargin, kills > 0 ? " (the peak before a kill understates the need)" : "");
      r.effect = "room for its peak; the OOM killer only for a real leak";
      r.risk = "a leaking process takes longer to be stopped and takes more of the host's memory first";
      r.commands = knob_commands(f.identity, ctx.options.layout,
                                 memory_change("memory.max", target, swap_now(st->memory)));
      f.recommendations.push_back(std::move(r));
    }
    const auto kv = ctx.values(cg.id, Series::kOomKills);
    const auto cur = ctx.values(cg.id, Series::kMemoryCurrentBytes);
    const double at_risk = max ? kOomRiskShare * max_bytes : HUGE_VAL;
    ctx.mark_span(f, [&](std::size_t k) {
      return (!std::isnan(kv.values[k]) && kv.values[k] > 0) ||
             (!std::isnan(cur.values[k]) && cur.values[k] >= at_risk);
    });
    out.push_back(std::move(f));
  }
}

}  // namespace cgscope::analyzers
