#include "model/snapshot.hpp"

#include <memory>
#include <unordered_map>

namespace cgscope::model {
namespace {

// Counters are monotonic; a smaller value means a reset (collector restart, cgroup recreated
// with the same id is impossible, inode ids are not reused while in use): count from zero.
std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t curr) { return curr >= prev ? curr - prev : curr; }

std::optional<std::uint64_t> counter_delta(const std::optional<std::uint64_t>& prev,
                                           const std::optional<std::uint64_t>& curr) {
  if (!curr) return std::nullopt;
  return counter_delta(prev.value_or(0), *curr);
}

// Per-key deltas of two cumulative lists sorted by key: rows that grew only. A row missing
// from prev counts from zero (a new key, or the collector restarted). Into `out` (cleared).
void blame_delta(const std::vector<RunDelayBlame>& prev, const std::vector<RunDelayBlame>& curr,
                 std::vector<RunDelayBlame>& out) {
  out.clear();
  auto p = prev.begin();
  for (const RunDelayBlame& c : curr) {
    while (p != prev.end() && p->cgroup_id < c.cgroup_id) ++p;
    const bool same = p != prev.end() && p->cgroup_id == c.cgroup_id;
    RunDelayBlame d{c.cgroup_id, counter_delta(same ? p->wait_ns : 0, c.wait_ns),
                    counter_delta(same ? p->waits : 0, c.waits)};
    if (d.waits || d.wait_ns) out.push_back(d);
  }
}

void demand_delta(const std::vector<CpuDemandBucket>& prev, const std::vector<CpuDemandBucket>& curr,
                  std::vector<CpuDemandBucket>& out) {
  out.clear();
  auto p = prev.begin();
  for (const CpuDemandBucket& c : curr) {
    while (p != prev.end() && p->centi_cpus < c.centi_cpus) ++p;
    const bool same = p != prev.end() && p->centi_cpus == c.centi_cpus;
    const std::uint64_t slots = counter_delta(same ? p->slots : 0, c.slots);
    if (slots) out.push_back({c.centi_cpus, slots});
  }
}

void derive_bpf(const CpuBpfCounters* prev, const CpuBpfCounters& curr, double interval_ns,
                CgroupInterval& out) {
  static const CpuBpfCounters kZero;
  const CpuBpfCounters& p = prev ? *prev : kZero;
  out.has_bpf = true;
  out.on_cpu_ns = counter_delta(p.on_cpu_ns, curr.on_cpu_ns);
  out.cpu_percent = interval_ns > 0 ? 100.0 * static_cast<double>(out.on_cpu_ns) / interval_ns : 0;
  out.voluntary_switches = counter_delta(p.voluntary_switches, curr.voluntary_switches);
  out.involuntary_switches = counter_delta(p.involuntary_switches, curr.involuntary_switches);
  out.migrations = counter_delta(p.migrations, curr.migrations);
  out.wakeup_delay_ns = curr.wakeup_delay_ns.delta(p.wakeup_delay_ns);
  out.preempt_delay_ns = curr.preempt_delay_ns.delta(p.preempt_delay_ns);
  out.run_delay_ns = out.wakeup_delay_ns;
  out.run_delay_ns.merge(out.preempt_delay_ns);
  out.run_delay_ns_sum = counter_delta(p.wakeup_delay_ns_sum, curr.wakeup_delay_ns_sum) +
                         counter_delta(p.preempt_delay_ns_sum, curr.preempt_delay_ns_sum);
  out.io.has_iowait = true;
  out.io.iowait_ns = counter_delta(p.iowait_ns, curr.iowait_ns);
  out.io.iowait_count = counter_delta(p.iowait_count, curr.iowait_count);
  blame_delta(p.blame, curr.blame, out.run_delay_blame);
  out.run_delay_blame_overflow_ns = counter_delta(p.blame_overflow_ns, curr.blame_overflow_ns);
  out.run_delay_blame_overflow_waits = counter_delta(p.blame_overflow_waits, curr.blame_overflow_waits);
}

void derive_memory_cgroupfs(const CgroupSample& p, const CgroupSample& curr, MemoryInterval& out) {
  out.stat = curr.memory_stat;  // gauges; the counters go to the delta fields below
  out.stat.pgfault.reset();
  out.stat.pgmajfault.reset();
  out.stat.workingset_refault_anon.reset();
  out.stat.workingset_refault_file.reset();
  out.pgfault = counter_delta(p.memory_stat.pgfault, curr.memory_stat.pgfault);
  out.pgmajfault = counter_delta(p.memory_stat.pgmajfault, curr.memory_stat.pgmajfault);
  out.workingset_refault_anon =
      counter_delta(p.memory_stat.workingset_refault_anon, curr.memory_stat.workingset_refault_anon);
  out.workingset_refault_file =
      counter_delta(p.memory_stat.workingset_refault_file, curr.memory_stat.workingset_refault_file);
  out.knobs = curr.memory_knobs;
  const auto& pe = p.memory_events;
  const auto& ce = curr.memory_events;
  out.events.low = counter_delta(pe.low, ce.low);
  out.events.high = counter_delta(pe.high, ce.high);
  out.events.max = counter_delta(pe.max, ce.max);
  out.events.oom = counter_delta(pe.oom, ce.oom);
  out.events.oom_kill = counter_delta(pe.oom_kill, ce.oom_kill);
  out.pressure = curr.memory_pressure;
  out.pressure_some_usec = stall_delta(p.memory_pressure.some, curr.memory_pressure.some);
  out.pressure_full_usec = stall_delta(p.memory_pressure.full, curr.memory_pressure.full);
}

void derive_cgroupfs(const CgroupSample* prev, const CgroupSample& curr, double interval_ns,
                     CgroupInterval& out) {
  static const CgroupSample kZero;
  const CgroupSample& p = prev ? *prev : kZero;
  out.usage_usec = counter_delta(p.cpu_stat.usage_usec, curr.cpu_stat.usage_usec);
  if (out.usage_usec && interval_ns > 0)
    out.cpu_percent_cgroupfs = 100.0 * static_cast<double>(*out.usage_usec) * 1000.0 / interval_ns;
  out.nr_periods = counter_delta(p.cpu_stat.nr_periods, curr.cpu_stat.nr_periods);
  out.nr_throttled = counter_delta(p.cpu_stat.nr_throttled, curr.cpu_stat.nr_throttled);
  out.throttled_usec = counter_delta(p.cpu_stat.throttled_usec, curr.cpu_stat.throttled_usec);
  if (out.nr_periods && out.nr_throttled) {
    out.throttled_percent =
        *out.nr_periods > 0 ? 100.0 * static_cast<double>(*out.nr_throttled) / *out.nr_periods : 0.0;
  }
  out.cpu_knobs = curr.cpu_knobs;
  out.cpu_pressure = curr.cpu_pressure;
  out.cpu_pressure_some_usec = stall_delta(p.cpu_pressure.some, curr.cpu_pressure.some);
  if (curr.cpu_demand.slot_ns) {
    // A sampler restarted with another slot length starts its counts anew.
    const bool same_slot = p.cpu_demand.slot_ns == curr.cpu_demand.slot_ns;
    static const CpuDemand kNone;
    const CpuDemand& pd = same_slot ? p.cpu_demand : kNone;
    out.cpu_demand_slot_ns = curr.cpu_demand.slot_ns;
    demand_delta(pd.buckets, curr.cpu_demand.buckets, out.cpu_demand);
    out.cpu_demand_missed_slots = counter_delta(pd.missed_slots, curr.cpu_demand.missed_slots);
  }

  derive_io_cgroupfs(prev ? &prev->io_stat : nullptr, curr.io_stat, out.io);
  out.io.knobs = curr.io_knobs;
  out.io.pressure = curr.io_pressure;
  out.io.pressure_some_usec = stall_delta(p.io_pressure.some, curr.io_pressure.some);
  out.io.pressure_full_usec = stall_delta(p.io_pressure.full, curr.io_pressure.full);
  derive_memory_cgroupfs(p, curr, out.memory);
}

// A row of an earlier interval made new (every field as constructed), keeping the storage of
// its identity's strings and of the vectors most rows fill again.
void reset_row(CgroupInterval& row) {
  CgroupIdentity identity = std::move(row.identity);
  std::vector<RunDelayBlame> blame = std::move(row.run_delay_blame);
  std::vector<CpuDemandBucket> demand = std::move(row.cpu_demand);
  std::destroy_at(&row);
  std::construct_at(&row);
  row.identity = std::move(identity);
  row.run_delay_blame = std::move(blame);
  row.run_delay_blame.clear();
  row.cpu_demand = std::move(demand);
  row.cpu_demand.clear();
}

}  // namespace

Snapshot derive(const Sample& prev, const Sample& curr) {
  Snapshot snap;
  derive(prev, curr, snap);
  return snap;
}

void derive(const Sample& prev, const Sample& curr, Snapshot& snap) {
  snap.start_monotonic_ns = prev.monotonic_ns;
  snap.end_monotonic_ns = curr.monotonic_ns;
  snap.start_realtime_ns = prev.realtime_ns;
  snap.end_realtime_ns = curr.realtime_ns;
  snap.nr_cpus = curr.nr_cpus;
  snap.page_size = curr.page_size ? curr.page_size : kDefaultPageSize;
  snap.collectors = curr.collectors;
  const double interval_ns =
      curr.monotonic_ns > prev.monotonic_ns ? static_cast<double>(curr.monotonic_ns - prev.monotonic_ns) : 0;

  // The row of each cgroup in prev: usually at the same position (a recording and the live
  // source keep cgroups in order from one sample to the next); by id when not.
  std::unordered_map<std::uint64_t, const CgroupSample*> before;
  auto previous = [&](std::size_t i, std::uint64_t id) -> const CgroupSample* {
    if (i < prev.cgroups.size() && prev.cgroups[i].identity.id == id) {
      const CgroupSample& p = prev.cgroups[i];
      return p.removed ? nullptr : &p;
    }
    if (before.empty()) {
      before.reserve(prev.cgroups.size());
      for (const auto& cg : prev.cgroups)
        if (!cg.removed) before.emplace(cg.identity.id, &cg);
    }
    auto it = before.find(id);
    return it == before.end() ? nullptr : it->second;
  };

  snap.cgroups.resize(curr.cgroups.size());
  for (std::size_t i = 0; i < curr.cgroups.size(); ++i) {
    const CgroupSample& cg = curr.cgroups[i];
    const CgroupSample* p = previous(i, cg.identity.id);
    CgroupInterval& out = snap.cgroups[i];
    reset_row(out);
    out.identity = cg.identity;
    out.is_new = p == nullptr;
    out.removed = cg.removed;
    if (cg.cpu_bpf) derive_bpf(p && p->cpu_bpf ? &*p->cpu_bpf : nullptr, *cg.cpu_bpf, interval_ns, out);
    if (cg.io_bpf) derive_io_bpf(p && p->io_bpf ? &*p->io_bpf : nullptr, *cg.io_bpf, out.io);
    if (cg.memory_bpf)
      derive_memory_bpf(p && p->memory_bpf ? &*p->memory_bpf : nullptr, *cg.memory_bpf, out.memory);
    if (!cg.removed) derive_cgroupfs(p, cg, interval_ns, out);
  }
  snap.nfs = derive_nfs(prev.nfs, curr.nfs, 64, snap.page_size);
}

double cpu_percent(const CgroupInterval& cg) {
  if (cg.has_bpf) return cg.cpu_percent;
  return cg.cpu_percent_cgroupfs.value_or(0);
}

double io_bytes(const CgroupInterval& cg) {
  if (cg.io.has_bpf) return static_cast<double>(cg.io.read_bytes + cg.io.write_bytes);
  return static_cast<double>(cg.io.stat_rbytes.value_or(0) + cg.io.stat_wbytes.value_or(0));
}

std::uint64_t reclaim_ns(const CgroupInterval& cg) { return cg.memory.direct_reclaim_ns + cg.memory.memcg_reclaim_ns; }

bool is_active(const CgroupInterval& cg) {
  return cpu_percent(cg) >= 0.05 || cg.nr_throttled.value_or(0) > 0 || cg.run_delay_ns.count() > 0 ||
         io_bytes(cg) > 0 || cg.io.iowait_ns > 0 || reclaim_ns(cg) > 0 || cg.memory.oom_kills > 0 ||
         cg.memory.cache_accessed_pages > 0 || cg.removed;
}

}  // namespace cgscope::model
