// Host rules: sysctls that bound every container, only when the evidence points at them.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "analyzers/rule_util.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;
using model::Series;

constexpr double kDirtyWarning = 0.01;          // of a cgroup's wall time paused by the dirty limit
constexpr double kDirectReclaimWarning = 0.01;  // of a cgroup's wall time in direct reclaim

constexpr double kMiB = 1024.0 * 1024.0;

std::string sysctl_now(const RuleContext& ctx, const std::string& key) {
  auto it = ctx.options.sysctls.find(key);
  return it == ctx.options.sysctls.end() ? "unknown (not read)" : it->second;
}

std::optional<std::uint64_t> sysctl_u64(const RuleContext& ctx, const std::string& key) {
  auto it = ctx.options.sysctls.find(key);
  std::uint64_t v = 0;
  if (it == ctx.options.sysctls.end()) return std::nullopt;
  const auto& s = it->second;
  if (std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc()) return std::nullopt;
  return v;
}

// A dirty threshold in effect: vm.dirty_[background_]bytes when set, else its ratio of the
// memory the kernel counts as available (free and reclaimable pages). Writing one of the pair
// zeroes the other, so a ratio above 0 is the one in effect.
struct Threshold {
  enum class Kind : std::uint8_t { kKnown, kAtLeast, kUnknown };
  Kind kind = Kind::kUnknown;
  double bytes = 0;
  std::string text;  // how it follows from the settings
};

// The host's page cache (the root cgroup's file pages): part of the available memory, so a
// lower bound of it when its size was not given.
double root_page_cache(const RuleContext& ctx) {
  for (const auto& cg : ctx.cgroups) {
    if (!cg.identity || cg.identity->path != "/") continue;
    const auto* st = ctx.window.state(cg.id);
    if (!st || !st->memory_stat.active_file_bytes || !st->memory_stat.inactive_file_bytes) return 0;
    return static_cast<double>(*st->memory_stat.active_file_bytes + *st->memory_stat.inactive_file_bytes);
  }
  return 0;
}

Threshold threshold_now(const RuleContext& ctx, const std::string& bytes_key, const std::string& ratio_key) {
  const auto bytes = sysctl_u64(ctx, bytes_key);
  const auto ratio = sysctl_u64(ctx, ratio_key);
  if (bytes && *bytes > 0)
    return {Threshold::Kind::kKnown, static_cast<double>(*bytes),
            fmt::format("{} = {}", bytes_key, bytes_human(static_cast<double>(*bytes)))};
  if (!ratio || *ratio == 0) {
    const std::string why = !bytes && !ratio ? fmt::format("{} and {} not read", bytes_key, ratio_key)
                            : !ratio         ? fmt::format("{} not read", ratio_key)
                            : !bytes         ? fmt::format("{} not read", bytes_key)
                                             : fmt::format("{} and {} both 0", bytes_key, ratio_key);
    return {Threshold::Kind::kUnknown, 0, why};
  }
  const double share = static_cast<double>(*ratio) / 100.0;
  if (const auto available = ctx.options.dirtyable_memory_bytes; available > 0) {
    const double t = share * static_cast<double>(available);
    return {Threshold::Kind::kKnown, t,
            fmt::format("{} {}% of {} available memory = {}", ratio_key, *ratio,
                        bytes_human(static_cast<double>(available)), bytes_human(t))};
  }
  if (const double cache = root_page_cache(ctx); cache > 0)
    return {Threshold::Kind::kAtLeast, share * cache,
            fmt::format("{} {}% of available memory, at least {}: {}% of the {} page cache, free memory not "
                        "known",
                        ratio_key, *ratio, bytes_human(share * cache), *ratio, bytes_human(cache))};
  return {Threshold::Kind::kUnknown, 0,
          fmt::format("{} {}% of available memory, whose size is not known", ratio_key, *ratio)};
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
  f.lost_fraction = lost / std::max(ctx.seconds, 1e-9);  // host-wide: of the range
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
    // Background writeback from 1 s of the peak rate (earlier than now), the limit at 4 s of it
    // (higher than now): each only where it moves the threshold in effect that way.
    const double background = std::max(peak, 16.0 * kMiB);
    const double limit = 4 * background;
    const Threshold background_now =
        threshold_now(ctx, "vm.dirty_background_bytes", "vm.dirty_background_ratio");
    const Threshold limit_now = threshold_now(ctx, "vm.dirty_bytes", "vm.dirty_ratio");
    const bool background_lower =
        background_now.kind != Threshold::Kind::kKnown || background < background_now.bytes;
    const bool limit_higher = limit_now.kind == Threshold::Kind::kUnknown || limit > limit_now.bytes;
    // Below a lower bound of the threshold is below it; against an unknown threshold, or above a
    // lower bound, the reader has to compare.
    const bool background_certain =
        background_now.kind == Threshold::Kind::kKnown ||
        (background_now.kind == Threshold::Kind::kAtLeast && background <= background_now.bytes);
    const bool limit_certain = limit_now.kind == Threshold::Kind::kKnown;
    auto compared = [](const Threshold& now, bool certain, std::string_view otherwise) {
      return certain ? fmt::format("; in effect now: {}", now.text)
                     : fmt::format("; in effect now: {}: compare first, {}", now.text, otherwise);
    };
    if (background_lower) {
      Recommendation rb;
      rb.knob = "vm.dirty_background_bytes";
      rb.target = "host";
      rb.current = sysctl_now(ctx, "vm.dirty_background_bytes");
      rb.suggested = bytes_knob(background);
      rb.derivation =
          fmt::format("1 s of the measured peak write rate ({}/s), at least 16 MiB{}", bytes_human(peak),
                      compared(background_now, background_certain, "it only helps if it is lower"));
      rb.effect = "background writeback starts earlier, early enough to keep pace with the writers";
      rb.risk = "host-wide: more frequent, smaller writebacks for every container";
      rb.commands = sysctl_commands("vm.dirty_background_bytes", bytes_knob(background));
      f.recommendations.push_back(std::move(rb));
    }
    if (limit_higher) {
      Recommendation rl;
      rl.knob = "vm.dirty_bytes";
      rl.target = "host";
      rl.current = sysctl_now(ctx, "vm.dirty_bytes");
      rl.suggested = bytes_knob(limit);
      rl.derivation = fmt::format(
          "4 s of the peak write rate: a burst of that size is absorbed in the page cache instead of pausing "
          "the writer{}",
          compared(limit_now, limit_certain, "a value below the one in effect would pause writers sooner"));
      rl.effect =
          "bursty writers are no longer paused; sustained writers faster than the disk still are (that is "
          "the disk's limit)";
      rl.risk = fmt::format("host-wide: up to {} of dirty data to lose on a crash, and longer fsyncs",
                            bytes_human(limit));
      rl.commands = sysctl_commands("vm.dirty_bytes", bytes_knob(limit));
      f.recommendations.push_back(std::move(rl));
    } else {
      f.cause += fmt::format(
          " The host's limit already holds 4 s of the peak write rate ({}; in effect: {}): a higher one is "
          "not the remedy. The writers were paused at their share of it: a slow device gets a small share, "
          "and with cgroup writeback a memory cgroup's writers are held to the same ratio of its own memory "
          "(a small memory.max means a small dirty limit).",
          bytes_human(limit), limit_now.text);
    }
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
