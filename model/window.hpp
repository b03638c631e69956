// The history window: the last N intervals of every cgroup as series of scalar metrics and
// per-interval histograms, for the analyzers (lost time per cgroup over a range), the exporter,
// the report (series per top cgroup, heat maps) and the dashboard (cgroup tree table, series,
// heat maps, timeline). Every number a front-end shows over a range comes from here: values
// per interval, min/max/sum/mean over any range, top-N, merged histograms.
//
// Fed by run_stream (Window is a SnapshotSink) from live data or a recording, or by append().
//
// Time axis. Each appended interval gets a global index 0, 1, 2, ... that never changes; the
// window holds [begin_index, end_index). Queries take an IntervalRange of those indices (ranges
// reaching outside the window are clipped to it); resolve() turns a monotonic time range into
// one. Bounds: at most max_intervals intervals, and (if max_age_ns > 0) none that ended
// max_age_ns or more before the newest one ended. Eviction is exact: an evicted interval is
// never part of a query result, and a cgroup whose last interval was evicted is gone.
//
// Storage (model/window_chunk.hpp). Per cgroup, chunks of kWindowChunkIntervals = 64 intervals
// aligned to the global index (chunk k holds intervals [64k, 64k+64)); a cgroup has chunks only
// from its first interval on. A chunk holds:
//   - a presence mask (bit s: the cgroup was in interval 64k+s);
//   - per series (kSeriesCount = 30) a column: count/min/max/sum of its values (24 bytes) and
//     either one constant (every value so far equal: idle cgroups, metrics stuck at 0 or
//     unknown) or, once two values differ, 64 floats in the chunk's dense pool;
//   - the non-empty histograms of its intervals, varint-coded: [slot][kind][lowest bucket]
//     [bucket count n] then n LEB128 counts (a 2-bucket histogram takes 6 bytes, a busy one
//     with 16 buckets of hundreds ~36; empty ones take nothing). Records of the same framing
//     (n LEB128 numbers) hold the interval's run-delay blame (holder, ns, waits) and CPU
//     demand slots (missed, slot us, then (centi-CPUs, slots) pairs), where there are any.
// Values are float (24-bit mantissa: 6e-8 relative, e.g. 1 GiB of memory.current to 64 bytes;
// far below what the collectors measure) and sums are double. Absent (the cgroup was not in the
// interval, or the metric is unknown for it, e.g. no eBPF) is NaN, never 0.
//
// Memory arithmetic (1000 cgroups, 600 intervals of 1 s): a 600-interval window touches at most
// ceil(600/64) + 1 = 11 chunks per cgroup (the oldest one partly evicted, the newest partly
// filled). A chunk costs 8 + 24 x 24 + 2 x 24 = 632 bytes of columns and vectors (7 MB for
// 11 x 1000), plus 256 bytes per non-constant column (64 floats) and its histogram bytes. All
// columns dense in all cgroups: 11 x 1000 x 24 x 256 = 67.6 MB (doubles would take 135 MB).
// Measured (bench/window_bench.cpp, docs/performance.md "History window"): 26.7 MiB for a mix
// of idle, active and busy cgroups, 87.9 MiB with every cgroup busy. Chunks the window has
// left are freed over the next 16 appends (all at once doubled the time of that append).
//
// NFS (model/window_nfs.hpp). The NFS part of each interval is kept apart from the cgroups, for
// the NFS rules: its numbers as varints in one byte string per interval (the (cgroup, mount)
// rows with only the operations that have a count, a time or an error, and no histograms), its
// mounts and the names of their mountstats counters once for all the consecutive intervals in
// which they stay the same; an inactive interval takes nothing but its place. nfs(range)
// gives a list that rebuilds NfsIntervals from that one at a time, when asked for them. The
// hour of bench/advise_replay.sh (3600 intervals of an NFS host with 4 mounts, 20 (cgroup,
// mount) rows and 50 files, 5 rows and 5 files active in each interval) takes 8.0 MiB so,
// 2.3 KB per interval, where whole NfsIntervals took 425 MiB (a row alone is 9.3 KB: 16
// operations with a 512-byte histogram each).
//
// Queries cost O(chunks) per cgroup and series: a chunk wholly inside the range answers from
// its column aggregates, only the (at most two) chunks cut by the range edges are scanned.
//
// Not synchronized: one thread appends; a reader on another thread needs the writer's lock.
// Pointers to identities in results stay valid until the next append().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/cgroup_identity.hpp"
#include "model/histogram.hpp"
#include "model/result.hpp"
#include "model/snapshot.hpp"
#include "model/stream.hpp"
#include "model/window_nfs.hpp"

namespace cgscope::model {
namespace window_detail {
struct Chunk;  // model/window_chunk.hpp
}  // namespace window_detail

// ---- what is stored ----

// The scalar series of a cgroup, one value per interval. Adding one: a value here, its line in
// kSeriesDescriptors, and its extraction in window.cpp (kExtractors).
enum class Series : std::uint8_t {
  kCpuPercent,
  kThrottledPercent,
  kThrottledSeconds,
  kRunDelaySeconds,
  kRunDelayP50Seconds,
  kRunDelayP99Seconds,
  kCpuPressureSeconds,
  kIoReadBytesPerSecond,
  kIoWriteBytesPerSecond,
  kIoReadOpsPerSecond,
  kIoWriteOpsPerSecond,
  kIoLatencyP50Seconds,
  kIoLatencyP99Seconds,
  kIoWaitSeconds,
  kDirtyThrottleSeconds,
  kIoPressureSomeSeconds,
  kIoPressureFullSeconds,
  kReclaimSeconds,
  kPageCacheHitRatio,
  kMemoryCurrentBytes,
  kOomKills,
  kMemoryPressureSomeSeconds,
  kMemoryPressureFullSeconds,
  kNfsStallSeconds,
  kCpuQuotaCores,
  kMemoryWorkingSetBytes,
  kMemoryHighEvents,
  kMemoryMaxEvents,
  kMemoryRefaults,
  kDirectReclaimSeconds,
};
inline constexpr std::size_t kSeriesCount = 30;

// What a value of the series is, which says which statistic over a range means something.
enum class SeriesKind : std::uint8_t {
  kTime,   // seconds spent (stalled, waiting) in the interval: the sum over a range is the total
  kCount,  // events in the interval: the sum is the total
  kRate,   // per second (CPU %, bytes/s): the mean is the average rate, max the peak
  kLevel,  // a percentile, ratio or gauge: mean, min and max; the sum means nothing
};

struct SeriesDescriptor {
  Series series;
  std::string_view name;   // snake_case, unit in the name
  std::string_view label;  // short column header
  std::string_view unit;   // "percent", "seconds", "bytes_per_second", ...
  SeriesKind kind;
  std::string_view help;  // what it is, when it is absent
};

inline constexpr std::array<SeriesDescriptor, kSeriesCount> kSeriesDescriptors = {{
    {Series::kCpuPercent, "cpu_percent", "CPU%", "percent", SeriesKind::kRate,
     "CPU use, 100 = one CPU (model::cpu_percent: eBPF on-CPU time, else cpu.stat)."},
    {Series::kThrottledPercent, "throttled_percent", "THR%", "percent", SeriesKind::kLevel,
     "CFS periods throttled by the CPU quota; absent without cpu.stat periods."},
    {Series::kThrottledSeconds, "throttled_seconds", "THR", "seconds", SeriesKind::kTime,
     "Time throttled by the CPU quota (cpu.stat throttled_usec)."},
    {Series::kRunDelaySeconds, "run_delay_seconds", "RQ", "seconds", SeriesKind::kTime,
     "Time runnable tasks waited for a CPU (wakeup and preemption); absent without eBPF."},
    {Series::kRunDelayP50Seconds, "run_delay_p50_seconds", "RQ p50", "seconds", SeriesKind::kLevel,
     "Median run-queue wait; absent without eBPF or when nothing waited."},
    {Series::kRunDelayP99Seconds, "run_delay_p99_seconds", "RQ p99", "seconds", SeriesKind::kLevel,
     "99th percentile run-queue wait; absent without eBPF or when nothing waited."},
    {Series::kCpuPressureSeconds, "cpu_pressure_seconds", "PSI cpu", "seconds", SeriesKind::kTime,
     "PSI cpu some: time some task waited for a CPU."},
    {Series::kIoReadBytesPerSecond, "io_read_bytes_per_second", "READ/s", "bytes_per_second",
     SeriesKind::kRate, "Block bytes read (eBPF, else io.stat)."},
    {Series::kIoWriteBytesPerSecond, "io_write_bytes_per_second", "WRITE/s", "bytes_per_second",
     SeriesKind::kRate, "Block bytes written (eBPF, else io.stat)."},
    {Series::kIoReadOpsPerSecond, "io_read_ops_per_second", "RIOPS", "ops_per_second", SeriesKind::kRate,
     "Block read requests (eBPF, else io.stat)."},
    {Series::kIoWriteOpsPerSecond, "io_write_ops_per_second", "WIOPS", "ops_per_second", SeriesKind::kRate,
     "Block write requests (eBPF, else io.stat)."},
    {Series::kIoLatencyP50Seconds, "io_latency_p50_seconds", "IO p50", "seconds", SeriesKind::kLevel,
     "Median block request latency, reads and writes; absent without eBPF or requests."},
    {Series::kIoLatencyP99Seconds, "io_latency_p99_seconds", "IO p99", "seconds", SeriesKind::kLevel,
     "99th percentile block request latency, reads and writes; absent without eBPF or requests."},
    {Series::kIoWaitSeconds, "io_wait_seconds", "IOWAIT", "seconds", SeriesKind::kTime,
     "Time off CPU blocked in I/O wait; absent without the eBPF CPU collector."},
    {Series::kDirtyThrottleSeconds, "dirty_throttle_seconds", "DIRTY", "seconds", SeriesKind::kTime,
     "Writers paused by balance_dirty_pages; absent without the eBPF I/O collector."},
    {Series::kIoPressureSomeSeconds, "io_pressure_some_seconds", "PSI io", "seconds", SeriesKind::kTime,
     "PSI io some: time some task stalled on I/O."},
    {Series::kIoPressureFullSeconds, "io_pressure_full_seconds", "PSI io full", "seconds", SeriesKind::kTime,
     "PSI io full: time all tasks stalled on I/O."},
    {Series::kReclaimSeconds, "reclaim_seconds", "RECL", "seconds", SeriesKind::kTime,
     "Time stalled in direct and memcg reclaim; absent without the eBPF memory collector."},
    {Series::kPageCacheHitRatio, "page_cache_hit_ratio", "HIT", "ratio", SeriesKind::kLevel,
     "Pages read from the page cache / pages read (0..1); absent when nothing was read."},
    {Series::kMemoryCurrentBytes, "memory_current_bytes", "MEM", "bytes", SeriesKind::kLevel,
     "memory.current (v1: memory.usage_in_bytes) at the end of the interval."},
    {Series::kOomKills, "oom_kills", "OOM", "kills", SeriesKind::kCount,
     "Tasks chosen as OOM victims (eBPF, else memory.events oom_kill)."},
    {Series::kMemoryPressureSomeSeconds, "memory_pressure_some_seconds", "PSI mem", "seconds",
     SeriesKind::kTime, "PSI memory some: time some task stalled on memory."},
    {Series::kMemoryPressureFullSeconds, "memory_pressure_full_seconds", "PSI mem full", "seconds",
     SeriesKind::kTime, "PSI memory full: time all tasks stalled on memory."},
    {Series::kNfsStallSeconds, "nfs_stall_seconds", "NFS", "seconds", SeriesKind::kTime,
     "Time waiting in NFS client operations (revalidation, getattr, open, fsync, ...) on every "
     "mount; absent when the NFS collector is not attached."},
    {Series::kCpuQuotaCores, "cpu_quota_cores", "QUOTA", "cores", SeriesKind::kLevel,
     "CPU quota / period at the end of the interval; absent when unlimited or unknown."},
    {Series::kMemoryWorkingSetBytes, "memory_working_set_bytes", "WSET", "bytes", SeriesKind::kLevel,
     "memory.current minus inactive file pages (what cAdvisor calls the working set); memory.current "
     "when memory.stat has no inactive_file."},
    {Series::kMemoryHighEvents, "memory_high_events", "HIGH", "events", SeriesKind::kCount,
     "memory.events high: times the cgroup went over memory.high and was throttled into reclaim."},
    {Series::kMemoryMaxEvents, "memory_max_events", "MAX", "events", SeriesKind::kCount,
     "memory.events max (v1: failcnt): times the cgroup hit memory.max and reclaimed to stay under it."},
    {Series::kMemoryRefaults, "memory_refaults", "REFAULT", "refaults", SeriesKind::kCount,
     "Pages read back soon after reclaim evicted them (memory.stat workingset_refault_anon + _file): "
     "the working set does not fit."},
    {Series::kDirectReclaimSeconds, "direct_reclaim_seconds", "DIRECT", "seconds", SeriesKind::kTime,
     "The part of reclaim_seconds in direct reclaim: the host, not the cgroup's limit, ran low."},
}};

constexpr const SeriesDescriptor& descriptor(Series s) {
  return kSeriesDescriptors[static_cast<std::size_t>(s)];
}
// The series whose sum is time the cgroup's tasks lost, each for one reason (the analyzers'
// "where did the time go"); PSI overlaps them and is left out.
inline constexpr std::array kLostTimeSeries = {Series::kThrottledSeconds, Series::kRunDelaySeconds,
                                               Series::kIoWaitSeconds,    Series::kDirtyThrottleSeconds,
                                               Series::kReclaimSeconds,   Series::kNfsStallSeconds};

// Histograms kept per interval (heat maps). Empty in an interval = nothing to show.
enum class HistogramSeries : std::uint8_t { kRunDelay, kIoLatency, kReclaimStall, kNfsLatency };
inline constexpr std::size_t kHistogramSeriesCount = 4;

struct HistogramDescriptor {
  HistogramSeries histogram;
  std::string_view name;
  std::string_view label;
  std::string_view help;  // buckets are log2 nanoseconds (Log2Histogram)
};

inline constexpr std::array<HistogramDescriptor, kHistogramSeriesCount> kHistogramDescriptors = {{
    {HistogramSeries::kRunDelay, "run_delay", "run-queue delay",
     "Each wait for a CPU (wakeup and preemption)."},
    {HistogramSeries::kIoLatency, "io_latency", "block I/O latency",
     "Each block read and write, issue to completion."},
    {HistogramSeries::kReclaimStall, "reclaim_stall", "reclaim stall", "Each direct or memcg reclaim stall."},
    {HistogramSeries::kNfsLatency, "nfs_latency", "NFS wait",
     "Each NFS client operation a task waits for, on every mount (the operations of nfs_stall_seconds)."},
}};

constexpr const HistogramDescriptor& descriptor(HistogramSeries h) {
  return kHistogramDescriptors[static_cast<std::size_t>(h)];
}

inline constexpr std::size_t kWindowChunkIntervals = 64;

// ---- ranges and results ----

// Global interval indices [begin, end).
struct IntervalRange {
  std::uint64_t begin = 0, end = 0;
  std::uint64_t size() const { return end > begin ? end - begin : 0; }
  bool empty() const { return end <= begin; }
  bool contains(std::uint64_t index) const { return index >= begin && index < end; }
  bool operator==(const IntervalRange&) const = default;
};

// CLOCK_MONOTONIC nanoseconds [from_ns, to_ns): selects the intervals that overlap it.
struct TimeRange {
  std::uint64_t from_ns = 0;
  std::uint64_t to_ns = std::numeric_limits<std::uint64_t>::max();
};

struct IntervalInfo {
  std::uint64_t index = 0;
  std::uint64_t start_monotonic_ns = 0, end_monotonic_ns = 0;
  std::int64_t start_realtime_ns = 0, end_realtime_ns = 0;
  int nr_cpus = 0;
  std::uint32_t cgroups = 0;  // in the snapshot
  double seconds() const { return static_cast<double>(end_monotonic_ns - start_monotonic_ns) / 1e9; }
};

// Statistics of the values present in a range (absent ones are not counted).
struct SeriesStats {
  std::uint32_t count = 0;
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  double mean() const { return count ? sum / count : std::numeric_limits<double>::quiet_NaN(); }
  void add(double value);
  void merge(const SeriesStats& other);
};

struct SeriesValues {
  IntervalRange range;        // clipped to the window: values[i] is interval range.begin + i
  std::vector<float> values;  // NaN: absent
  SeriesStats stats;
};

enum class Statistic : std::uint8_t { kSum, kMean, kMin, kMax };
double value_of(const SeriesStats& stats, Statistic statistic);

enum class Order : std::uint8_t { kHighest, kLowest };

struct TopQuery {
  Series series = Series::kCpuPercent;
  Statistic by = Statistic::kSum;
  std::size_t n = 20;
  Order order = Order::kHighest;
};

struct RankedCgroup {
  std::uint64_t id = 0;
  const CgroupIdentity* identity = nullptr;  // valid until the next append
  double value = 0;                          // the statistic ranked by
  SeriesStats stats;
};

struct CgroupSummary {
  std::uint64_t id = 0;
  const CgroupIdentity* identity = nullptr;       // valid until the next append
  std::uint64_t first_index = 0, last_index = 0;  // first and last interval present, in the window
  std::uint32_t intervals = 0;                    // intervals present in the range
  bool removed = false;                           // vanished in its last interval
  std::array<SeriesStats, kSeriesCount> stats;    // over the range
  const SeriesStats& operator[](Series s) const { return stats[static_cast<std::size_t>(s)]; }
};

// The cgroup hierarchy (slice > pod > container is the path hierarchy) of the cgroups of a
// range, in pre-order: a node's subtree is nodes [index, subtree_end), so a collapsed row skips
// to subtree_end. Children are sorted by name, then id. Path prefixes without a cgroup of their
// own in the range (a parent the window has no interval of) are nodes without a summary, so
// that every cgroup sits under its real parent. Cgroups known only by id ("cgroup#ID") and the
// [kernel I/O] bucket hang off the root. Two cgroups with one path (a unit restarted with a
// new id): the one seen last owns the node and its children, the other is a leaf beside it.
// Parents' statistics are their own cgroup's (cgroupfs counters include the children, eBPF
// counters do not), never sums over children.
struct CgroupTreeNode {
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::string path;             // "/" for the root
  std::string name;             // last path component; the display name if no path
  std::size_t summary = kNone;  // index into CgroupTree::cgroups; kNone: a path prefix only
  std::size_t parent = kNone;
  std::size_t subtree_end = 0;
  std::uint32_t depth = 0;
  std::vector<std::size_t> children;
};

struct CgroupTree {
  std::vector<CgroupSummary> cgroups;  // as Window::cgroups() gives them
  std::vector<CgroupTreeNode> nodes;   // nodes[0] is the root "/"
  const CgroupSummary* summary(const CgroupTreeNode& node) const {
    return node.summary == CgroupTreeNode::kNone ? nullptr : &cgroups[node.summary];
  }
};

// The tree of a Window::cgroups() result (a dashboard that has it already builds the tree
// without a second pass over the window).
CgroupTree build_cgroup_tree(std::vector<CgroupSummary> cgroups);

// Run-queue waits of a cgroup over a range by the cgroup that held the CPU when each began.
struct BlameTotals {
  std::vector<RunDelayBlame> holders;  // most wait first; cgroup_id 0: idle / unknown
  std::uint64_t overflow_ns = 0, overflow_waits = 0;  // beyond the kernel's top-K: unnamed
  std::uint64_t total_ns() const;
};

// CPU demand slots of a cgroup over a range (CgroupSample::cpu_demand).
struct DemandDistribution {
  std::uint64_t slot_ns = 0;              // the sampler's slot; 0: never sampled in the range
  std::vector<CpuDemandBucket> buckets;   // by centi_cpus
  std::uint64_t slots = 0, missed_slots = 0;
  // Demand in CPUs that a fraction q of the slots did not exceed (the upper edge of the
  // hundredth it falls in); 0 without slots.
  double percentile(double q) const;
  double max() const { return percentile(1.0); }
};

// What a cgroup reported last (its last interval in the window): knobs and gauges that advice
// starts from.
struct CgroupState {
  std::uint64_t index = 0;  // the interval it is from
  CpuKnobs cpu;
  MemoryKnobs memory;
  MemoryStat memory_stat;  // gauges
  IoKnobs io;
  // Disks the cgroup used in its last interval with block I/O, by bytes: the device a finding
  // about its I/O names.
  struct Disk {
    std::uint32_t dev = 0;
    std::uint64_t bytes = 0, requests = 0;
  };
  std::vector<Disk> disks;
};

class Window;

// The NFS part of the intervals of a range (Window::nfs): nfs[k] is interval range.begin + k,
// rebuilt from the window's compact form when it is asked for (about 9.3 KB per (cgroup,
// mount) row plus the mounts and mountstats maps; the hour of bench/advise_replay.sh is 421 MiB
// rebuilt whole, so the list never holds more than kCached intervals).
//
// How long a pointer stays valid: the list keeps the last kCached intervals it rebuilt and
// overwrites the one rebuilt longest ago. So p = nfs[k] stays valid while the list lives (not
// a copy of it, nor a list it was moved to) and at most kCached - 1 accesses to other
// intervals are made after it: enough to hold intervals k - 1 and k together, never enough to
// keep pointers across a loop over the range (keep indexes, and ask again). Asking for k again
// while it is cached rebuilds nothing. Inactive intervals share one empty interval, valid while
// the list lives. Iteration gives nfs[k] for each k in turn, so `*it` follows the same rule.
//
// The list reads the window: the window must outlive it and still hold its intervals (an
// append that evicts them leaves those intervals inactive). Const access changes the cache: a
// list is not for several threads at once (each takes its own).
class NfsIntervals {
 public:
  static constexpr std::size_t kCached = 4;

  class const_iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = const NfsInterval*;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = const NfsInterval*;

    const_iterator() = default;
    const NfsInterval* operator*() const { return (*list_)[k_]; }
    const_iterator& operator++() {
      ++k_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator before = *this;
      ++k_;
      return before;
    }
    bool operator==(const const_iterator& o) const { return k_ == o.k_; }

   private:
    friend class NfsIntervals;
    const_iterator(const NfsIntervals* list, std::size_t k) : list_(list), k_(k) {}
    const NfsIntervals* list_ = nullptr;
    std::size_t k_ = 0;
  };
  using value_type = const NfsInterval*;

  NfsIntervals() = default;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Interval range.begin + k (k < size()), valid as above.
  const NfsInterval* operator[](std::size_t k) const;
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

 private:
  friend class Window;
  struct Slot {
    std::size_t k = static_cast<std::size_t>(-1);  // none
    NfsInterval interval;
  };
  const Window* window_ = nullptr;
  std::uint64_t begin_ = 0;  // interval index of nfs[0]
  std::size_t size_ = 0;
  mutable std::array<Slot, kCached> cache_{};
  mutable std::size_t next_ = 0;  // the slot rebuilt longest ago
  NfsInterval inactive_;
};

// ---- the window ----

struct WindowOptions {
  std::size_t max_intervals = 600;  // at least 1
  std::uint64_t max_age_ns = 0;     // 0 = bounded by count only
};

struct WindowCounters {
  std::uint64_t appended = 0;
  std::uint64_t evicted = 0;
  std::uint64_t duplicate_rows = 0;  // a cgroup id twice in one snapshot: the first row is kept
};

class Window : public SnapshotSink {
 public:
  explicit Window(WindowOptions options = {});
  ~Window() override;
  Window(Window&&) noexcept;
  Window& operator=(Window&&) noexcept;

  // Appends one interval and evicts what the bounds no longer allow. Fails (and stores
  // nothing) if the interval does not end after the previous one.
  Status append(const Snapshot& interval);
  Status on_interval(const Snapshot& interval) override { return append(interval); }

  const WindowOptions& options() const { return options_; }
  const WindowCounters& counters() const { return counters_; }

  // -- time axis --
  std::uint64_t begin_index() const { return begin_; }
  std::uint64_t end_index() const { return end_; }
  std::size_t size() const { return static_cast<std::size_t>(end_ - begin_); }
  bool empty() const { return end_ == begin_; }
  IntervalRange all() const { return {begin_, end_}; }
  IntervalRange latest(std::size_t n) const;                // the newest n intervals
  IntervalRange resolve(const TimeRange& time) const;       // intervals overlapping [from, to)
  const IntervalInfo& interval(std::uint64_t index) const;  // index must be in all()

  // -- cgroups --
  std::size_t cgroup_count() const;                        // cgroups with an interval in the window
  const CgroupIdentity* identity(std::uint64_t id) const;  // nullptr: not in the window
  // Every cgroup present in the range, in first-seen order, with all its series' statistics.
  std::vector<CgroupSummary> cgroups(IntervalRange range) const;
  CgroupTree tree(IntervalRange range) const { return build_cgroup_tree(cgroups(range)); }
  // presence[i]: the cgroup was in interval range.begin + i (of the clipped range).
  std::vector<bool> presence(std::uint64_t id, IntervalRange range) const;

  // -- series --
  SeriesValues series(std::uint64_t id, Series s, IntervalRange range) const;
  SeriesStats stats(std::uint64_t id, Series s, IntervalRange range) const;
  // The n cgroups with the highest (lowest) statistic of a series over the range; ties by id
  // ascending. Cgroups without a value of the series in the range are not ranked.
  std::vector<RankedCgroup> top(const TopQuery& query, IntervalRange range) const;

  // -- histograms --
  // One histogram per interval of the clipped range (empty where nothing happened / absent).
  std::vector<Log2Histogram> heat_map(std::uint64_t id, HistogramSeries h, IntervalRange range) const;
  // All intervals of the range merged: percentiles over the range (not the max of the p99s).
  Log2Histogram histogram(std::uint64_t id, HistogramSeries h, IntervalRange range) const;

  // -- evidence beyond the series (the analyzers') --
  BlameTotals blame(std::uint64_t id, IntervalRange range) const;
  DemandDistribution demand(std::uint64_t id, IntervalRange range) const;
  const CgroupState* state(std::uint64_t id) const;  // nullptr: not in the window
  // The NFS part of each interval of the clipped range (inactive where NFS was not measured),
  // every field as appended except the histograms, which are empty: per-op histograms are not
  // kept (nor the RPCs' round-trip histograms); the latency of each cgroup is in the
  // kNfsLatency histogram series.
  // The list rebuilds each interval when asked for it (NfsIntervals above).
  NfsIntervals nfs(IntervalRange range) const;

  // Bytes allocated for the window's data, the NFS part of the intervals included (element and
  // heap sizes, not allocator overhead).
  std::size_t memory_bytes() const;

  struct Cgroup;  // storage of one cgroup (model/window_chunk.hpp)

 private:
  IntervalRange clip(IntervalRange range) const;
  const Cgroup* find(std::uint64_t id) const;
  Cgroup& find_or_add(const CgroupIdentity& identity);
  void evict();
  friend class NfsIntervals;  // rebuilds its intervals from nfs_

  WindowOptions options_;
  WindowCounters counters_;
  std::uint64_t begin_ = 0, end_ = 0;
  std::deque<IntervalInfo> intervals_;  // interval i at intervals_[i - begin_]
  window_detail::NfsStore nfs_;         // interval i at position i - begin_
  std::uint64_t dropped_chunks_ = 0;    // chunks [0, dropped_chunks_) are dead in every cgroup
  std::vector<std::unique_ptr<window_detail::Chunk>> dead_chunks_;  // freed a few per append
  std::size_t free_per_append_ = 0;
  std::vector<std::unique_ptr<Cgroup>> cgroups_;
  std::unordered_map<std::uint64_t, std::size_t> index_;  // id -> cgroups_ position
};

}  // namespace cgscope::model
