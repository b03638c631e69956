// CPU rules: throttling by the quota (sized from demand), noisy neighbours (named from the
// run-delay blame), oversized quotas (right-sizing from peak demand).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analyzers/rule_util.hpp"

namespace cgscope::analyzers {
namespace {

using namespace detail;
using model::Series;

constexpr double kThrottledWarning = 0.05;    // of wall time lost to throttling
constexpr double kThrottledPeriods = 5;       // percent of periods throttled
constexpr double kBurstyBelow = 0.9;          // mean use below this share of the quota: bursty
constexpr double kQuotaMargin = 1.10;         // over demand p95
constexpr double kQuotaStep = 0.05;           // CPUs
constexpr double kNeighbourWarning = 0.05;    // of wall time waiting behind other cgroups
constexpr double kOversizedBelow = 0.5;       // peak demand below this share of the quota
constexpr double kOversizedMargin = 1.30;     // over demand p99
constexpr double kOversizedMinSaving = 0.25;  // CPUs: smaller savings are not worth a word
constexpr std::uint32_t kOversizedMinIntervals = 30;
constexpr std::uint64_t kMinDemandSlots = 50;

struct Quota {
  std::int64_t quota_usec = 0;
  std::uint64_t period_usec = 100'000;
  double cores() const { return static_cast<double>(quota_usec) / static_cast<double>(period_usec); }
};
std::optional<Quota> quota_of(const model::CgroupState* st) {
  if (!st || !st->cpu.quota_usec || *st->cpu.quota_usec <= 0) return std::nullopt;
  return Quota{*st->cpu.quota_usec, st->cpu.period_usec.value_or(100'000)};
}

// Demand of a cgroup in CPUs: from the 100 ms slots where the sampler measured them, else from
// the intervals (use + throttled time per second): coarser, and said so.
struct Demand {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
  std::uint64_t samples = 0;
  std::string basis;  // "600 slots of 100 ms"
  bool slots = false;
};
Demand demand_of(const RuleContext& ctx, const model::CgroupSummary& cg) {
  Demand d;
  const model::DemandDistribution dist = ctx.window.demand(cg.id, ctx.range);
  if (dist.slots >= kMinDemandSlots) {
    d.p50 = dist.percentile(0.50);
    d.p95 = dist.percentile(0.95);
    d.p99 = dist.percentile(0.99);
    d.max = dist.max();
    d.samples = dist.slots;
    d.slots = true;
    d.basis = fmt::format("{} slots of {} ms", dist.slots, dist.slot_ns / 1'000'000);
    if (dist.missed_slots) d.basis += fmt::format(", {} slots missed", dist.missed_slots);
    return d;
  }
  const auto cpu = ctx.values(cg.id, Series::kCpuPercent);
  const auto thr = ctx.values(cg.id, Series::kThrottledSeconds);
  std::vector<double> per_interval;
  for (std::size_t i = 0; i < cpu.values.size(); ++i) {
    if (std::isnan(cpu.values[i])) continue;
    const double t =
        std::isnan(thr.values[i]) ? 0 : thr.values[i] / ctx.interval_seconds(cpu.range.begin + i);
    per_interval.push_back(cpu.values[i] / 100.0 + t);
  }
  std::sort(per_interval.begin(), per_interval.end());
  d.p50 = percentile_of(per_interval, 0.50);
  d.p95 = percentile_of(per_interval, 0.95);
  d.p99 = percentile_of(per_interval, 0.99);
  d.max = per_interval.empty() ? 0 : per_interval.back();
  d.samples = per_interval.size();
  d.basis =
      fmt::format("{} intervals (no 100 ms demand slots: bursts shorter than an interval are averaged out)",
                  per_interval.size());
  return d;
}

int nr_cpus(const RuleContext& ctx) { return std::max(1, ctx.window.interval(ctx.range.end - 1).nr_cpus); }

}  // namespace

// ---- 1. throttled by its own quota ----

void cpu_throttling(const RuleContext& ctx, std::vector<Finding>& out) {
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    if (!ctx.enough[i]) continue;
    const auto& cg = ctx.cgroups[i];
    const CgroupBudget& b = ctx.budgets[i];
    const auto quota = quota_of(ctx.window.state(cg.id));
    if (!quota || b.wall_seconds <= 0) continue;
    const double throttled = b[Cause::kThrottled];
    const double fraction = throttled / b.wall_seconds;
    const double periods = cg[Series::kThrottledPercent].mean();
    if (fraction < kThrottledWarning || !(periods >= kThrottledPeriods)) continue;

    const double use = b.cpu_seconds / b.wall_seconds;
    const double q = quota->cores();
    const bool bursty = use < kBurstyBelow * q;
    const Demand d = demand_of(ctx, cg);
    const double host = static_cast<double>(nr_cpus(ctx));
    const auto* st = ctx.window.state(cg.id);
    const std::size_t allowed = st ? cpu_count(st->cpu.cpuset_cpus) : 0;
    const double cap = allowed ? std::min(host, static_cast<double>(allowed)) : host;

    Finding f = ctx.finding("cpu-throttling", cg);
    f.severity = severity_for(fraction, kThrottledWarning);
    f.explains = Cause::kThrottled;
    f.lost_seconds = throttled;
    f.lost_fraction = fraction;
    f.confidence_basis += ", demand from " + d.basis;
    if (!d.slots && f.confidence == Confidence::kHigh) f.confidence = Confidence::kMedium;
    const std::string name = name_of(cg);
    f.title = fmt::format("{} lost {} of its time to CFS throttling while using {} of its {} CPU on average",
                          name, share_of_time(throttled, b.wall_seconds), cpus(use), cpus(q));
    f.summary = fmt::format(
        "Throttled {:.1f} s in {:.0f} s ({} of the time, threshold {}), in {:.0f}% of its CFS periods; "
        "average use {} CPU, quota {} CPU ({} {}); demand (use + throttled time) p50 {} / p95 {} / max {} "
        "CPU over {}.",
        throttled, b.wall_seconds, percent(fraction), percent(kThrottledWarning), periods, cpus(use), cpus(q),
        quota->quota_usec, quota->period_usec, cpus(d.p50), cpus(d.p95), cpus(d.max), d.basis);
    f.evidence = {{"throttled_seconds", throttled, fmt::format("{:.1f} s throttled", throttled)},
                  {"throttled_fraction", fraction, percent(fraction) + " of the time"},
                  {"throttled_periods_percent", periods, fmt::format("{:.0f}% of periods", periods)},
                  {"use_cpus", use, cpus(use) + " CPU average use"},
                  {"quota_cpus", q, cpus(q) + " CPU quota"},
                  {"demand_p95_cpus", d.p95, cpus(d.p95) + " CPU demand p95"},
                  {"demand_p99_cpus", d.p99, cpus(d.p99) + " CPU demand p99"},
                  {"demand_samples", static_cast<double>(d.samples), d.basis}};
    f.cause = bursty ? fmt::format(
                           "Its work comes in bursts: it spends the quota early in a period and its tasks "
                           "wait for the next one, although it uses only {} of {} CPU on average.",
                           cpus(use), cpus(q))
                     : fmt::format(
                           "It needs more CPU than the quota allows over whole periods: demand p95 {} CPU "
                           "against a quota of {} CPU.",
                           cpus(d.p95), cpus(q));

    // cpu.max from demand p95 plus a margin; never below the current quota plus one step.
    const double suggested =
        std::min(cap, std::max(round_up(d.p95 * kQuotaMargin, kQuotaStep), q + kQuotaStep));
    const auto new_quota =
        static_cast<std::int64_t>(std::llround(suggested * static_cast<double>(quota->period_usec)));
    Recommendation r;
    r.knob = "cpu.max";
    r.target = name;
    r.current = fmt::format("{} {}", quota->quota_usec, quota->period_usec);
    r.suggested = fmt::format("{} {}", new_quota, quota->period_usec);
    r.derivation =
        fmt::format("demand p95 {} CPU over {} x {:.2f} margin, rounded up to {} CPU{}", cpus(d.p95), d.basis,
                    kQuotaMargin, cpus(kQuotaStep),
                    suggested >= cap ? fmt::format(", capped at the {} CPUs it may run on", cap) : "");
    r.effect =
        fmt::format("throttling stops in about 95% of the slots; it may use up to {} CPU, {} more than now",
                    cpus(suggested), cpus(suggested - q));
    r.risk = "while it bursts, other cgroups get less CPU; the host needs the headroom";
    r.commands = knob_commands(f.identity, ctx.options.layout, cpu_max_change(new_quota, quota->period_usec));
    f.recommendations.push_back(std::move(r));
    if (bursty) {
      // A burst allowance of what the p99 demand exceeds the quota by in one period, at most
      // one quota (the kernel's limit).
      const double over = std::max(d.p99 - q, kQuotaStep);
      const auto burst = static_cast<std::uint64_t>(
          std::min(static_cast<double>(quota->quota_usec),
                   round_up(over, kQuotaStep) * static_cast<double>(quota->period_usec)));
      Recommendation rb;
      rb.knob = "cpu.max.burst";
      rb.target = name;
      rb.current = "0";
      rb.suggested = std::to_string(burst);
      rb.derivation =
          fmt::format("what demand p99 ({} CPU) exceeds the quota by in one {} ms period, at most one quota",
                      cpus(d.p99), quota->period_usec / 1000);
      rb.effect = "keeps the average limit; lets it carry unused quota into a burst (kernel 5.14+)";
      rb.risk = "bursts of several cgroups at once can exceed the host's CPUs for a period";
      rb.commands = knob_commands(f.identity, ctx.options.layout, cpu_burst_change(burst));
      f.recommendations.push_back(std::move(rb));
    }
    const auto thr = ctx.values(cg.id, Series::kThrottledSeconds);
    ctx.mark_span(f, [&](std::size_t k) {
      return !std::isnan(thr.values[k]) &&
             thr.values[k] >= kThrottledWarning * ctx.interval_seconds(ctx.range.begin + k);
    });
    out.push_back(std::move(f));
  }
}

// ---- 2. noisy neighbour ----

void cpu_noisy_neighbour(const RuleContext& ctx, std::vector<Finding>& out) {
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    if (!ctx.enough[i]) continue;
    const auto& cg = ctx.cgroups[i];
    const CgroupBudget& b = ctx.budgets[i];
    const double others = b[Cause::kRunDelayOthers];
    if (b.wall_seconds <= 0 || b.neighbours.empty()) continue;
    const double fraction = others / b.wall_seconds;
    if (fraction < kNeighbourWarning) continue;

    const auto& top = b.neighbours.front();
    const std::string name = name_of(cg);
    const std::string top_name = ctx.name(top.cgroup_id);
    Finding f =
        ctx.finding("cpu-noisy-neighbour", cg, top.identity.path.empty() ? top_name : top.identity.path);
    f.severity = severity_for(fraction, kNeighbourWarning);
    f.explains = Cause::kRunDelayOthers;
    f.lost_seconds = others;
    f.lost_fraction = fraction;
    std::string named;
    for (std::size_t n = 0; n < b.neighbours.size() && n < 3; ++n) {
      const auto& nb = b.neighbours[n];
      f.related.push_back(nb.cgroup_id);
      named +=
          fmt::format("{}{} ({} of it)", n ? ", " : "", ctx.name(nb.cgroup_id), percent(nb.seconds / others));
    }
    const model::Log2Histogram rq = ctx.window.histogram(cg.id, model::HistogramSeries::kRunDelay, ctx.range);
    const double p99_ms = static_cast<double>(rq.percentile(0.99)) / 1e6;
    f.title = fmt::format("{} waited {} of its time for a CPU held by other cgroups, mostly {}", name,
                          share_of_time(others, b.wall_seconds), top_name);
    f.summary = fmt::format(
        "Waited {:.1f} s for a CPU in {:.0f} s behind other cgroups' tasks ({}, threshold {}): {}; behind "
        "its own tasks {:.1f} s; run delay p99 {:.2f} ms.",
        others, b.wall_seconds, percent(fraction), percent(kNeighbourWarning), named, b[Cause::kRunDelayOwn],
        p99_ms);
    f.evidence = {
        {"run_delay_others_seconds", others, fmt::format("{:.1f} s behind others", others)},
        {"run_delay_others_fraction", fraction, percent(fraction) + " of the time"},
        {"run_delay_own_seconds", b[Cause::kRunDelayOwn], "behind its own tasks"},
        {"neighbour_share", top.seconds / others, percent(top.seconds / others) + " behind " + top_name},
        {"run_delay_p99_seconds", p99_ms / 1e3, fmt::format("p99 {:.2f} ms", p99_ms)}};
    f.cause = fmt::format(
        "{} ran on the CPUs {}'s tasks were queued on: when it was woken or preempted, a task of {} held the "
        "CPU.",
        top_name, name, top_name);

    const auto* st = ctx.window.state(cg.id);
    const auto* nst = ctx.window.state(top.cgroup_id);
    const bool root_neighbour = top.identity.path == "/";
    Recommendation rw;
    rw.target = name;
    if (st && st->cpu.shares && !st->cpu.weight) {
      // A v1 cgroup: advice in shares, the scale its file has.
      const std::uint64_t sh = *st->cpu.shares;
      const std::uint64_t nsh = nst && nst->cpu.shares ? *nst->cpu.shares : 1024;
      const std::uint64_t suggested = std::min<std::uint64_t>(262144, std::max(2 * sh, 2 * nsh));
      rw.knob = "cpu.shares";
      rw.current = std::to_string(sh);
      rw.suggested = std::to_string(suggested);
      rw.derivation = fmt::format(
          "twice {}'s shares ({}): under contention CPU time is shared in proportion to the shares of "
          "sibling cgroups, so it gets about 2/3 instead of {}. Commands: {}",
          top_name, nsh, percent(static_cast<double>(sh) / static_cast<double>(sh + nsh)),
          cpu_shares_conversions(suggested));
      rw.commands = knob_commands(f.identity, ctx.options.layout, cpu_shares_change(suggested));
    } else {
      const std::uint64_t w = st ? current_weight(st->cpu) : 100;
      const std::uint64_t nw = nst ? current_weight(nst->cpu) : 100;
      const std::uint64_t suggested_w = std::min<std::uint64_t>(10000, std::max(2 * w, 2 * nw));
      rw.knob = "cpu.weight";
      rw.current = std::to_string(w);
      rw.suggested = std::to_string(suggested_w);
      rw.derivation = fmt::format(
          "twice {}'s weight ({}): under contention CPU time is shared in proportion to the weights of "
          "sibling cgroups, so it gets about 2/3 instead of {}. Commands: {}",
          top_name, nw, percent(static_cast<double>(w) / static_cast<double>(w + nw)),
          cpu_weight_conversions(suggested_w));
      rw.commands = knob_commands(f.identity, ctx.options.layout, cpu_weight_change(suggested_w));
    }
    rw.effect = "shorter waits when both are busy; nothing changes while the CPUs are idle";
    rw.risk =
        "weights compare only between siblings: if the two have different parents, set it on the children of "
        "their common ancestor that contain them";
    f.recommendations.push_back(std::move(rw));

    const int host = nr_cpus(ctx);
    if (host >= 2) {
      const double need = std::max(b.cpu_seconds / b.wall_seconds + others / b.wall_seconds, 0.5);
      const int mine = std::clamp(static_cast<int>(std::ceil(need)), 1, host - 1);
      const std::string mine_list = mine == 1 ? "0" : fmt::format("0-{}", mine - 1);
      const std::string theirs =
          mine == host - 1 ? std::to_string(host - 1) : fmt::format("{}-{}", mine, host - 1);
      Recommendation rc;
      rc.knob = "cpuset.cpus";
      rc.target = name;
      rc.current = st && !st->cpu.cpuset_cpus.empty() ? st->cpu.cpuset_cpus : "all";
      rc.suggested = mine_list;
      rc.derivation = fmt::format("its use plus its waits ({} CPU) rounded up, of the host's {}; {} to {}",
                                  cpus(need), host, theirs, top_name);
      rc.effect = fmt::format("no waits behind {}: they no longer share CPUs", top_name);
      rc.risk = "each side is capped at its CPUs even when the others are idle";
      rc.commands = knob_commands(f.identity, ctx.options.layout, cpuset_change(mine_list));
      for (auto c : root_neighbour ? std::vector<Command>{}
                                   : knob_commands(top.identity, ctx.options.layout, cpuset_change(theirs))) {
        c.note = fmt::format("for {}{}", top_name, c.note.empty() ? "" : "; " + c.note);
        c.preferred = false;
        rc.commands.push_back(std::move(c));
      }
      f.recommendations.push_back(std::move(rc));
    }
    if (const auto* ncg = ctx.cgroup(top.cgroup_id); ncg && !root_neighbour && !quota_of(nst)) {
      const Demand nd = demand_of(ctx, *ncg);
      const double nq = std::max(round_up(nd.p95 * kQuotaMargin, kQuotaStep), kQuotaStep);
      const auto quota_usec = static_cast<std::int64_t>(std::llround(nq * 100'000));
      Recommendation rq2;
      rq2.knob = "cpu.max";
      rq2.target = top_name;
      rq2.current = "max";
      rq2.suggested = fmt::format("{} 100000", quota_usec);
      rq2.derivation = fmt::format("{}'s own use p95 {} CPU x {:.2f}, rounded up to {} CPU", top_name,
                                   cpus(nd.p95), kQuotaMargin, cpus(kQuotaStep));
      rq2.effect =
          fmt::format("{} cannot take more than {} CPU, leaving the rest to {}", top_name, cpus(nq), name);
      rq2.risk = fmt::format("{} gets throttled if its demand grows", top_name);
      rq2.commands = knob_commands(top.identity, ctx.options.layout, cpu_max_change(quota_usec, 100'000));
      f.recommendations.push_back(std::move(rq2));
    }
    const auto rqs = ctx.values(cg.id, Series::kRunDelaySeconds);
    ctx.mark_span(f, [&](std::size_t k) {
      return !std::isnan(rqs.values[k]) &&
             rqs.values[k] >= kNeighbourWarning * ctx.interval_seconds(ctx.range.begin + k);
    });
    out.push_back(std::move(f));
  }
}

// ---- 3. oversized quota ----

void cpu_oversized(const RuleContext& ctx, std::vector<Finding>& out) {
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    if (!ctx.enough[i]) continue;
    const auto& cg = ctx.cgroups[i];
    const CgroupBudget& b = ctx.budgets[i];
    const auto quota = quota_of(ctx.window.state(cg.id));
    if (!quota || cg.intervals < std::max(ctx.options.min_intervals, kOversizedMinIntervals)) continue;
    if (b.wall_seconds <= 0 || b[Cause::kThrottled] / b.wall_seconds >= 0.01) continue;
    const Demand d = demand_of(ctx, cg);
    const double q = quota->cores();
    const double peak = d.slots ? d.p99 : d.max;
    if (peak > kOversizedBelow * q) continue;
    const double suggested = std::max(round_up(peak * kOversizedMargin, kQuotaStep), 0.1);
    if (q - suggested < kOversizedMinSaving) continue;
    const auto new_quota =
        static_cast<std::int64_t>(std::llround(suggested * static_cast<double>(quota->period_usec)));
    const std::string name = name_of(cg);
    Finding f = ctx.finding("cpu-oversized", cg);
    f.severity = Severity::kInfo;
    f.explains = Cause::kNone;
    f.confidence_basis += ", demand from " + d.basis;
    f.title =
        fmt::format("{} has a quota of {} CPU but its demand peaked at {} CPU", name, cpus(q), cpus(peak));
    f.summary = fmt::format(
        "Over {:.0f} s, demand {} {} CPU (threshold: below {} of the quota), average use {} CPU, never "
        "throttled more than 1% of the time.",
        b.wall_seconds, d.slots ? "p99" : "max", cpus(peak), percent(kOversizedBelow),
        cpus(b.cpu_seconds / b.wall_seconds));
    f.evidence = {{"quota_cpus", q, cpus(q) + " CPU quota"},
                  {"demand_peak_cpus", peak, cpus(peak) + (d.slots ? " CPU demand p99" : " CPU demand max")},
                  {"use_cpus", b.cpu_seconds / b.wall_seconds, "average use"}};
    f.cause =
        "The quota was sized for more work than it does in this window; the CPUs it reserves (for a "
        "scheduler that packs by limits) stay idle.";
    Recommendation r;
    r.knob = "cpu.max";
    r.target = name;
    r.current = fmt::format("{} {}", quota->quota_usec, quota->period_usec);
    r.suggested = fmt::format("{} {}", new_quota, quota->period_usec);
    r.derivation =
        fmt::format("demand {} {} CPU over {} x {:.2f} margin, rounded up to {} CPU", d.slots ? "p99" : "max",
                    cpus(peak), d.basis, kOversizedMargin, cpus(kQuotaStep));
    r.effect = fmt::format("frees {} CPU of quota for other workloads", cpus(q - suggested));
    r.risk = fmt::format(
        "only as good as the window ({:.0f} s): a daily peak outside it gets throttled; watch the "
        "cpu-throttling finding after the change",
        b.wall_seconds);
    r.commands = knob_commands(f.identity, ctx.options.layout, cpu_max_change(new_quota, quota->period_usec));
    f.recommendations.push_back(std::move(r));
    ctx.mark_span(f, [](std::size_t) { return true; });
    out.push_back(std::move(f));
  }
}

}  // namespace cgscope::analyzers
