// Host rules: sysctls that bound every container, only when the evidence points at them.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analyzers/rule_util.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;
using model::Series;

constexpr double kDirtyWarning = 0.01;          // of a cgroup's wall time paused by the dirty limit
constexpr double kDirectReclaimWarning = 0.01;  // of a cgroup's wall time in direct reclaim

std::string sysctl_now(const RuleContext& ctx, const std::string& key) {
  auto it = ctx.options.sysctls.find(key);
  return it == ctx.options.sysctls.end() ? "unknown (not read: a replay)" : it->second;
}

Finding host_finding(const RuleContext& ctx, std::string_view rule) {
  Finding f;
  f.rule = std::string(rule);
  f.key = std::string(rule) + "/host";
  f.identity.path = "/";
  const std::uint64_t n = ctx.range.size();
  f.confidence = n >= 60 ? Confidence::kHigh : n >= 20 ? Confidence::kMedium : Confidence::kLow;
  f.confidence_basis = fmt::format("{} intervals", n);
  return f;
}

}  // namespace

// ---- 7. dirty-page throttling ----

void host_dirty_throttle(const RuleContext& ctx, std::vector<Finding>& out) {
  if (ctx.range.size() < ctx.options.min_intervals) return;
  struct Writer {
    const model::CgroupSummary* cg;
    double seconds, wall;
  };
  std::vector<Writer> writers;
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    const auto& cg = ctx.cgroups[i];
    const double s = ctx.budgets[i][Cause::kDirtyThrottle];
    const double wall = ctx.budgets[i].wall_seconds;
    if (ctx.enough[i] && wall > 0 && s / wall >= kDirtyWarning) writers.push_back({&cg, s, wall});
  }
  if (writers.empty()) return;
  std::sort(writers.begin(), writers.end(),
            [](const Writer& a, const Writer& b) { return a.seconds > b.seconds; });
  // The host's write throughput: per interval, all cgroups' write rates summed; the peak.
  std::vector<double> host_rate(ctx.range.size(), 0.0);
  for (const auto& cg : ctx.cgroups) {
    if (cg.identity && cg.identity->path == "/") continue;  // the root's cgroupfs counters include everyone
    const auto v = ctx.values(cg.id, Series::kIoWriteBytesPerSecond);
    for (std::size_t k = 0; k < v.values.size(); ++k)
      if (!std::isnan(v.values[k])) host_rate[k] += v.values[k];
  }
  const double peak = host_rate.empty() ? 0 : *std::max_element(host_rate.begin(), host_rate.end());
  double lost = 0;
  std::string who;
  Finding f = host_finding(ctx, "host-dirty-throttle");
  for (std::size_t n = 0; n < writers.size(); ++n) {
    lost += writers[n].seconds;
    f.related.push_back(writers[n].cg->id);
    if (n < 3)
      who += fmt::format("{}{} {:.1f} s ({})", n ? ", " : "", name_of(*writers[n].cg), writers[n].seconds,
                         percent(writers[n].seconds / writers[n].wall));
  }
  const double fraction = writers.front().seconds / writers.front().wall;
  f.severity = severity_for(fraction, kDirtyWarning, 0.10);
  f.explains = Cause::kDirtyThrottle;
  f.lost_seconds = lost;
  f.lost_fraction = fraction;
  f.title = fmt::format("Writers were paused {:.1f} s by the host's dirty-page limit, most {}", lost,
                        name_of(*writers.front().cg));
  f.summary = fmt::format(
      "Paused in balance_dirty_pages (threshold {} of a cgroup's time): {}; the host's peak block write rate "
      "was {}/s over {:.0f} s.",
      percent(kDirtyWarning), who, bytes_human(peak), ctx.seconds);
  f.evidence = {{"dirty_throttle_seconds", lost, fmt::format("{:.1f} s paused", lost)},
                {"peak_write_bytes_per_second", peak, bytes_human(peak) + "/s peak writes"}};
  f.cause =
      "Buffered writes outran writeback: the dirty pages reached the limit (vm.dirty_ratio/_bytes, per "
      "device in proportion to its writeback speed), and the kernel paused the writers.";
  if (peak > 0) {
    const double background = std::max(peak, 16.0 * 1024 * 1024);
    const double limit = 4 * background;
    Recommendation rb;
    rb.knob = "vm.dirty_background_bytes";
    rb.target = "host";
    rb.current = sysctl_now(ctx, "vm.dirty_background_bytes");
    rb.suggested = bytes_knob(background);
    rb.derivation =
        fmt::format("1 s of the measured peak write rate ({}/s), at least 16 MiB", bytes_human(peak));
    rb.effect = "background writeback starts early enough to keep pace with the writers";
    rb.risk = "host-wide: more frequent, smaller writebacks for every container";
    rb.commands = sysctl_commands("vm.dirty_background_bytes", bytes_knob(background));
    f.recommendations.push_back(std::move(rb));
    Recommendation rl;
    rl.knob = "vm.dirty_bytes";
    rl.target = "host";
    rl.current = sysctl_now(ctx, "vm.dirty_bytes");
    rl.suggested = bytes_knob(limit);
    rl.derivation = fmt::format(
        "4 s of the peak write rate: a burst of that size is absorbed in the page cache instead of pausing "
        "the writer");
    rl.effect =
        "bursty writers are no longer paused; sustained writers faster than the disk still are (that is the "
        "disk's limit)";
    rl.risk = fmt::format("host-wide: up to {} of dirty data to lose on a crash, and longer fsyncs",
                          bytes_human(limit));
    rl.commands = sysctl_commands("vm.dirty_bytes", bytes_knob(limit));
    f.recommendations.push_back(std::move(rl));
  }
  const auto dv = ctx.values(writers.front().cg->id, Series::kDirtyThrottleSeconds);
  ctx.mark_span(f, [&](std::size_t k) { return !std::isnan(dv.values[k]) && dv.values[k] > 0; });
  out.push_back(std::move(f));
}

// ---- 9. direct reclaim: the host, not a limit, ran low ----

void host_direct_reclaim(const RuleContext& ctx, std::vector<Finding>& out) {
  if (ctx.range.size() < ctx.options.min_intervals) return;
  double lost = 0;
  std::vector<const model::CgroupSummary*> victims;
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    const auto& cg = ctx.cgroups[i];
    const double direct = cg[Series::kDirectReclaimSeconds].sum;
    const double wall = ctx.budgets[i].wall_seconds;
    if (!ctx.enough[i] || wall <= 0 || direct / wall < kDirectReclaimWarning) continue;
    lost += direct;
    victims.push_back(&cg);
  }
  if (victims.empty()) return;
  std::sort(victims.begin(), victims.end(), [](auto* a, auto* b) {
    return (*a)[Series::kDirectReclaimSeconds].sum > (*b)[Series::kDirectReclaimSeconds].sum;
  });
  Finding f = host_finding(ctx, "host-direct-reclaim");
  std::string who;
  for (std::size_t n = 0; n < victims.size(); ++n) {
    f.related.push_back(victims[n]->id);
    if (n < 3)
      who += fmt::format("{}{} {:.2f} s", n ? ", " : "", name_of(*victims[n]),
                         (*victims[n])[Series::kDirectReclaimSeconds].sum);
  }
  f.severity = victims.size() >= 2 || lost / ctx.seconds >= 0.05 ? Severity::kWarning : Severity::kInfo;
  f.explains = Cause::kReclaim;
  f.lost_seconds = lost;
  f.lost_fraction = lost / std::max(ctx.seconds, 1e-9);
  f.title = fmt::format("The host ran low on free memory: {} cgroup(s) stalled {:.2f} s in direct reclaim",
                        victims.size(), lost);
  f.summary = fmt::format("Direct reclaim (threshold {} of a cgroup's time), not a limit of their own: {}.",
                          percent(kDirectReclaimWarning), who);
  f.evidence = {{"direct_reclaim_seconds", lost, fmt::format("{:.2f} s", lost)},
                {"cgroups", static_cast<double>(victims.size()), "cgroups that stalled"}};
  f.cause =
      "Free memory fell below the min watermark faster than kswapd refilled it, so allocating tasks "
      "reclaimed themselves.";
  const std::string now = sysctl_now(ctx, "vm.watermark_scale_factor");
  int factor = 10;
  if (!now.empty() && std::isdigit(static_cast<unsigned char>(now[0]))) factor = std::stoi(now);
  const int suggested = std::min(1000, std::max(factor * 3, 30));
  Recommendation r;
  r.knob = "vm.watermark_scale_factor";
  r.target = "host";
  r.current = now;
  r.suggested = std::to_string(suggested);
  r.derivation =
      "three times the current factor (default 10): kswapd wakes earlier and keeps a larger free reserve";
  r.effect = "allocations find free pages instead of reclaiming in the allocating task";
  r.risk = fmt::format("host-wide: {}% of memory kept free between the watermarks", suggested / 100.0);
  r.commands = sysctl_commands("vm.watermark_scale_factor", std::to_string(suggested));
  f.recommendations.push_back(std::move(r));
  const auto dv = ctx.values(victims.front()->id, Series::kDirectReclaimSeconds);
  ctx.mark_span(f, [&](std::size_t k) { return !std::isnan(dv.values[k]) && dv.values[k] > 0; });
  out.push_back(std::move(f));
}

}  // namespace cgscope::analyzers
