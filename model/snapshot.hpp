// Raw cumulative samples (what collectors read) and Snapshots (one derived interval).
// Collectors fill Samples; model::derive() turns two Samples into a Snapshot, the one place
// where rates and deltas are computed (sinks never subtract counters themselves).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/cgroup_identity.hpp"
#include "model/histogram.hpp"
#include "model/io.hpp"
#include "model/memory.hpp"
#include "model/nfs.hpp"
#include "model/pressure.hpp"

namespace cgscope::model {

// Run-queue waits of a cgroup's tasks charged to the cgroup that held the CPU when the wait
// began: the task that preempted it, or the task running on its CPU when it was woken. The
// victim's own id: behind its own tasks; 0: the CPU was idle or the holder is unknown;
// kRunDelayHolderThrottled: its run queue was throttled (the wait is throttled time).
struct RunDelayBlame {
  std::uint64_t cgroup_id = 0;
  std::uint64_t wait_ns = 0;
  std::uint64_t waits = 0;
  bool operator==(const RunDelayBlame&) const = default;
};

// The holder of waits that began because the task's run queue was throttled by its CPU quota
// (no cgroup id: ids are inode numbers, far below it).
inline constexpr std::uint64_t kRunDelayHolderThrottled = ~std::uint64_t{0} - 1;

// Cumulative counters from the eBPF CPU collector (monotonic while the collector runs).
struct CpuBpfCounters {
  std::uint64_t on_cpu_ns = 0;
  std::uint64_t voluntary_switches = 0;    // left the CPU to block
  std::uint64_t involuntary_switches = 0;  // preempted while runnable
  std::uint64_t migrations = 0;            // ran on a different CPU than the last time
  std::uint64_t wakeup_delay_ns_sum = 0;   // wakeup -> run
  std::uint64_t preempt_delay_ns_sum = 0;  // preempted -> run again
  Log2Histogram wakeup_delay_ns;
  Log2Histogram preempt_delay_ns;
  std::uint64_t iowait_ns = 0;     // off-CPU blocked in I/O wait (in_iowait)
  std::uint64_t iowait_count = 0;  // such sleeps that ended
  // Who the waits were behind (the kernel keeps a bounded top-K of holders per victim): sorted
  // by cgroup_id; waits behind holders beyond the top-K are counted, unnamed, in the overflow.
  std::vector<RunDelayBlame> blame;
  std::uint64_t blame_overflow_ns = 0, blame_overflow_waits = 0;
  bool operator==(const CpuBpfCounters&) const = default;
};

// cpu.stat (v2) or cpuacct.usage* + cpu.stat (v1); cumulative, in microseconds.
struct CpuStat {
  std::optional<std::uint64_t> usage_usec;
  std::optional<std::uint64_t> user_usec;
  std::optional<std::uint64_t> system_usec;
  std::optional<std::uint64_t> nr_periods;
  std::optional<std::uint64_t> nr_throttled;
  std::optional<std::uint64_t> throttled_usec;
  bool operator==(const CpuStat&) const = default;
};

// Current knob values. quota: nullopt = unlimited ("max" / -1).
struct CpuKnobs {
  std::optional<std::int64_t> quota_usec;
  std::optional<std::uint64_t> period_usec;
  std::optional<std::uint64_t> weight;  // v2 cpu.weight (1..10000)
  std::optional<std::uint64_t> shares;  // v1 cpu.shares (2..262144)
  std::string cpuset_cpus;              // effective cpus, "" if unknown
  bool quota_known = false;             // a quota file was read (distinguishes "max" from unknown)
  bool operator==(const CpuKnobs&) const = default;
};

// CPU demand per short slot (100 ms by default): the CPU time the cgroup used plus the time its
// run queues were throttled (cpu.stat usage + throttled time over the slot, both summed over
// CPUs), in hundredths of a CPU: what the cgroup would have run without its quota. Read by the
// cgroupfs collector's demand sampler for cgroups with a CPU quota only. Cumulative.
struct CpuDemandBucket {
  std::uint32_t centi_cpus = 0;  // demand in [centi_cpus, centi_cpus + 1) / 100 CPUs
  std::uint64_t slots = 0;       // slots with that demand
  bool operator==(const CpuDemandBucket&) const = default;
};
struct CpuDemand {
  std::uint64_t slot_ns = 0;             // 0: not sampled
  std::vector<CpuDemandBucket> buckets;  // sorted by centi_cpus
  std::uint64_t missed_slots = 0;        // slots not measured (sampler late, file unreadable)
  bool operator==(const CpuDemand&) const = default;
};

struct CgroupSample {
  CgroupIdentity identity;
  bool removed = false;  // the cgroup vanished: last eBPF values only, no cgroupfs data
  std::optional<CpuBpfCounters> cpu_bpf;  // nullopt: the eBPF collector saw nothing / is off
  CpuStat cpu_stat;
  CpuKnobs cpu_knobs;
  Pressure cpu_pressure;
  CpuDemand cpu_demand;
  // I/O
  std::optional<IoBpfCounters> io_bpf;  // nullopt: the I/O collector saw nothing / is off
  std::vector<IoStatDevice> io_stat;
  IoKnobs io_knobs;
  Pressure io_pressure;
  // memory
  std::optional<MemoryBpfCounters> memory_bpf;
  MemoryStat memory_stat;
  MemoryKnobs memory_knobs;
  MemoryEvents memory_events;
  Pressure memory_pressure;
  bool operator==(const CgroupSample&) const = default;
};

// What a collector did, including what it lost. Never hide a drop: count it here.
struct CollectorStatus {
  std::string name;
  bool active = false;
  std::string message;                          // why inactive / degraded, and what to do
  std::map<std::string, std::uint64_t> drops;   // cumulative, by reason
  bool operator==(const CollectorStatus&) const = default;
};

// The page size of hosts that did not say (recordings of cgscope before codec version 3).
inline constexpr std::uint32_t kDefaultPageSize = 4096;

struct Sample {
  std::uint64_t monotonic_ns = 0;  // CLOCK_MONOTONIC (same clock as bpf_ktime_get_ns)
  std::int64_t realtime_ns = 0;    // wall clock, for display and recordings
  int nr_cpus = 0;
  std::uint32_t page_size = 0;  // bytes; 0 = unknown (kDefaultPageSize is assumed)
  std::vector<CgroupSample> cgroups;
  std::vector<CollectorStatus> collectors;
  NfsSample nfs;  // host-wide: per (cgroup, NFS mount), RPCs, shared files, stale names
  bool operator==(const Sample&) const = default;
};

// One cgroup over one interval: deltas, rates and interval histograms.
struct CgroupInterval {
  CgroupIdentity identity;
  bool is_new = false;   // not present at the start of the interval (values cover part of it)
  bool removed = false;  // vanished during the interval: these are its last values
  // eBPF
  bool has_bpf = false;
  double cpu_percent = 0;  // on-CPU time / interval, 100 = one full CPU
  std::uint64_t on_cpu_ns = 0;
  std::uint64_t voluntary_switches = 0, involuntary_switches = 0, migrations = 0;
  Log2Histogram wakeup_delay_ns, preempt_delay_ns, run_delay_ns;  // run = wakeup + preempt
  std::uint64_t run_delay_ns_sum = 0;
  std::vector<RunDelayBlame> run_delay_blame;  // deltas, rows with waits only, by cgroup_id
  std::uint64_t run_delay_blame_overflow_ns = 0, run_delay_blame_overflow_waits = 0;
  // cgroupfs
  std::optional<double> cpu_percent_cgroupfs;  // from cpu.stat usage / cpuacct.usage
  std::optional<std::uint64_t> usage_usec;
  std::optional<std::uint64_t> nr_periods, nr_throttled, throttled_usec;
  std::optional<double> throttled_percent;  // throttled periods / periods * 100
  CpuKnobs cpu_knobs;
  Pressure cpu_pressure;  // gauges as read at the end of the interval
  std::optional<std::uint64_t> cpu_pressure_some_usec;  // stall time in this interval
  std::uint64_t cpu_demand_slot_ns = 0;          // 0: demand not sampled
  std::vector<CpuDemandBucket> cpu_demand;       // slots of this interval, by demand
  std::uint64_t cpu_demand_missed_slots = 0;
  IoInterval io;
  MemoryInterval memory;
};

struct Snapshot {
  std::uint64_t start_monotonic_ns = 0, end_monotonic_ns = 0;
  std::int64_t start_realtime_ns = 0, end_realtime_ns = 0;
  int nr_cpus = 0;
  std::uint32_t page_size = kDefaultPageSize;
  std::vector<CgroupInterval> cgroups;
  std::vector<CollectorStatus> collectors;
  NfsInterval nfs;

  double interval_seconds() const { return (end_monotonic_ns - start_monotonic_ns) / 1e9; }
};

Snapshot derive(const Sample& prev, const Sample& curr);
// The same into `out`, reusing its storage (identities' strings, vectors): what a stream of
// intervals does, without allocating for every row of every interval.
void derive(const Sample& prev, const Sample& curr, Snapshot& out);

// What the numbers of an interval mean, in one place (every sink and analyzer asks here).
// CPU use, 100 = one CPU: eBPF on-CPU time where the CPU collector saw the cgroup, else the
// kernel's own usage (cpu.stat / cpuacct.usage).
double cpu_percent(const CgroupInterval& cg);
// Block I/O bytes read + written: eBPF where the I/O collector saw the cgroup, else io.stat.
double io_bytes(const CgroupInterval& cg);
// Time stalled in reclaim, direct and memcg.
std::uint64_t reclaim_ns(const CgroupInterval& cg);
// Anything to show in the interval: CPU >= 0.05%, throttling, run-queue waits, I/O, I/O wait,
// reclaim, OOM kills, page-cache use, or the cgroup vanished.
bool is_active(const CgroupInterval& cg);

}  // namespace cgscope::model
