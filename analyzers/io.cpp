// Block I/O rule: one cgroup's requests slow while another dominates the same disk.
#include "model/io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "analyzers/rule_util.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;
using model::Series;

constexpr double kIoWaitWarning = 0.05;       // of wall time blocked in I/O
constexpr double kLatencyP99Warning = 0.020;  // seconds
constexpr double kDominantShare = 0.5;        // of the disk's bytes in the range
constexpr double kVictimShareBelow = 0.2;
// io.latency: the victim's latency while the dominant cgroup was quiet (moved at most this share
// of its median rate), in enough intervals and requests to be a baseline.
constexpr double kQuietShare = 0.1;
constexpr std::uint32_t kBaselineMinIntervals = 3;
constexpr std::uint64_t kBaselineMinRequests = 100;
constexpr double kLatencyTargetQuantile = 0.90;  // on SSDs the kernel misses a target at 10% of IOs over it
constexpr double kLatencyTargetMargin = 1.15;    // cgroup-v2.rst: 10-15% above normal operation

double bytes_of(const RuleContext& ctx, const model::CgroupSummary& cg) {
  double bytes = 0;
  for (Series s : {Series::kIoReadBytesPerSecond, Series::kIoWriteBytesPerSecond}) {
    const auto v = ctx.values(cg.id, s);
    for (std::size_t i = 0; i < v.values.size(); ++i)
      if (!std::isnan(v.values[i])) bytes += v.values[i] * ctx.interval_seconds(v.range.begin + i);
  }
  return bytes;
}

// The victim's request latency in the intervals in which the dominant cgroup was quiet: absent,
// or moving at most kQuietShare of its median rate. What its I/O costs without the contention.
struct Baseline {
  model::Log2Histogram latency;
  std::uint32_t intervals = 0;
  bool enough() const {
    return intervals >= kBaselineMinIntervals && latency.count() >= kBaselineMinRequests;
  }
};
Baseline uncontended(const RuleContext& ctx, std::uint64_t victim, std::uint64_t dominant) {
  const auto per_interval = ctx.window.heat_map(victim, model::HistogramSeries::kIoLatency, ctx.range);
  const auto wv = ctx.values(dominant, Series::kIoWriteBytesPerSecond);
  const auto rv = ctx.values(dominant, Series::kIoReadBytesPerSecond);
  std::vector<double> rate(wv.values.size(), std::nan(""));
  std::vector<double> present;
  for (std::size_t k = 0; k < rate.size(); ++k) {
    if (std::isnan(wv.values[k]) && std::isnan(rv.values[k])) continue;
    rate[k] = (std::isnan(wv.values[k]) ? 0 : wv.values[k]) + (std::isnan(rv.values[k]) ? 0 : rv.values[k]);
    present.push_back(rate[k]);
  }
  std::sort(present.begin(), present.end());
  const double quiet_below = kQuietShare * percentile_of(present, 0.5);
  Baseline b;
  for (std::size_t k = 0; k < rate.size() && k < per_interval.size(); ++k) {
    if (per_interval[k].empty() || !(std::isnan(rate[k]) || rate[k] <= quiet_below)) continue;
    b.latency.merge(per_interval[k]);
    ++b.intervals;
  }
  return b;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

void io_contention(const RuleContext& ctx, std::vector<Finding>& out) {
  // Bytes per disk and cgroup over the range: each cgroup's bytes go to its main disk (the one
  // it used most in its last interval with I/O).
  struct User {
    const model::CgroupSummary* cg;
    double bytes;
  };
  std::map<std::uint32_t, std::vector<User>> disks;
  for (const auto& cg : ctx.cgroups) {
    const auto* st = ctx.window.state(cg.id);
    if (!st || st->disks.empty()) continue;
    const double bytes = bytes_of(ctx, cg);
    if (bytes > 0) disks[st->disks.front().dev].push_back({&cg, bytes});
  }
  for (auto& [dev, users] : disks) {
    if (users.size() < 2) continue;
    double total = 0;
    for (const auto& u : users) total += u.bytes;
    std::sort(users.begin(), users.end(), [](const User& a, const User& b) { return a.bytes > b.bytes; });
    const User& top = users.front();
    if (top.bytes < kDominantShare * total) continue;
    for (std::size_t v = 1; v < users.size(); ++v) {
      const auto& cg = *users[v].cg;
      const auto idx = ctx.by_id.at(cg.id);
      if (!ctx.enough[idx]) continue;
      const CgroupBudget& b = ctx.budgets[idx];
      if (users[v].bytes > kVictimShareBelow * total || b.wall_seconds <= 0) continue;
      const model::Log2Histogram lat =
          ctx.window.histogram(cg.id, model::HistogramSeries::kIoLatency, ctx.range);
      const bool latency_measured = !lat.empty();
      const double p99 = static_cast<double>(lat.percentile(0.99)) / 1e9;
      const double p50 = static_cast<double>(lat.percentile(0.50)) / 1e9;
      const double wait = b[Cause::kIoWait];
      const double fraction = wait / b.wall_seconds;
      const bool slow_requests = latency_measured && p99 >= kLatencyP99Warning;
      const bool long_waits = fraction >= kIoWaitWarning;
      if (!slow_requests && !long_waits) continue;
      const std::string name = name_of(cg), top_name = name_of(*top.cg), disk = model::dev_name(dev);
      Finding f = ctx.finding("io-contention", cg, disk);
      f.severity = severity_for(fraction, kIoWaitWarning);
      if (f.severity == Severity::kInfo)
        f.severity = Severity::kWarning;  // the latency alone is worth a warning
      f.explains = Cause::kIoWait;
      f.lost_seconds = wait;
      f.lost_fraction = fraction;
      f.related.push_back(top.cg->id);
      // The title names what it fired on: slow requests, long I/O waits, or both.
      std::string fired_on;
      if (slow_requests) fired_on = fmt::format("p99 {:.0f} ms", p99 * 1e3);
      if (long_waits)
        fired_on += fmt::format("{}I/O wait {} of its time", fired_on.empty() ? "" : ", ",
                                share_of_time(wait, b.wall_seconds));
      f.title = fmt::format("{}'s block I/O on {} is slow ({}) while {} moves {} of the disk's bytes", name,
                            disk, fired_on, top_name, percent(top.bytes / total));
      const std::string latency_text =
          latency_measured
              ? fmt::format("request latency p50 {:.1f} ms / p99 {:.1f} ms (threshold p99 {:.0f} ms)",
                            p50 * 1e3, p99 * 1e3, kLatencyP99Warning * 1e3)
              : "request latency not measured (no eBPF I/O collector)";
      const std::string wait_text = b.measured[static_cast<std::size_t>(Cause::kIoWait)]
                                        ? fmt::format("I/O wait {:.1f} s ({} of its time, threshold {})",
                                                      wait, percent(fraction), percent(kIoWaitWarning))
                                        : "I/O wait not measured (no eBPF CPU collector)";
      f.summary = fmt::format("On {} over {:.0f} s: {} moved {} of {}, {} {}; {}'s {}, {}.", disk,
                              b.wall_seconds, top_name, bytes_human(top.bytes), bytes_human(total), name,
                              bytes_human(users[v].bytes), name, latency_text, wait_text);
      if (latency_measured)
        f.evidence.push_back({"io_latency_p99_seconds", p99, fmt::format("p99 {:.1f} ms", p99 * 1e3)});
      f.evidence.push_back({"io_wait_seconds", wait, fmt::format("{:.1f} s I/O wait", wait)});
      f.evidence.push_back(
          {"dominant_share", top.bytes / total, percent(top.bytes / total) + " of the disk's bytes"});
      f.cause =
          fmt::format("{} keeps {}'s queue full: {}'s requests wait behind its requests in the device queue.",
                      top_name, disk, name);
      const auto* st = ctx.window.state(cg.id);
      const std::uint64_t weight = st && st->io.weight ? *st->io.weight : 100;
      Recommendation rw;
      rw.knob = "io.weight";
      rw.target = name;
      rw.current = std::to_string(weight);
      rw.suggested = std::to_string(std::min<std::uint64_t>(1000, weight * 5));
      rw.derivation =
          "five times its weight: a proportional I/O controller (BFQ, or io.cost) gives it 5/6 of the disk "
          "when both are busy";
      rw.effect = "its requests are dispatched before the dominant cgroup's backlog";
      rw.risk =
          "needs the BFQ scheduler or the io.cost controller on the disk; with mq-deadline/none weights do "
          "nothing";
      rw.commands = knob_commands(
          f.identity, ctx.options.layout,
          io_weight_change(std::min<std::uint64_t>(1000, weight * 5), st ? st->io.weight_file : ""));
      f.recommendations.push_back(std::move(rw));
      // A bandwidth cap on the dominant cgroup at its median rate.
      const auto wv = ctx.values(top.cg->id, Series::kIoWriteBytesPerSecond);
      const auto rv = ctx.values(top.cg->id, Series::kIoReadBytesPerSecond);
      const double w50 = percentile_of(present_values(wv), 0.5), r50 = percentile_of(present_values(rv), 0.5);
      const auto wbps = static_cast<std::uint64_t>(round_up(std::max(w50, 0.0), 1 << 20));
      const auto rbps = static_cast<std::uint64_t>(round_up(std::max(r50, 0.0), 1 << 20));
      const bool top_is_root = top.cg->id == 0 || (top.cg->identity && top.cg->identity->path == "/");
      if ((wbps || rbps) && !top_is_root) {
        Recommendation rm;
        rm.knob = "io.max";
        rm.target = top_name;
        rm.current = "max";
        rm.suggested = fmt::format("{}:{} rbps={} wbps={}", dev >> 20, dev & 0xfffff,
                                   rbps ? std::to_string(rbps) : "max", wbps ? std::to_string(wbps) : "max");
        rm.derivation = fmt::format("{}'s median rates (read {}/s, write {}/s) rounded up to a MiB/s",
                                    top_name, bytes_human(r50), bytes_human(w50));
        rm.effect = fmt::format("{} cannot fill the queue beyond its typical rate; its bursts are spread out",
                                top_name);
        rm.risk = fmt::format("{} takes longer for bursts of I/O", top_name);
        rm.commands = knob_commands(top.cg->identity ? *top.cg->identity : model::CgroupIdentity{},
                                    ctx.options.layout, io_max_change(dev, disk, wbps, rbps));
        f.recommendations.push_back(std::move(rm));
      }
      if (latency_measured) {
        // io.latency target from its latency without the contention (the kernel's advice: normal
        // operation plus 10-15%); without such intervals, from the contended latency, which only
        // keeps the contention from getting worse than measured.
        const Baseline base = uncontended(ctx, cg.id, top.cg->id);
        const model::Log2Histogram& from = base.enough() ? base.latency : lat;
        const std::uint64_t quantile_ns = from.percentile(kLatencyTargetQuantile);
        const auto target_usec =
            std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(static_cast<double>(quantile_ns) *
                                                                            kLatencyTargetMargin / 1e3)));
        Recommendation rl;
        rl.knob = "io.latency";
        rl.target = name;
        rl.current = "none";
        rl.suggested = fmt::format("{}:{} target={}", dev >> 20, dev & 0xfffff, target_usec);
        rl.derivation =
            base.enough()
                ? fmt::format(
                      "p90 of its request latency while {} was quiet ({:.2f} ms over {} requests in {} "
                      "intervals) x {:.2f}: its normal latency plus a margin",
                      top_name, ms(quantile_ns), base.latency.count(), base.intervals, kLatencyTargetMargin)
                : fmt::format(
                      "no uncontended baseline: {} was quiet in {} of the intervals with {}'s requests ({} "
                      "requests; a baseline needs {} intervals and {} requests). A conservative target from "
                      "the contended latency instead: p90 {:.2f} ms x {:.2f}, which only stops the "
                      "contention from getting worse than measured; lower it to its latency in normal "
                      "operation plus 10-15% once that is known",
                      top_name, base.intervals, name, base.latency.count(), kBaselineMinIntervals,
                      kBaselineMinRequests, ms(quantile_ns), kLatencyTargetMargin);
        rl.effect = "when its latency exceeds the target, the kernel throttles its siblings' queue depth";
        rl.risk = "cgroup v2 only; protects one latency-sensitive cgroup per level of the hierarchy";
        rl.commands = knob_commands(f.identity, ctx.options.layout, io_latency_change(dev, target_usec));
        f.recommendations.push_back(std::move(rl));
      }
      const auto iw = ctx.values(cg.id, Series::kIoWaitSeconds);
      const auto lp = ctx.values(cg.id, Series::kIoLatencyP99Seconds);
      ctx.mark_span(f, [&](std::size_t k) {
        return (!std::isnan(lp.values[k]) && lp.values[k] >= kLatencyP99Warning) ||
               (!std::isnan(iw.values[k]) &&
                iw.values[k] >= kIoWaitWarning * ctx.interval_seconds(ctx.range.begin + k));
      });
      out.push_back(std::move(f));
    }
  }
}

}  // namespace cgscope::analyzers
