// The list of rules, the lost-time budget, and analyze(): run every rule over a range, rank.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analyzers/analyze.hpp"

namespace cgscope::analyzers {

const std::vector<Rule>& rules() {
  static const std::vector<Rule> kRules = {
      {"cpu-throttling", "cpu", "CPU throttled by its quota", cpu_throttling},
      {"cpu-noisy-neighbour", "cpu", "Waiting for a CPU behind other cgroups", cpu_noisy_neighbour},
      {"cpu-oversized", "cpu", "CPU quota far above peak use", cpu_oversized},
      {"memory-pressure", "memory", "Stalled reclaiming memory", memory_pressure},
      {"memory-oom", "memory", "OOM kills, or close to its memory limit", memory_oom},
      {"io-contention", "io", "Slow block I/O while another cgroup dominates the disk", io_contention},
      {"host-dirty-throttle", "host", "Writers paused by dirty-page throttling", host_dirty_throttle},
      {"host-direct-reclaim", "host", "The host ran low on free memory", host_direct_reclaim},
      {"nfs-stale-negative-lookup", "nfs", "Told a file does not exist that another container created",
       nfs_negative_lookups},
      {"nfs-shared-writer", "nfs", "A file written by one container and read by another across NFS clients",
       nfs_shared_writers},
      {"nfs-revalidation-storm", "nfs", "Most NFS time spent revalidating caches", nfs_revalidation_storm},
      {"nfs-errors", "nfs", "Stale file handles and silly-renamed files", nfs_errors},
      {"nfs-slow-rpc", "nfs", "Slow or retransmitted NFS RPCs", nfs_slow_rpcs},
  };
  return kRules;
}

// ---- RuleContext ----

const model::CgroupSummary* RuleContext::cgroup(std::uint64_t id) const {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &cgroups[it->second];
}
const CgroupBudget* RuleContext::budget(std::uint64_t id) const {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &budgets[it->second];
}
std::string RuleContext::name(std::uint64_t id) const {
  if (const auto* identity = window.identity(id); identity && identity->path == "/") return "host processes (root cgroup)";
  if (const auto* cg = cgroup(id); cg && cg->identity) return cg->identity->display_name();
  if (const auto* identity = window.identity(id)) return identity->display_name();
  return id == 0 ? "idle CPU" : fmt::format("cgroup#{}", id);
}
double RuleContext::interval_seconds(std::uint64_t index) const { return window.interval(index).seconds(); }
double RuleContext::present_seconds(const model::CgroupSummary& cg) const {
  const std::vector<bool> present = window.presence(cg.id, range);
  double s = 0;
  for (std::size_t i = 0; i < present.size(); ++i)
    if (present[i]) s += interval_seconds(range.begin + i);
  return s;
}
model::SeriesValues RuleContext::values(std::uint64_t id, model::Series s) const { return window.series(id, s, range); }

void RuleContext::set_span(Finding& f, std::uint64_t first, std::uint64_t last, std::uint32_t n) const {
  f.intervals = n;
  if (n == 0) {
    first = range.begin;
    last = range.end - 1;
  }
  f.first_index = first;
  f.last_index = last;
  f.first_realtime_ns = window.interval(first).start_realtime_ns;
  f.last_realtime_ns = window.interval(last).end_realtime_ns;
}

Finding RuleContext::finding(std::string_view rule, const model::CgroupSummary& cg, std::string key_extra) const {
  Finding f;
  f.rule = std::string(rule);
  f.cgroup_id = cg.id;
  if (cg.identity) f.identity = *cg.identity;
  f.key = fmt::format("{}/{}", rule, cg.identity && !cg.identity->path.empty() ? cg.identity->path
                                                                              : fmt::format("cgroup#{}", cg.id));
  if (!key_extra.empty()) f.key += "/" + key_extra;
  f.confidence = cg.intervals >= 60 ? Confidence::kHigh : cg.intervals >= 20 ? Confidence::kMedium : Confidence::kLow;
  f.confidence_basis = fmt::format("{} intervals", cg.intervals);
  return f;
}

// ---- the budget ----

double CgroupBudget::total() const {
  double t = run_delay_unsplit;
  for (double v : lost) t += v;
  return t;
}

CgroupBudget lost_time(const model::Window& w, const model::CgroupSummary& cg, model::IntervalRange range) {
  using model::Series;
  CgroupBudget b;
  b.cgroup_id = cg.id;
  if (cg.identity) b.identity = *cg.identity;
  const std::vector<bool> present = w.presence(cg.id, range);
  for (std::size_t i = 0; i < present.size(); ++i)
    if (present[i]) b.wall_seconds += w.interval(range.begin + i).seconds();
  const auto& cpu = cg[Series::kCpuPercent];
  // CPU seconds: the rate times each interval's length.
  if (cpu.count) {
    const model::SeriesValues v = w.series(cg.id, Series::kCpuPercent, range);
    for (std::size_t i = 0; i < v.values.size(); ++i)
      if (!std::isnan(v.values[i])) b.cpu_seconds += v.values[i] / 100.0 * w.interval(v.range.begin + i).seconds();
  }
  auto set = [&](Cause c, Series s) {
    const auto& st = cg[s];
    b.measured[static_cast<std::size_t>(c)] = st.count > 0;
    b.lost[static_cast<std::size_t>(c)] = st.count ? st.sum : 0;
  };
  set(Cause::kThrottled, Series::kThrottledSeconds);
  set(Cause::kIoWait, Series::kIoWaitSeconds);
  set(Cause::kDirtyThrottle, Series::kDirtyThrottleSeconds);
  set(Cause::kReclaim, Series::kReclaimSeconds);
  set(Cause::kNfsStall, Series::kNfsStallSeconds);

  // Run delay, split by who held the CPU. A throttled task waits as a preempted one until its
  // quota is refilled: that wait is throttled time, counted above, and is taken out here. The
  // CPU collector marks such waits (holder kRunDelayHolderThrottled); without the mark (older
  // recordings) the cgroup's throttled time is taken out, and the rest split in the blame's
  // proportions.
  const auto& rq = cg[Series::kRunDelaySeconds];
  if (rq.count) {
    const model::BlameTotals blame = w.blame(cg.id, range);
    double marked = 0, others = static_cast<double>(blame.overflow_ns) / 1e9;
    for (const auto& h : blame.holders) {
      const double s = static_cast<double>(h.wait_ns) / 1e9;
      if (h.cgroup_id == model::kRunDelayHolderThrottled) marked += s;
      else if (h.cgroup_id != cg.id && h.cgroup_id != 0) others += s;
    }
    const double named = static_cast<double>(blame.total_ns()) / 1e9 - marked;
    const double waits = std::max(0.0, rq.sum - (marked > 0 ? marked : b[Cause::kThrottled]));
    const double scale = named > 0 ? std::min(1.0, waits / named) : 0;
    b.measured[static_cast<std::size_t>(Cause::kRunDelayOwn)] = true;
    b.measured[static_cast<std::size_t>(Cause::kRunDelayOthers)] = true;
    if (named <= 0) {
      b.run_delay_unsplit = waits;
    } else {
      const double others_s = others * scale;
      b.lost[static_cast<std::size_t>(Cause::kRunDelayOthers)] = others_s;
      b.lost[static_cast<std::size_t>(Cause::kRunDelayOwn)] = std::max(0.0, waits - others_s);
      for (const auto& h : blame.holders) {
        if (h.cgroup_id == cg.id || h.cgroup_id == 0 || h.cgroup_id == model::kRunDelayHolderThrottled) continue;
        CgroupBudget::Neighbour n;
        n.cgroup_id = h.cgroup_id;
        if (const auto* id = w.identity(h.cgroup_id)) n.identity = *id;
        n.seconds = static_cast<double>(h.wait_ns) / 1e9 * scale;
        b.neighbours.push_back(std::move(n));
      }
    }
  }
  return b;
}

// ---- analyze ----

namespace {
int severity_rank(Severity s) { return static_cast<int>(s); }
}  // namespace

Analysis analyze(const model::Window& w, model::IntervalRange range, const AnalysisOptions& options) {
  Analysis out;
  range = {std::max(range.begin, w.begin_index()), std::min(range.end, w.end_index())};
  if (range.end < range.begin) range.end = range.begin;
  out.range = range;
  if (range.empty()) {
    out.notes.push_back("no interval in the range: nothing to analyze");
    return out;
  }
  for (std::uint64_t i = range.begin; i < range.end; ++i) out.seconds += w.interval(i).seconds();
  out.start_realtime_ns = w.interval(range.begin).start_realtime_ns;
  out.end_realtime_ns = w.interval(range.end - 1).end_realtime_ns;

  RuleContext ctx{w, range, options, w.cgroups(range), {}, {}, {}, out.seconds};
  out.cgroups = static_cast<std::uint32_t>(ctx.cgroups.size());
  ctx.budgets.reserve(ctx.cgroups.size());
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    const auto& cg = ctx.cgroups[i];
    ctx.by_id.emplace(cg.id, i);
    ctx.budgets.push_back(lost_time(w, cg, range));
    // The root cgroup is the host, not a container (and has no knobs); id 0 is [kernel I/O].
    const bool root = cg.id == 0 || (cg.identity && cg.identity->path == "/");
    const bool enough =
        !root && cg.intervals >= options.min_intervals && ctx.budgets.back().wall_seconds >= options.min_seconds;
    ctx.enough.push_back(enough);
  }
  for (std::size_t i = 0; i < ctx.cgroups.size(); ++i) {
    if (ctx.enough[i] || ctx.cgroups[i].id == 0 || (ctx.cgroups[i].identity && ctx.cgroups[i].identity->path == "/"))
      continue;
    // Only cgroups that lost time are worth a word.
    if (ctx.budgets[i].total() > 0.01 * std::max(ctx.budgets[i].wall_seconds, 1e-9)) ++out.too_little_data;
  }
  if (out.too_little_data)
    out.notes.push_back(fmt::format(
        "{} cgroup(s) that lost time were present in fewer than {} intervals or {:.0f} s of the range: no advice "
        "for them (collect longer)",
        out.too_little_data, options.min_intervals, options.min_seconds));

  for (const Rule& rule : rules()) rule.run(ctx, out.findings);

  std::stable_sort(out.findings.begin(), out.findings.end(), [](const Finding& a, const Finding& b) {
    if (a.lost_seconds != b.lost_seconds) return a.lost_seconds > b.lost_seconds;
    return severity_rank(a.severity) > severity_rank(b.severity);
  });
  for (auto& b : ctx.budgets)
    if (b.total() > 0) out.budgets.push_back(std::move(b));
  std::stable_sort(out.budgets.begin(), out.budgets.end(),
                   [](const CgroupBudget& a, const CgroupBudget& b) { return a.total() > b.total(); });
  return out;
}

// ---- names ----

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

std::optional<Severity> parse_severity(std::string_view s) {
  for (Severity v : {Severity::kInfo, Severity::kWarning, Severity::kCritical})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

std::string_view to_string(Confidence c) {
  switch (c) {
    case Confidence::kLow:
      return "low";
    case Confidence::kMedium:
      return "medium";
    case Confidence::kHigh:
      return "high";
  }
  return "low";
}

std::string_view to_string(Cause c) {
  constexpr std::string_view kNames[] = {"throttled",      "run_delay_own", "run_delay_others", "io_wait",
                                         "dirty_throttle", "reclaim",       "nfs_stall",        "none"};
  return kNames[static_cast<std::size_t>(c)];
}

std::string_view label(Cause c) {
  constexpr std::string_view kLabels[] = {"THROTTLED", "RQ OWN", "RQ OTHERS", "IOWAIT",
                                          "DIRTY",     "RECLAIM", "NFS",      "-"};
  return kLabels[static_cast<std::size_t>(c)];
}

std::string_view to_string(Manager m) {
  switch (m) {
    case Manager::kCgroupV2:
      return "cgroup v2";
    case Manager::kCgroupV1:
      return "cgroup v1";
    case Manager::kSystemd:
      return "systemd";
    case Manager::kDocker:
      return "docker";
    case Manager::kPodman:
      return "podman";
    case Manager::kKubernetes:
      return "kubernetes";
    case Manager::kHost:
      return "host";
  }
  return "cgroup v2";
}

}  // namespace cgscope::analyzers
