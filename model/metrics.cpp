// The metrics table and the accessors that read each metric from a Sample and from a Snapshot.
// Most accessors are written once, as a generic function of a part that a Sample and a Snapshot
// hold alike (a cgroup's knobs, an NFS row, a mountstats block); per_cgroup() and its siblings
// turn it into both accessors.
#include "model/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model/nfs.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model {
namespace {

constexpr double kNs = 1e-9, kUs = 1e-6, kMs = 1e-3;  // base units (seconds) per model unit
constexpr auto kCounter = MetricKind::kCounter;
constexpr auto kGauge = MetricKind::kGauge;
constexpr auto kHistogram = MetricKind::kHistogram;
constexpr auto kCgroup = MetricScope::kCgroup;
constexpr auto kHost = MetricScope::kHost;

using Labels = std::initializer_list<std::string_view>;

// The rows of one owner (a cgroup, or the host when there is no id), each starting with the
// owner's labels (an NFS mount's, an RPC procedure's) followed by the row's own.
class Rows {
 public:
  Rows(MetricVisitor& visitor, std::optional<std::uint64_t> cgroup, Labels prefix = {})
      : visitor_(visitor), cgroup_(cgroup) {
    for (std::string_view l : prefix)
      if (prefix_size_ < prefix_.size()) prefix_[prefix_size_++] = l;
  }
  void value(double v, Labels labels = {}) const {
    std::array<std::string_view, kMaxMetricLabels> all{};
    visitor_.value(row(labels, all), v);
  }
  // A reading the model may lack, times `scale`.
  void maybe(const std::optional<std::uint64_t>& v, double scale, Labels labels = {}) const {
    if (v) value(static_cast<double>(*v) * scale, labels);
  }
  void histogram(const Log2Histogram& h, double scale, std::optional<double> sum, Labels labels = {}) const {
    std::array<std::string_view, kMaxMetricLabels> all{};
    visitor_.histogram(row(labels, all), MetricHistogram{h, scale, sum});
  }

 private:
  MetricRow row(Labels labels, std::array<std::string_view, kMaxMetricLabels>& all) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < prefix_size_; ++i) all[n++] = prefix_[i];
    for (std::string_view l : labels)
      if (n < all.size()) all[n++] = l;
    return {cgroup_, {all.data(), n}};
  }

  MetricVisitor& visitor_;
  std::optional<std::uint64_t> cgroup_;
  std::array<std::string_view, 3> prefix_{};
  std::size_t prefix_size_ = 0;
};

double as_double(std::uint64_t v) { return static_cast<double>(v); }
double flag(bool b) { return b ? 1 : 0; }

// ---- the parts of a cgroup, from a CgroupSample (cumulative) or a CgroupInterval (deltas) ----

const CpuBpfCounters* cpu_bpf(const CgroupSample& c) { return c.cpu_bpf ? &*c.cpu_bpf : nullptr; }
const CgroupInterval* cpu_bpf(const CgroupInterval& c) { return c.has_bpf ? &c : nullptr; }
const std::vector<RunDelayBlame>& run_delay_blame(const CgroupSample& c) { return c.cpu_bpf->blame; }
const std::vector<RunDelayBlame>& run_delay_blame(const CgroupInterval& c) { return c.run_delay_blame; }
std::uint64_t run_delay_blame_overflow_ns(const CgroupSample& c) { return c.cpu_bpf->blame_overflow_ns; }
std::uint64_t run_delay_blame_overflow_ns(const CgroupInterval& c) { return c.run_delay_blame_overflow_ns; }
const IoBpfCounters* io_bpf(const CgroupSample& c) { return c.io_bpf ? &*c.io_bpf : nullptr; }
const IoInterval* io_bpf(const CgroupInterval& c) { return c.io.has_bpf ? &c.io : nullptr; }
const MemoryBpfCounters* memory_bpf(const CgroupSample& c) { return c.memory_bpf ? &*c.memory_bpf : nullptr; }
const MemoryInterval* memory_bpf(const CgroupInterval& c) { return c.memory.has_bpf ? &c.memory : nullptr; }

struct CpuCounters {
  std::optional<std::uint64_t> usage_usec, nr_periods, nr_throttled, throttled_usec;
};
CpuCounters cpu_counters(const CgroupSample& c) {
  return {c.cpu_stat.usage_usec, c.cpu_stat.nr_periods, c.cpu_stat.nr_throttled, c.cpu_stat.throttled_usec};
}
CpuCounters cpu_counters(const CgroupInterval& c) {
  return {c.usage_usec, c.nr_periods, c.nr_throttled, c.throttled_usec};
}

struct IoWait {
  std::uint64_t ns = 0, count = 0;
};
std::optional<IoWait> io_wait(const CgroupSample& c) {
  if (!c.cpu_bpf) return std::nullopt;
  return IoWait{c.cpu_bpf->iowait_ns, c.cpu_bpf->iowait_count};
}
std::optional<IoWait> io_wait(const CgroupInterval& c) {
  if (!c.io.has_iowait) return std::nullopt;
  return IoWait{c.io.iowait_ns, c.io.iowait_count};
}

const std::vector<IoStatDevice>& io_stat(const CgroupSample& c) { return c.io_stat; }
const std::vector<IoStatDevice>& io_stat(const CgroupInterval& c) { return c.io.stat; }
const IoKnobs& io_knobs(const CgroupSample& c) { return c.io_knobs; }
const IoKnobs& io_knobs(const CgroupInterval& c) { return c.io.knobs; }
// memory.stat counters: cumulative in MemoryStat, deltas in MemoryInterval (same names).
const MemoryStat& memory_counters(const CgroupSample& c) { return c.memory_stat; }
const MemoryInterval& memory_counters(const CgroupInterval& c) { return c.memory; }
const MemoryStat& memory_gauges(const CgroupSample& c) { return c.memory_stat; }
const MemoryStat& memory_gauges(const CgroupInterval& c) { return c.memory.stat; }
const MemoryKnobs& memory_knobs(const CgroupSample& c) { return c.memory_knobs; }
const MemoryKnobs& memory_knobs(const CgroupInterval& c) { return c.memory.knobs; }
const MemoryEvents& memory_events(const CgroupSample& c) { return c.memory_events; }
const MemoryEvents& memory_events(const CgroupInterval& c) { return c.memory.events; }

// PSI stall time: cumulative in a sample, the interval's in a snapshot.
struct Stall {
  std::optional<std::uint64_t> some_usec, full_usec;
};
std::optional<std::uint64_t> total_usec(const std::optional<PsiLine>& line) {
  return line ? std::optional(line->total_usec) : std::nullopt;
}
Stall stall(const Pressure& p) { return {total_usec(p.some), total_usec(p.full)}; }
Stall cpu_stall(const CgroupSample& c) { return stall(c.cpu_pressure); }
// The interval keeps no cpu full delta.
Stall cpu_stall(const CgroupInterval& c) { return {c.cpu_pressure_some_usec, std::nullopt}; }
Stall io_stall(const CgroupSample& c) { return stall(c.io_pressure); }
Stall io_stall(const CgroupInterval& c) { return {c.io.pressure_some_usec, c.io.pressure_full_usec}; }
Stall memory_stall(const CgroupSample& c) { return stall(c.memory_pressure); }
Stall memory_stall(const CgroupInterval& c) {
  return {c.memory.pressure_some_usec, c.memory.pressure_full_usec};
}

void stalled(const Stall& s, const Rows& out) {
  out.maybe(s.some_usec, kUs, {"some"});
  out.maybe(s.full_usec, kUs, {"full"});
}

// cpu.weight, or v1 cpu.shares on the v2 scale (runc's and systemd's mapping: 2..262144 -> 1..10000).
std::optional<double> cpu_weight(const CpuKnobs& k) {
  if (k.weight) return as_double(*k.weight);
  if (!k.shares) return std::nullopt;
  const std::uint64_t shares = std::clamp<std::uint64_t>(*k.shares, 2, 262144);
  return as_double(1 + (shares - 2) * 9999 / 262142);
}

// CPUs in a cpuset list ("0-3,8,10-11"); nullopt when empty or unparsable.
std::optional<std::uint64_t> cpuset_size(std::string_view list) {
  while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.remove_suffix(1);
  if (list.empty()) return std::nullopt;
  std::uint64_t n = 0;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view part = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    std::uint64_t first = 0, last = 0;
    const char* end = part.data() + part.size();
    auto r = std::from_chars(part.data(), end, first);
    if (r.ec != std::errc()) return std::nullopt;
    last = first;
    if (r.ptr != end) {
      if (*r.ptr != '-') return std::nullopt;
      r = std::from_chars(r.ptr + 1, end, last);
      if (r.ec != std::errc() || r.ptr != end || last < first) return std::nullopt;
    }
    n += last - first + 1;
  }
  return n;
}

// A counter of each block I/O row (disk, op, owner) of a cgroup's sample or interval.
template <class Cgroup, class Get>
void block_counter(const Cgroup& c, const Rows& out, Get get) {
  const auto* b = io_bpf(c);
  if (!b) return;
  for (const auto& r : b->block) {
    out.value(as_double(get(r)), {dev_name(r.dev), to_string(r.op), to_string(r.owner)});
  }
}

// Block I/O histograms by (disk, op), merged over owners; get(row) gives {histogram*, sum in ns}.
template <class Cgroup, class Get>
void block_histograms(const Cgroup& c, const Rows& out, Get get) {
  const auto* b = io_bpf(c);
  if (!b) return;
  std::map<std::pair<std::uint32_t, IoOp>, std::pair<Log2Histogram, std::uint64_t>> by;
  for (const auto& r : b->block) {
    const auto [hist, sum] = get(r);
    auto& [h, s] = by[{r.dev, r.op}];
    h.merge(*hist);
    s += sum;
  }
  for (const auto& [key, hs] : by)
    out.histogram(hs.first, kNs, as_double(hs.second) * kNs, {dev_name(key.first), to_string(key.second)});
}

// A per-cgroup metric read alike from a CgroupSample and a CgroupInterval: F is a generic
// callable (const auto& cgroup, const Rows&).
template <class F>
constexpr MetricDescriptor per_cgroup(MetricDescriptor d, F /*read*/) {
  d.sample = [](const Sample& s, MetricVisitor& v) {
    for (const auto& c : s.cgroups) F{}(c, Rows(v, c.identity.id));
  };
  d.interval = [](const Snapshot& s, MetricVisitor& v) {
    for (const auto& c : s.cgroups) F{}(c, Rows(v, c.identity.id));
  };
  return d;
}

// ---- NFS ----

// Mount labels of a superblock: its mount point ("" when mountinfo does not have it) and export.
struct MountLabels {
  std::string mount, export_name;
};
MountLabels mount_labels(const std::vector<NfsMount>& mounts, std::uint32_t dev, std::uint32_t sb_instance) {
  const NfsMount* m = find_nfs_mount(mounts, dev, sb_instance);
  return {m ? m->mount_point : std::string(), nfs_export_name(mounts, dev, sb_instance)};
}

std::string_view op_name(std::size_t op) { return to_string(static_cast<NfsOp>(op)); }

// Time of the operations a task waits for (NfsCgroupMountInterval::stall_ns), also cumulative.
std::uint64_t stall_ns(const NfsCgroupMountInterval& r) { return r.stall_ns(); }
std::uint64_t stall_ns(const NfsCgroupMountCounters& c) { return nfs_stall_ns(c.ops); }

template <class NfsRows, class F>
void each_nfs_row(const NfsRows& rows, const std::vector<NfsMount>& mounts, MetricVisitor& v, F read) {
  for (const auto& r : rows) {
    const MountLabels m = mount_labels(mounts, r.dev, r.sb_instance);
    read(r, Rows(v, r.cgroup_id, {m.mount, m.export_name}));
  }
}

// A metric per (cgroup, NFS mount), labels {mount, export, ...}: F(const auto& row, const Rows&)
// reads an NfsCgroupMountCounters or an NfsCgroupMountInterval.
template <class F>
constexpr MetricDescriptor per_nfs_mount(MetricDescriptor d, F /*read*/) {
  d.sample = [](const Sample& s, MetricVisitor& v) { each_nfs_row(s.nfs.cgroups, s.nfs.mounts, v, F{}); };
  d.interval = [](const Snapshot& s, MetricVisitor& v) { each_nfs_row(s.nfs.cgroups, s.nfs.mounts, v, F{}); };
  return d;
}

// /etc/rpc names of the programs an NFS client talks to; others by number.
std::string rpc_program(std::uint32_t prog) {
  switch (prog) {
    case 100000: return "portmapper";
    case 100003: return "nfs";
    case 100005: return "mount";
    case 100021: return "nlockmgr";
    case 100024: return "status";
    case 100227: return "nfs_acl";
    default: return std::to_string(prog);
  }
}

template <class RpcRows, class F>
void each_rpc(const RpcRows& rows, MetricVisitor& v, F read) {
  for (const auto& r : rows) {
    const std::string program = rpc_program(r.prog), version = std::to_string(r.vers);
    read(r, Rows(v, r.cgroup_id, {program, version, r.procedure}));
  }
}

// A metric per (cgroup, RPC procedure), labels {program, version, procedure}: F reads an
// NfsRpcCounters or an NfsRpcInterval.
template <class F>
constexpr MetricDescriptor per_rpc(MetricDescriptor d, F /*read*/) {
  d.sample = [](const Sample& s, MetricVisitor& v) { each_rpc(s.nfs.rpc, v, F{}); };
  d.interval = [](const Snapshot& s, MetricVisitor& v) { each_rpc(s.nfs.rpc, v, F{}); };
  return d;
}

template <class F>
void each_mount(const std::vector<NfsMount>& mounts, MetricVisitor& v, F read) {
  for (const auto& m : mounts) {
    if (m.vanished) continue;
    const std::string export_name = nfs_export_name(mounts, m.dev, m.sb_instance);
    read(m, Rows(v, std::nullopt, {m.mount_point, export_name}));
  }
}

// A metric per mount still mounted, labels {mount, export, ...}: F(const NfsMount&, const Rows&).
template <class F>
constexpr MetricDescriptor per_mount(MetricDescriptor d, F /*read*/) {
  d.sample = [](const Sample& s, MetricVisitor& v) { each_mount(s.nfs.mounts, v, F{}); };
  d.interval = [](const Snapshot& s, MetricVisitor& v) { each_mount(s.nfs.mounts, v, F{}); };
  return d;
}

// A metric per mountstats block, labels {mount, export, ...}: F(const NfsMountStats&, const Rows&)
// reads the cumulative block of a sample or the interval's deltas.
template <class F>
constexpr MetricDescriptor per_mountstats(MetricDescriptor d, F /*read*/) {
  d.sample = [](const Sample& s, MetricVisitor& v) {
    for (const auto& m : s.nfs.mountstats) F{}(m, Rows(v, std::nullopt, {m.mount_point, m.source}));
  };
  d.interval = [](const Snapshot& s, MetricVisitor& v) {
    for (const auto& m : s.nfs.mountstats_delta) F{}(m, Rows(v, std::nullopt, {m.mount_point, m.source}));
  };
  return d;
}

// Per-procedure mountstats counters (procedures never used are left out).
template <class Get>
void mountstats_ops(const NfsMountStats& m, const Rows& out, Get get) {
  for (const auto& [procedure, o] : m.ops)
    if (o.ops > 0 || o.transmissions > 0) get(procedure, o, out);
}

// Hazards of an interval counted per (cgroup, mount): how many files or names.
using HazardCounts = std::map<std::tuple<std::uint64_t, std::string, std::string>, std::uint64_t>;
void emit(const HazardCounts& counts, MetricVisitor& v) {
  for (const auto& [key, n] : counts) {
    const auto& [cgroup, mount, export_name] = key;
    Rows(v, cgroup, {mount, export_name}).value(as_double(n));
  }
}
void count_file(HazardCounts& counts, const NfsInterval& nfs, const NfsFileCgroup& c,
                const std::string& export_name) {
  ++counts[{c.cgroup_id, mount_labels(nfs.mounts, c.dev, c.sb_instance).mount, export_name}];
}

constexpr MetricLabels kNfsMount{"mount", "export"};
constexpr MetricLabels kRpc{"program", "version", "procedure"};

// clang-format off
constexpr MetricDescriptor kTable[] = {
    // ---- CPU ----
    per_cgroup(
        {"cgscope_cpu_on_cpu_seconds_total", kCounter, "seconds", kCgroup, {}, "cpu",
         "Time tasks of the cgroup ran on a CPU (eBPF, sched_switch)."},
        [](const auto& c, const Rows& out) {
          if (const auto* b = cpu_bpf(c)) out.value(as_double(b->on_cpu_ns) * kNs);
        }),
    // The interval keeps one sum for both reasons (run_delay_ns_sum): its rows have none.
    {"cgscope_cpu_run_delay_seconds", kHistogram, "seconds", kCgroup, {"reason"}, "cpu",
     "Time runnable tasks waited for a CPU; reason=wakeup (woken -> ran) or preempt (preempted -> ran "
     "again).",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) {
         if (!c.cpu_bpf) continue;
         const Rows out(v, c.identity.id);
         const CpuBpfCounters& b = *c.cpu_bpf;
         out.histogram(b.wakeup_delay_ns, kNs, as_double(b.wakeup_delay_ns_sum) * kNs, {"wakeup"});
         out.histogram(b.preempt_delay_ns, kNs, as_double(b.preempt_delay_ns_sum) * kNs, {"preempt"});
       }
     },
     [](const Snapshot& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) {
         if (!c.has_bpf) continue;
         const Rows out(v, c.identity.id);
         out.histogram(c.wakeup_delay_ns, kNs, std::nullopt, {"wakeup"});
         out.histogram(c.preempt_delay_ns, kNs, std::nullopt, {"preempt"});
       }
     },
     kNs},
    per_cgroup(
        {"cgscope_cpu_run_delay_by_holder_seconds_total", kCounter, "seconds", kCgroup, {"holder"}, "cpu",
         "Run-queue waits by the cgroup holding the CPU when the wait began (who preempted it, or ran on "
         "its CPU at wakeup); holder=the holder's cgroup id (the row's own id: behind its own tasks), "
         "idle, throttled (its own quota), or other (beyond the kernel's top-K of holders, unnamed)."},
        [](const auto& c, const Rows& out) {
          const auto* b = cpu_bpf(c);
          if (!b) return;
          for (const RunDelayBlame& r : run_delay_blame(c)) {
            const std::string holder = r.cgroup_id == 0                           ? "idle"
                                       : r.cgroup_id == kRunDelayHolderThrottled ? "throttled"
                                                                                 : std::to_string(r.cgroup_id);
            out.value(as_double(r.wait_ns) * kNs, {holder});
          }
          out.value(as_double(run_delay_blame_overflow_ns(c)) * kNs, {"other"});
        }),
    per_cgroup(
        {"cgscope_cpu_switches_total", kCounter, "switches", kCgroup, {"kind"}, "cpu",
         "Context switches out of the CPU; kind=voluntary (blocked) or involuntary (preempted while "
         "runnable)."},
        [](const auto& c, const Rows& out) {
          if (const auto* b = cpu_bpf(c)) {
            out.value(as_double(b->voluntary_switches), {"voluntary"});
            out.value(as_double(b->involuntary_switches), {"involuntary"});
          }
        }),
    per_cgroup(
        {"cgscope_cpu_migrations_total", kCounter, "migrations", kCgroup, {}, "cpu",
         "Times a task ran on a different CPU than the last time."},
        [](const auto& c, const Rows& out) {
          if (const auto* b = cpu_bpf(c)) out.value(as_double(b->migrations));
        }),
    per_cgroup(
        {"cgscope_cpu_usage_seconds_total", kCounter, "seconds", kCgroup, {}, "cgroupfs",
         "CPU time by the kernel's accounting (cpu.stat usage_usec or cpuacct.usage)."},
        [](const auto& c, const Rows& out) { out.maybe(cpu_counters(c).usage_usec, kUs); }),
    // User and system time: the interval keeps no deltas of them.
    {"cgscope_cpu_user_seconds_total", kCounter, "seconds", kCgroup, {}, "cgroupfs",
     "CPU time in user mode (cpu.stat user_usec or cpuacct.stat user).",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) Rows(v, c.identity.id).maybe(c.cpu_stat.user_usec, kUs);
     }},
    {"cgscope_cpu_system_seconds_total", kCounter, "seconds", kCgroup, {}, "cgroupfs",
     "CPU time in kernel mode (cpu.stat system_usec or cpuacct.stat system).",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) Rows(v, c.identity.id).maybe(c.cpu_stat.system_usec, kUs);
     }},
    per_cgroup(
        {"cgscope_cpu_periods_total", kCounter, "periods", kCgroup, {}, "cgroupfs",
         "CFS bandwidth periods elapsed while the cgroup had runnable tasks."},
        [](const auto& c, const Rows& out) { out.maybe(cpu_counters(c).nr_periods, 1); }),
    per_cgroup(
        {"cgscope_cpu_throttled_periods_total", kCounter, "periods", kCgroup, {}, "cgroupfs",
         "CFS bandwidth periods in which the cgroup was throttled."},
        [](const auto& c, const Rows& out) { out.maybe(cpu_counters(c).nr_throttled, 1); }),
    per_cgroup(
        {"cgscope_cpu_throttled_seconds_total", kCounter, "seconds", kCgroup, {}, "cgroupfs",
         "Time the cgroup's tasks were throttled by its CPU quota."},
        [](const auto& c, const Rows& out) { out.maybe(cpu_counters(c).throttled_usec, kUs); }),
    per_cgroup(
        {"cgscope_cpu_quota_cores", kGauge, "cores", kCgroup, {}, "cgroupfs",
         "CPU quota divided by period (cpu.max / cfs_quota_us); absent when unlimited."},
        [](const auto& c, const Rows& out) {
          const CpuKnobs& k = c.cpu_knobs;
          if (k.quota_usec && *k.quota_usec >= 0 && k.period_usec && *k.period_usec > 0)
            out.value(static_cast<double>(*k.quota_usec) / as_double(*k.period_usec));
        }),
    per_cgroup(
        {"cgscope_cpu_cpuset_cpus", kGauge, "cpus", kCgroup, {}, "cgroupfs",
         "CPUs the cgroup may run on (cpuset.cpus.effective, v1 cpuset.effective_cpus)."},
        [](const auto& c, const Rows& out) { out.maybe(cpuset_size(c.cpu_knobs.cpuset_cpus), 1); }),
    per_cgroup(
        {"cgscope_cpu_weight", kGauge, "weight", kCgroup, {}, "cgroupfs",
         "cpu.weight (v2, 1-10000) or cpu.shares (v1) converted to the v2 weight scale."},
        [](const auto& c, const Rows& out) { if (auto w = cpu_weight(c.cpu_knobs)) out.value(*w); }),
    per_cgroup(
        {"cgscope_cpu_pressure_stalled_seconds_total", kCounter, "seconds", kCgroup, {"level"}, "cgroupfs",
         "PSI cpu stall time; level=some or full (intervals: some only)."},
        [](const auto& c, const Rows& out) { stalled(cpu_stall(c), out); }),
    // ---- I/O ----
    per_cgroup(
        {"cgscope_io_requests_total", kCounter, "requests", kCgroup, {"device", "op", "owner"}, "io",
         "Block requests completed, charged to the cgroup that submitted them; owner=task, writeback_dirtier "
         "or writeback_blkcg (written back by the kernel for the cgroup), or kernel (no owner known: the "
         "[kernel I/O] bucket)."},
        [](const auto& c, const Rows& out) {
          block_counter(c, out, [](const auto& row) { return row.requests; });
        }),
    per_cgroup(
        {"cgscope_io_bytes_total", kCounter, "bytes", kCgroup, {"device", "op", "owner"}, "io",
         "Bytes of completed block requests; op=read, write, discard, flush or other."},
        [](const auto& c, const Rows& out) {
          block_counter(c, out, [](const auto& row) { return row.bytes; });
        }),
    per_cgroup(
        {"cgscope_io_errors_total", kCounter, "errors", kCgroup, {"device", "op", "owner"}, "io",
         "Block requests that completed with an error."},
        [](const auto& c, const Rows& out) {
          block_counter(c, out, [](const auto& row) { return row.errors; });
        }),
    per_cgroup(
        {"cgscope_io_latency_seconds", kHistogram, "seconds", kCgroup, {"device", "op"}, "io",
         "Block request latency from issue to the device until completion.", nullptr, nullptr, kNs},
        [](const auto& c, const Rows& out) {
          block_histograms(c, out, [](const auto& r) { return std::pair(&r.latency_ns, r.latency_ns_sum); });
        }),
    per_cgroup(
        {"cgscope_io_queue_seconds", kHistogram, "seconds", kCgroup, {"device", "op"}, "io",
         "Time from submission (block_io_start) until the request was issued to the device.", nullptr,
         nullptr, kNs},
        [](const auto& c, const Rows& out) {
          block_histograms(c, out, [](const auto& r) { return std::pair(&r.queue_ns, r.queue_ns_sum); });
        }),
    per_cgroup(
        {"cgscope_io_wait_seconds_total", kCounter, "seconds", kCgroup, {}, "cpu",
         "Time tasks of the cgroup were off CPU blocked in I/O wait (in_iowait)."},
        [](const auto& c, const Rows& out) {
          if (auto w = io_wait(c)) out.value(as_double(w->ns) * kNs);
        }),
    per_cgroup(
        {"cgscope_io_waits_total", kCounter, "waits", kCgroup, {}, "cpu",
         "I/O waits (sleeps in io_schedule) of the cgroup's tasks that ended."},
        [](const auto& c, const Rows& out) {
          if (auto w = io_wait(c)) out.value(as_double(w->count));
        }),
    per_cgroup(
        {"cgscope_io_dirty_throttle_seconds_total", kCounter, "seconds", kCgroup, {}, "io",
         "Pauses balance_dirty_pages() imposed on writers of the cgroup to let writeback catch up."},
        [](const auto& c, const Rows& out) {
          if (const auto* b = io_bpf(c)) out.value(as_double(b->dirty_throttle_ns) * kNs);
        }),
    per_cgroup(
        {"cgscope_io_dirty_throttle_pauses_total", kCounter, "pauses", kCgroup, {}, "io",
         "Pauses balance_dirty_pages() imposed on writers of the cgroup."},
        [](const auto& c, const Rows& out) {
          if (const auto* b = io_bpf(c)) out.value(as_double(b->dirty_throttle_count));
        }),
    per_cgroup(
        {"cgscope_io_stat_bytes_total", kCounter, "bytes", kCgroup, {"device", "direction"}, "cgroupfs",
         "Bytes by the kernel's accounting (io.stat rbytes/wbytes/dbytes, or v1 "
         "blkio.throttle.io_service_bytes); "
         "direction=read, write or discard."},
        [](const auto& c, const Rows& out) {
          for (const auto& d : io_stat(c)) {
            const std::string dev = dev_name(d.dev);
            out.value(as_double(d.rbytes), {dev, "read"});
            out.value(as_double(d.wbytes), {dev, "write"});
            out.value(as_double(d.dbytes), {dev, "discard"});
          }
        }),
    per_cgroup(
        {"cgscope_io_stat_ios_total", kCounter, "ios", kCgroup, {"device", "direction"}, "cgroupfs",
         "I/Os by the kernel's accounting (io.stat rios/wios/dios, or v1 blkio.throttle.io_serviced)."},
        [](const auto& c, const Rows& out) {
          for (const auto& d : io_stat(c)) {
            const std::string dev = dev_name(d.dev);
            out.value(as_double(d.rios), {dev, "read"});
            out.value(as_double(d.wios), {dev, "write"});
            out.value(as_double(d.dios), {dev, "discard"});
          }
        }),
    per_cgroup(
        {"cgscope_io_weight", kGauge, "weight", kCgroup, {}, "cgroupfs",
         "Default I/O weight (io.weight, io.bfq.weight or v1 blkio.weight)."},
        [](const auto& c, const Rows& out) { out.maybe(io_knobs(c).weight, 1); }),
    per_cgroup(
        {"cgscope_io_limit_bytes_per_second", kGauge, "bytes_per_second", kCgroup, {"device", "direction"},
         "cgroupfs", "I/O bandwidth limits (io.max rbps/wbps or v1 blkio.throttle.*_bps_device); "
         "direction=read or write; absent when unlimited."},
        [](const auto& c, const Rows& out) {
          for (const auto& l : io_knobs(c).limits) {
            const std::string dev = dev_name(l.dev);
            out.maybe(l.rbps, 1, {dev, "read"});
            out.maybe(l.wbps, 1, {dev, "write"});
          }
        }),
    per_cgroup(
        {"cgscope_io_limit_ios_per_second", kGauge, "ios_per_second", kCgroup, {"device", "direction"},
         "cgroupfs", "I/O operation limits (io.max riops/wiops or v1 blkio.throttle.*_iops_device); "
         "direction=read or write; absent when unlimited."},
        [](const auto& c, const Rows& out) {
          for (const auto& l : io_knobs(c).limits) {
            const std::string dev = dev_name(l.dev);
            out.maybe(l.riops, 1, {dev, "read"});
            out.maybe(l.wiops, 1, {dev, "write"});
          }
        }),
    per_cgroup(
        {"cgscope_io_pressure_stalled_seconds_total", kCounter, "seconds", kCgroup, {"level"}, "cgroupfs",
         "PSI io stall time; level=some or full."},
        [](const auto& c, const Rows& out) { stalled(io_stall(c), out); }),
    // ---- memory ----
    per_cgroup(
        {"cgscope_memory_reclaim_seconds_total", kCounter, "seconds", kCgroup, {"kind"}, "memory",
         "Time tasks stalled reclaiming memory; kind=direct (the host ran low) or memcg (the cgroup's own "
         "limit)."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) {
            out.value(as_double(m->direct_reclaim_ns) * kNs, {"direct"});
            out.value(as_double(m->memcg_reclaim_ns) * kNs, {"memcg"});
          }
        }),
    per_cgroup(
        {"cgscope_memory_reclaim_stalls_total", kCounter, "stalls", kCgroup, {"kind"}, "memory",
         "Reclaim stalls; kind=direct or memcg."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) {
            out.value(as_double(m->direct_reclaim_count), {"direct"});
            out.value(as_double(m->memcg_reclaim_count), {"memcg"});
          }
        }),
    {"cgscope_memory_reclaim_stall_seconds", kHistogram, "seconds", kCgroup, {}, "memory",
     "Duration of each reclaim stall, direct and memcg.",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) {
         if (const auto* m = memory_bpf(c)) {
           const double sum = as_double(m->direct_reclaim_ns + m->memcg_reclaim_ns) * kNs;
           Rows(v, c.identity.id).histogram(m->reclaim_ns, kNs, sum);
         }
       }
     },
     [](const Snapshot& s, MetricVisitor& v) {
       for (const auto& c : s.cgroups) {
         if (c.memory.has_bpf)
           Rows(v, c.identity.id).histogram(c.memory.reclaim_ns, kNs, as_double(reclaim_ns(c)) * kNs);
       }
     },
     kNs},
    per_cgroup(
        {"cgscope_memory_reclaimed_pages_total", kCounter, "pages", kCgroup, {}, "memory",
         "Pages freed by the cgroup's reclaim stalls."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->reclaimed_pages));
        }),
    per_cgroup(
        {"cgscope_memory_page_cache_accessed_pages_total", kCounter, "pages", kCgroup, {}, "memory",
         "Pages read through the page cache (read(2) and file page faults)."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->cache_accessed_pages));
        }),
    per_cgroup(
        {"cgscope_memory_page_cache_miss_pages_total", kCounter, "pages", kCgroup, {}, "memory",
         "Pages added to the page cache for the cgroup's reads (misses, readahead included)."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->cache_read_added_pages));
        }),
    per_cgroup(
        {"cgscope_memory_page_cache_write_added_pages_total", kCounter, "pages", kCgroup, {}, "memory",
         "Pages added to the page cache by buffered writes (not misses)."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->cache_other_added_pages));
        }),
    per_cgroup(
        {"cgscope_memory_file_faults_total", kCounter, "faults", kCgroup, {}, "memory",
         "Page faults on file mappings."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->file_faults));
        }),
    per_cgroup(
        {"cgscope_memory_oom_kills_total", kCounter, "kills", kCgroup, {}, "memory",
         "Tasks of the cgroup chosen as OOM victims (eBPF, mark_victim)."},
        [](const auto& c, const Rows& out) {
          if (const auto* m = memory_bpf(c)) out.value(as_double(m->oom_kills));
        }),
    per_cgroup(
        {"cgscope_memory_usage_bytes", kGauge, "bytes", kCgroup, {}, "cgroupfs",
         "memory.current (v2) or memory.usage_in_bytes (v1)."},
        [](const auto& c, const Rows& out) { out.maybe(memory_knobs(c).current_bytes, 1); }),
    per_cgroup(
        {"cgscope_memory_peak_bytes", kGauge, "bytes", kCgroup, {}, "cgroupfs",
         "Highest usage seen by the kernel (memory.peak, v1 memory.max_usage_in_bytes)."},
        [](const auto& c, const Rows& out) { out.maybe(memory_knobs(c).peak_bytes, 1); }),
    per_cgroup(
        {"cgscope_memory_limit_bytes", kGauge, "bytes", kCgroup, {"kind"}, "cgroupfs",
         "Memory limits; kind=max, high, low, min or swap_max (v1: limit_in_bytes as max, "
         "soft_limit_in_bytes as low); absent when unlimited."},
        [](const auto& c, const Rows& out) {
          const MemoryKnobs& k = memory_knobs(c);
          out.maybe(k.max_bytes, 1, {"max"});
          out.maybe(k.high_bytes, 1, {"high"});
          out.maybe(k.low_bytes, 1, {"low"});
          out.maybe(k.min_bytes, 1, {"min"});
          out.maybe(k.swap_max_bytes, 1, {"swap_max"});
        }),
    per_cgroup(
        {"cgscope_memory_stat_bytes", kGauge, "bytes", kCgroup, {"item"}, "cgroupfs",
         "memory.stat; item=anon, file, file_dirty, file_writeback, shmem, active_file or inactive_file."},
        [](const auto& c, const Rows& out) {
          const MemoryStat& m = memory_gauges(c);
          out.maybe(m.anon_bytes, 1, {"anon"});
          out.maybe(m.file_bytes, 1, {"file"});
          out.maybe(m.file_dirty_bytes, 1, {"file_dirty"});
          out.maybe(m.file_writeback_bytes, 1, {"file_writeback"});
          out.maybe(m.shmem_bytes, 1, {"shmem"});
          out.maybe(m.active_file_bytes, 1, {"active_file"});
          out.maybe(m.inactive_file_bytes, 1, {"inactive_file"});
        }),
    per_cgroup(
        {"cgscope_memory_page_faults_total", kCounter, "faults", kCgroup, {}, "cgroupfs",
         "Page faults, minor and major (memory.stat pgfault)."},
        [](const auto& c, const Rows& out) { out.maybe(memory_counters(c).pgfault, 1); }),
    per_cgroup(
        {"cgscope_memory_major_faults_total", kCounter, "faults", kCgroup, {}, "cgroupfs",
         "Major page faults (memory.stat pgmajfault)."},
        [](const auto& c, const Rows& out) { out.maybe(memory_counters(c).pgmajfault, 1); }),
    per_cgroup(
        {"cgscope_memory_refaults_total", kCounter, "refaults", kCgroup, {"kind"}, "cgroupfs",
         "Refaults of recently evicted pages (memory.stat workingset_refault_*); kind=anon or file."},
        [](const auto& c, const Rows& out) {
          out.maybe(memory_counters(c).workingset_refault_anon, 1, {"anon"});
          out.maybe(memory_counters(c).workingset_refault_file, 1, {"file"});
        }),
    per_cgroup(
        {"cgscope_memory_events_total", kCounter, "events", kCgroup, {"event"}, "cgroupfs",
         "memory.events; event=low, high, max, oom or oom_kill (v1: failcnt as max, oom_kill)."},
        [](const auto& c, const Rows& out) {
          const MemoryEvents& e = memory_events(c);
          out.maybe(e.low, 1, {"low"});
          out.maybe(e.high, 1, {"high"});
          out.maybe(e.max, 1, {"max"});
          out.maybe(e.oom, 1, {"oom"});
          out.maybe(e.oom_kill, 1, {"oom_kill"});
        }),
    per_cgroup(
        {"cgscope_memory_pressure_stalled_seconds_total", kCounter, "seconds", kCgroup, {"level"}, "cgroupfs",
         "PSI memory stall time; level=some or full."},
        [](const auto& c, const Rows& out) { stalled(memory_stall(c), out); }),
    // ---- NFS, per cgroup and mount (eBPF) ----
    per_nfs_mount(
        {"cgscope_nfs_operations_total", kCounter, "operations", kCgroup, {"mount", "export", "op"}, "nfs",
         "NFS client operations charged to the cgroup, by op (revalidate, getattr, access, "
         "lookup_revalidate, lookup, open, invalidate, fsync, flush, commit, read, write, setattr, create, "
         "remove, rename: docs/collectors.md)."},
        [](const auto& r, const Rows& out) {
          for (std::size_t i = 0; i < kNfsOps; ++i)
            if (r.ops[i].count > 0) out.value(as_double(r.ops[i].count), {op_name(i)});
        }),
    per_nfs_mount(
        {"cgscope_nfs_operation_seconds", kHistogram, "seconds", kCgroup, {"mount", "export", "op"}, "nfs",
         "Duration of each NFS client operation, by op.", nullptr, nullptr, kNs},
        [](const auto& r, const Rows& out) {
          for (std::size_t i = 0; i < kNfsOps; ++i) {
            const NfsOpCounters& o = r.ops[i];
            if (o.count > 0) out.histogram(o.time_ns_hist, kNs, as_double(o.time_ns) * kNs, {op_name(i)});
          }
        }),
    per_nfs_mount(
        {"cgscope_nfs_operation_errors_total", kCounter, "errors", kCgroup,
         {"mount", "export", "op", "error"}, "nfs",
         "NFS client operations that failed, by op and error (ENOENT, ESTALE, EIO, EACCES, EBUSY, other)."},
        [](const auto& r, const Rows& out) {
          for (std::size_t i = 0; i < kNfsOps; ++i) {
            for (std::size_t e = 0; e < kNfsErrors; ++e) {
              const std::uint64_t n = r.ops[i].errors[e];
              if (n > 0) out.value(as_double(n), {op_name(i), kNfsErrorNames[e]});
            }
          }
        }),
    per_nfs_mount(
        {"cgscope_nfs_stall_seconds_total", kCounter, "seconds", kCgroup, kNfsMount, "nfs",
         "Time the cgroup's tasks waited for the NFS client: every op but the asynchronous commit, read "
         "and write RPCs."},
        [](const auto& r, const Rows& out) { out.value(as_double(stall_ns(r)) * kNs); }),
    per_nfs_mount(
        {"cgscope_nfs_bytes_total", kCounter, "bytes", kCgroup, {"mount", "export", "direction"}, "nfs",
         "Bytes of the cgroup's READ and WRITE RPCs; direction=read or write."},
        [](const auto& r, const Rows& out) {
          out.value(as_double(r.read_bytes), {"read"});
          out.value(as_double(r.write_bytes), {"write"});
        }),
    per_nfs_mount(
        {"cgscope_nfs_dirtied_pages_total", kCounter, "pages", kCgroup, kNfsMount, "nfs",
         "Page-cache pages of NFS files the cgroup dirtied."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.dirtied_pages)); }),
    per_nfs_mount(
        {"cgscope_nfs_invalidated_pages_total", kCounter, "pages", kCgroup, kNfsMount, "nfs",
         "Cached pages dropped when the cgroup's tasks found a file's data cache invalid."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.invalidated_pages)); }),
    per_nfs_mount(
        {"cgscope_nfs_not_found_lookups_total", kCounter, "lookups", kCgroup, kNfsMount, "nfs",
         "LOOKUPs the server answered with no such name (each leaves a negative dentry)."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.lookup_negative)); }),
    per_nfs_mount(
        {"cgscope_nfs_negative_dentry_hits_total", kCounter, "hits", kCgroup,
         {"mount", "export", "result"}, "nfs",
         "Lookups that found a cached negative dentry; result=trusted (ENOENT without asking the server) or "
         "rejected (looked up again)."},
        [](const auto& r, const Rows& out) {
          out.value(as_double(r.negative_trusted), {"trusted"});
          out.value(as_double(r.negative_rejected), {"rejected"});
        }),
    per_nfs_mount(
        {"cgscope_nfs_stale_negative_dentry_hits_total", kCounter, "hits", kCgroup, kNfsMount, "nfs",
         "Trusted negative dentries of names another cgroup had created: a wrong ENOENT (fix: "
         "lookupcache=positive)."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.negative_stale)); }),
    per_nfs_mount(
        {"cgscope_nfs_silly_renames_total", kCounter, "renames", kCgroup, kNfsMount, "nfs",
         "Unlinks of open files, renamed to .nfsXXXX until closed."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.silly_renames)); }),
    // ---- NFS, per cgroup and RPC procedure (eBPF) ----
    per_rpc(
        {"cgscope_nfs_rpcs_total", kCounter, "rpcs", kCgroup, kRpc, "nfs",
         "RPCs the cgroup started, by program (nfs, nlockmgr, ...), version and procedure; not split by "
         "mount."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.count)); }),
    per_rpc(
        {"cgscope_nfs_rpc_rtt_seconds", kHistogram, "seconds", kCgroup, kRpc, "nfs",
         "RPC round trip: from transmission until the reply arrived.", nullptr, nullptr, kUs},
        [](const auto& r, const Rows& out) {
          out.histogram(r.rtt_us_hist, kUs, as_double(r.rtt_us) * kUs);
        }),
    per_rpc(
        {"cgscope_nfs_rpc_execute_seconds", kHistogram, "seconds", kCgroup, kRpc, "nfs",
         "RPC execution: from the RPC's start (queueing included) until it completed.", nullptr, nullptr,
         kUs},
        [](const auto& r, const Rows& out) {
          out.histogram(r.execute_us_hist, kUs, as_double(r.execute_us) * kUs);
        }),
    per_rpc(
        {"cgscope_nfs_rpc_retransmits_total", kCounter, "retransmits", kCgroup, kRpc,
         "nfs", "RPC retransmissions (xprt_retransmit)."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.retransmits)); }),
    per_rpc(
        {"cgscope_nfs_rpc_major_timeouts_total", kCounter, "timeouts", kCgroup, kRpc,
         "nfs", "RPC major timeouts (rpc_timeout_status): the server did not answer within timeo x retrans."},
        [](const auto& r, const Rows& out) { out.value(as_double(r.timeouts)); }),
    // ---- NFS hazards of an interval (model/nfs_hazards.hpp): gauges of the interval only ----
    {"cgscope_nfs_shared_writer_read_files", kGauge, "files", kCgroup, kNfsMount, "nfs",
     "Files the cgroup read or revalidated in the interval while another cgroup wrote them: its reads may "
     "be stale within the attribute cache timeout (mount: the reader's). At most 64 files per interval.",
     nullptr,
     [](const Snapshot& s, MetricVisitor& v) {
       HazardCounts counts;
       for (const auto& h : s.nfs.shared_writers)
         for (const auto& r : h.readers) count_file(counts, s.nfs, r, h.export_name);
       emit(counts, v);
     }},
    {"cgscope_nfs_shared_writer_written_files", kGauge, "files", kCgroup, kNfsMount, "nfs",
     "Files the cgroup wrote in the interval while another cgroup read or revalidated them (the writer side "
     "of cgscope_nfs_shared_writer_read_files).",
     nullptr,
     [](const Snapshot& s, MetricVisitor& v) {
       HazardCounts counts;
       for (const auto& h : s.nfs.shared_writers)
         for (const auto& w : h.writers) count_file(counts, s.nfs, w, h.export_name);
       emit(counts, v);
     }},
    {"cgscope_nfs_negative_lookup_hazard_names", kGauge, "names", kCgroup, kNfsMount, "nfs",
     "Names another cgroup created that the cgroup was told, from its negative dentry cache, do not exist in "
     "the interval (mount: the victim's; fix: lookupcache=positive).",
     nullptr,
     [](const Snapshot& s, MetricVisitor& v) {
       HazardCounts counts;
       for (const auto& h : s.nfs.negative_lookups) {
         const MountLabels m = mount_labels(s.nfs.mounts, h.victim_dev, h.victim_sb_instance);
         counts[{h.victim_cgroup_id, m.mount, h.export_name}] += h.names;
       }
       emit(counts, v);
     }},
    {"cgscope_nfs_negative_lookups_visible", kGauge, "", kHost, {}, "nfs",
     "1 when this kernel lets cgscope see cached negative dentries (else the negative dentry and hazard "
     "names metrics are blind); absent while the NFS collector is not attached.",
     [](const Sample& s, MetricVisitor& v) {
       if (s.nfs.active) Rows(v, std::nullopt).value(flag(s.nfs.negative_lookups_visible));
     },
     [](const Snapshot& s, MetricVisitor& v) {
       if (s.nfs.active) Rows(v, std::nullopt).value(flag(s.nfs.negative_lookups_visible));
     }},
    // ---- NFS mounts (mountinfo) ----
    per_mount(
        {"cgscope_nfs_mount_info", kGauge, "", kHost,
         {"mount", "export", "fstype", "vers", "lookupcache", "close_to_open", "attribute_cache", "nconnect",
          "rsize", "wsize"},
         "nfs", "1 per NFS mount, with the options in force as labels (close_to_open=false: nocto, "
         "attribute_cache=false: noac; rsize/wsize empty when not shown)."},
        [](const NfsMount& m, const Rows& out) {
          const std::string nconnect = std::to_string(m.nconnect);
          const std::string rsize = m.rsize ? std::to_string(*m.rsize) : "";
          const std::string wsize = m.wsize ? std::to_string(*m.wsize) : "";
          out.value(1, {m.fstype, m.vers, m.lookupcache, m.close_to_open ? "true" : "false",
                        m.attribute_cache ? "true" : "false", nconnect, rsize, wsize});
        }),
    per_mount(
        {"cgscope_nfs_mount_attribute_cache_seconds", kGauge, "seconds", kHost, {"mount", "export", "kind"},
         "nfs", "Attribute cache timeouts of a mount with the kernel's defaults applied; kind=acregmin, "
         "acregmax, acdirmin or acdirmax (0 with noac)."},
        [](const NfsMount& m, const Rows& out) {
          out.value(m.acregmin_s, {"acregmin"});
          out.value(m.acregmax_s, {"acregmax"});
          out.value(m.acdirmin_s, {"acdirmin"});
          out.value(m.acdirmax_s, {"acdirmax"});
        }),
    // ---- NFS mounts (the client's own counters, /proc/self/mountstats) ----
    per_mountstats(
        {"cgscope_nfs_mountstats_age_seconds", kGauge, "seconds", kHost, kNfsMount, "nfs",
         "Time since the mount was made (mountstats age)."},
        [](const NfsMountStats& m, const Rows& out) { out.value(as_double(m.age_seconds)); }),
    per_mountstats(
        {"cgscope_nfs_mountstats_events_total", kCounter, "events", kHost, {"mount", "export", "event"},
         "nfs", "mountstats events: in node_exporter's names (inode_revalidate, dentry_revalidate, "
         "data_invalidate, vfs_open, vfs_fsync, silly_rename, ...)."},
        [](const NfsMountStats& m, const Rows& out) {
          for (const auto& [event, n] : m.events) out.value(as_double(n), {event});
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_bytes_total", kCounter, "bytes", kHost, {"mount", "export", "kind"}, "nfs",
         "mountstats bytes: kind=normal_read, normal_write, direct_read, direct_write, server_read or "
         "server_write."},
        [](const NfsMountStats& m, const Rows& out) {
          for (const auto& [kind, n] : m.bytes)
            if (!std::string_view(kind).ends_with("_pages")) out.value(as_double(n), {kind});
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_pages_total", kCounter, "pages", kHost, {"mount", "export", "kind"}, "nfs",
         "mountstats pages: kind=read_pages or write_pages."},
        [](const NfsMountStats& m, const Rows& out) {
          for (const auto& [kind, n] : m.bytes)
            if (std::string_view(kind).ends_with("_pages")) out.value(as_double(n), {kind});
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_operations_total", kCounter, "operations", kHost,
         {"mount", "export", "procedure"}, "nfs", "RPC operations of the mount by procedure."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.ops), {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_transmissions_total", kCounter, "transmissions", kHost,
         {"mount", "export", "procedure"}, "nfs", "RPC transmissions of the mount (more than "
         "operations when retransmitted)."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.transmissions), {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_major_timeouts_total", kCounter, "timeouts", kHost,
         {"mount", "export", "procedure"}, "nfs", "RPC major timeouts of the mount."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.major_timeouts), {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_operation_bytes_total", kCounter, "bytes", kHost,
         {"mount", "export", "procedure", "direction"}, "nfs",
         "Bytes of the mount's RPCs, headers included; direction=sent or received."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.bytes_sent), {p, "sent"});
            r.value(as_double(o.bytes_received), {p, "received"});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_queue_seconds_total", kCounter, "seconds", kHost,
         {"mount", "export", "procedure"}, "nfs", "Time the mount's RPCs waited to be transmitted."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.queue_ms) * kMs, {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_rtt_seconds_total", kCounter, "seconds", kHost,
         {"mount", "export", "procedure"}, "nfs", "Round-trip time of the mount's RPCs."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.rtt_ms) * kMs, {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_execute_seconds_total", kCounter, "seconds", kHost,
         {"mount", "export", "procedure"}, "nfs",
         "Time of the mount's RPCs from start to completion (queue and round trip included)."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.value(as_double(o.execute_ms) * kMs, {p});
          });
        }),
    per_mountstats(
        {"cgscope_nfs_mountstats_operation_errors_total", kCounter, "errors", kHost,
         {"mount", "export", "procedure"}, "nfs",
         "RPCs of the mount that returned an error (kernels that print it)."},
        [](const NfsMountStats& m, const Rows& out) {
          mountstats_ops(m, out, [](const std::string& p, const NfsMountOpStats& o, const Rows& r) {
            r.maybe(o.errors, 1, {p});
          });
        }),
    // ---- the collectors ----
    {"cgscope_collector_active", kGauge, "", kHost, {"collector"}, "all",
     "1 when the collector runs, 0 when it is off or could not start (cgscope snapshot says why).",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.collectors) Rows(v, std::nullopt, {c.name}).value(flag(c.active));
     },
     [](const Snapshot& s, MetricVisitor& v) {
       for (const auto& c : s.collectors) Rows(v, std::nullopt, {c.name}).value(flag(c.active));
     }},
    // Snapshot::collectors keeps the cumulative drops, not the interval's: no interval accessor.
    {"cgscope_collector_drops_total", kCounter, "drops", kHost, {"collector", "reason"}, "all",
     "Events, rows or cgroups a collector could not record or read (full map, no memory, unreadable file, "
     "...), by reason (docs/collectors.md).",
     [](const Sample& s, MetricVisitor& v) {
       for (const auto& c : s.collectors)
         for (const auto& [reason, n] : c.drops) Rows(v, std::nullopt).value(as_double(n), {c.name, reason});
     }},
};
// clang-format on

}  // namespace

double MetricHistogram::upper_bound(std::size_t bucket) const {
  if (bucket + 1 >= kLog2Buckets) return std::numeric_limits<double>::infinity();
  return static_cast<double>(Log2Histogram::bucket_upper(bucket)) * scale;
}

std::span<const MetricDescriptor> metrics() { return kTable; }

const MetricDescriptor* find_metric(std::string_view name) {
  for (const auto& d : kTable)
    if (d.name == name) return &d;
  return nullptr;
}

double per_second(double increase, const Snapshot& interval) {
  const double seconds = interval.interval_seconds();
  return seconds > 0 ? increase / seconds : 0;
}

std::string_view to_string(MetricKind kind) {
  switch (kind) {
    case MetricKind::kCounter: return "counter";
    case MetricKind::kGauge: return "gauge";
    case MetricKind::kHistogram: return "histogram";
  }
  return "?";
}

std::string_view to_string(MetricScope scope) {
  switch (scope) {
    case MetricScope::kCgroup: return "cgroup";
    case MetricScope::kHost: return "host";
  }
  return "?";
}

}  // namespace cgscope::model
