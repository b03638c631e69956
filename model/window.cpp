// The history window (model/window.hpp): extraction of the series from a Snapshot, appending
// and eviction. Queries: model/window_query.cpp; storage: model/window_chunk.hpp.
#include "model/window.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "model/window_chunk.hpp"

namespace cgscope::model {
namespace {

using namespace window_detail;

constexpr std::size_t kFreeOverAppends = 16;

constexpr bool descriptors_in_enum_order() {
  for (std::size_t i = 0; i < kSeriesCount; ++i)
    if (static_cast<std::size_t>(kSeriesDescriptors[i].series) != i) return false;
  for (std::size_t i = 0; i < kHistogramSeriesCount; ++i)
    if (static_cast<std::size_t>(kHistogramDescriptors[i].histogram) != i) return false;
  return true;
}
static_assert(descriptors_in_enum_order(), "kSeriesDescriptors / kHistogramDescriptors follow their enums");
static_assert(static_cast<std::size_t>(Series::kDirectReclaimSeconds) + 1 == kSeriesCount);
static_assert(static_cast<std::size_t>(HistogramSeries::kNfsLatency) + 1 == kHistogramSeriesCount);

// ---- extraction: one CgroupInterval -> one value per series ----

// What a cgroup's row needs besides itself, computed once per row.
struct RowContext {
  double seconds = 0;  // interval length
  bool nfs_active = false;
  std::uint64_t nfs_stall_ns = 0;
  const Log2Histogram* io_latency = nullptr;   // reads + writes
  const Log2Histogram* nfs_latency = nullptr;  // the operations of NfsCgroupMountInterval::stall_ns()
  Log2Histogram io_merged, nfs_merged;         // where they are merged when both sides have counts
};
constexpr Log2Histogram kEmptyHistogram{};

float from_ns(std::uint64_t ns) { return static_cast<float>(static_cast<double>(ns) / 1e9); }
float from_usec(const std::optional<std::uint64_t>& usec) {
  return usec ? static_cast<float>(static_cast<double>(*usec) / 1e6) : kAbsent;
}
float from_optional(const std::optional<double>& v) { return v ? static_cast<float>(*v) : kAbsent; }
float per_second(const std::optional<double>& amount, const RowContext& ctx) {
  return amount && ctx.seconds > 0 ? static_cast<float>(*amount / ctx.seconds) : kAbsent;
}
float percentile_seconds(const Log2Histogram& h, double q) {
  return has_counts(h) ? from_ns(h.percentile(q)) : kAbsent;
}

// Reads and writes apart, by the rule of model::io_bytes(): eBPF where the I/O collector saw
// the cgroup, else io.stat.
struct IoTotals {
  std::optional<double> read_bytes, write_bytes, read_ops, write_ops;
};
std::optional<double> as_double(const std::optional<std::uint64_t>& v) {
  return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}
IoTotals io_totals(const CgroupInterval& cg) {
  const IoInterval& io = cg.io;
  if (io.has_bpf) {
    return {static_cast<double>(io.read_bytes), static_cast<double>(io.write_bytes),
            static_cast<double>(io.read_ios), static_cast<double>(io.write_ios)};
  }
  return {as_double(io.stat_rbytes), as_double(io.stat_wbytes), as_double(io.stat_rios),
          as_double(io.stat_wios)};
}

using Extractor = float (*)(const CgroupInterval&, const RowContext&);
struct SeriesExtractor {
  Series series;
  Extractor extract;
};

// clang-format off
constexpr std::array<SeriesExtractor, kSeriesCount> kExtractors = {{
  {Series::kCpuPercent, [](const CgroupInterval& cg, const RowContext&) {
     return cg.has_bpf || cg.cpu_percent_cgroupfs ? static_cast<float>(cpu_percent(cg)) : kAbsent; }},
  {Series::kThrottledPercent, [](const CgroupInterval& cg, const RowContext&) {
     return from_optional(cg.throttled_percent); }},
  {Series::kThrottledSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.throttled_usec); }},
  {Series::kRunDelaySeconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.has_bpf ? from_ns(cg.run_delay_ns_sum) : kAbsent; }},
  {Series::kRunDelayP50Seconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.has_bpf ? percentile_seconds(cg.run_delay_ns, 0.50) : kAbsent; }},
  {Series::kRunDelayP99Seconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.has_bpf ? percentile_seconds(cg.run_delay_ns, 0.99) : kAbsent; }},
  {Series::kCpuPressureSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.cpu_pressure_some_usec); }},
  {Series::kIoReadBytesPerSecond, [](const CgroupInterval& cg, const RowContext& ctx) {
     return per_second(io_totals(cg).read_bytes, ctx); }},
  {Series::kIoWriteBytesPerSecond, [](const CgroupInterval& cg, const RowContext& ctx) {
     return per_second(io_totals(cg).write_bytes, ctx); }},
  {Series::kIoReadOpsPerSecond, [](const CgroupInterval& cg, const RowContext& ctx) {
     return per_second(io_totals(cg).read_ops, ctx); }},
  {Series::kIoWriteOpsPerSecond, [](const CgroupInterval& cg, const RowContext& ctx) {
     return per_second(io_totals(cg).write_ops, ctx); }},
  {Series::kIoLatencyP50Seconds, [](const CgroupInterval& cg, const RowContext& ctx) {
     return cg.io.has_bpf ? percentile_seconds(*ctx.io_latency, 0.50) : kAbsent; }},
  {Series::kIoLatencyP99Seconds, [](const CgroupInterval& cg, const RowContext& ctx) {
     return cg.io.has_bpf ? percentile_seconds(*ctx.io_latency, 0.99) : kAbsent; }},
  {Series::kIoWaitSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.io.has_iowait ? from_ns(cg.io.iowait_ns) : kAbsent; }},
  {Series::kDirtyThrottleSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.io.has_bpf ? from_ns(cg.io.dirty_throttle_ns) : kAbsent; }},
  {Series::kIoPressureSomeSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.io.pressure_some_usec); }},
  {Series::kIoPressureFullSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.io.pressure_full_usec); }},
  {Series::kReclaimSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.memory.has_bpf ? from_ns(reclaim_ns(cg)) : kAbsent; }},
  {Series::kPageCacheHitRatio, [](const CgroupInterval& cg, const RowContext&) {
     return from_optional(cg.memory.cache_hit_ratio); }},
  {Series::kMemoryCurrentBytes, [](const CgroupInterval& cg, const RowContext&) {
     return from_optional(as_double(cg.memory.knobs.current_bytes)); }},
  {Series::kOomKills, [](const CgroupInterval& cg, const RowContext&) {
     return cg.memory.has_bpf ? static_cast<float>(cg.memory.oom_kills)
                              : from_optional(as_double(cg.memory.events.oom_kill)); }},
  {Series::kMemoryPressureSomeSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.memory.pressure_some_usec); }},
  {Series::kMemoryPressureFullSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return from_usec(cg.memory.pressure_full_usec); }},
  {Series::kNfsStallSeconds, [](const CgroupInterval&, const RowContext& ctx) {
     return ctx.nfs_active ? from_ns(ctx.nfs_stall_ns) : kAbsent; }},
  {Series::kCpuQuotaCores, [](const CgroupInterval& cg, const RowContext&) {
     const CpuKnobs& k = cg.cpu_knobs;
     return k.quota_usec && *k.quota_usec > 0 && k.period_usec && *k.period_usec > 0
                ? static_cast<float>(static_cast<double>(*k.quota_usec) / static_cast<double>(*k.period_usec))
                : kAbsent; }},
  {Series::kMemoryWorkingSetBytes, [](const CgroupInterval& cg, const RowContext&) {
     const auto& current = cg.memory.knobs.current_bytes;
     if (!current) return kAbsent;
     const std::uint64_t inactive = cg.memory.stat.inactive_file_bytes.value_or(0);
     return static_cast<float>(*current > inactive ? *current - inactive : 0); }},
  {Series::kMemoryHighEvents, [](const CgroupInterval& cg, const RowContext&) {
     return from_optional(as_double(cg.memory.events.high)); }},
  {Series::kMemoryMaxEvents, [](const CgroupInterval& cg, const RowContext&) {
     return from_optional(as_double(cg.memory.events.max)); }},
  {Series::kMemoryRefaults, [](const CgroupInterval& cg, const RowContext&) {
     const auto& a = cg.memory.workingset_refault_anon;
     const auto& f = cg.memory.workingset_refault_file;
     return a || f ? static_cast<float>(a.value_or(0) + f.value_or(0)) : kAbsent; }},
  {Series::kDirectReclaimSeconds, [](const CgroupInterval& cg, const RowContext&) {
     return cg.memory.has_bpf ? from_ns(cg.memory.direct_reclaim_ns) : kAbsent; }},
}};
// clang-format on

constexpr bool extractors_in_enum_order() {
  for (std::size_t i = 0; i < kSeriesCount; ++i)
    if (static_cast<std::size_t>(kExtractors[i].series) != i) return false;
  return true;
}
static_assert(extractors_in_enum_order(), "kExtractors follows enum Series");

// The blame and demand of a row as window records (nothing where there is none).
void encode_evidence(Chunk& c, std::size_t slot, const CgroupInterval& cg, std::vector<std::uint64_t>& scratch) {
  if (!cg.run_delay_blame.empty() || cg.run_delay_blame_overflow_ns) {
    scratch.clear();
    for (const RunDelayBlame& b : cg.run_delay_blame) scratch.insert(scratch.end(), {b.cgroup_id, b.wait_ns, b.waits});
    if (cg.run_delay_blame_overflow_ns || cg.run_delay_blame_overflow_waits)
      scratch.insert(scratch.end(),
                     {kBlameOverflowId, cg.run_delay_blame_overflow_ns, cg.run_delay_blame_overflow_waits});
    encode_numbers(c.histograms, slot, kBlameRecord, scratch, 0, 3);
  }
  if (cg.cpu_demand_slot_ns && (!cg.cpu_demand.empty() || cg.cpu_demand_missed_slots)) {
    scratch.assign({cg.cpu_demand_missed_slots, cg.cpu_demand_slot_ns / 1000});
    for (const CpuDemandBucket& b : cg.cpu_demand) scratch.insert(scratch.end(), {b.centi_cpus, b.slots});
    encode_numbers(c.histograms, slot, kDemandRecord, scratch, 2, 2);
  }
}

void update_state(CgroupState& st, std::uint64_t index, const CgroupInterval& cg) {
  st.index = index;
  if (cg.removed) return;  // a vanished cgroup's last interval has no cgroupfs data
  st.cpu = cg.cpu_knobs;
  st.memory = cg.memory.knobs;
  st.memory_stat = cg.memory.stat;
  st.io = cg.io.knobs;
  if (cg.io.has_bpf && !cg.io.block.empty()) {
    st.disks.clear();
    for (const BlockIoInterval& b : cg.io.block) {
      auto it = std::find_if(st.disks.begin(), st.disks.end(), [&](const auto& d) { return d.dev == b.dev; });
      if (it == st.disks.end()) it = st.disks.insert(st.disks.end(), {b.dev, 0, 0});
      it->bytes += b.bytes;
      it->requests += b.requests;
    }
    std::sort(st.disks.begin(), st.disks.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  } else if (!cg.io.has_bpf && !cg.io.stat.empty()) {
    st.disks.clear();
    for (const IoStatDevice& d : cg.io.stat)
      if (d.rbytes + d.wbytes) st.disks.push_back({d.dev, d.rbytes + d.wbytes, d.rios + d.wios});
    std::sort(st.disks.begin(), st.disks.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  }
}

std::size_t identity_heap_bytes(const CgroupIdentity& id) {
  return string_heap_bytes(id.path) + string_heap_bytes(id.container.container_id) +
         string_heap_bytes(id.container.pod_uid) + string_heap_bytes(id.container.systemd_unit) +
         string_heap_bytes(id.container.systemd_slice) + string_heap_bytes(id.v1_cpu_path) +
         string_heap_bytes(id.v1_cpuacct_path) + string_heap_bytes(id.v1_memory_path) +
         string_heap_bytes(id.v1_blkio_path);
}

}  // namespace

// ---- SeriesStats ----

void SeriesStats::add(double value) {
  min = count == 0 ? value : std::min(min, value);
  max = count == 0 ? value : std::max(max, value);
  sum += value;
  ++count;
}

void SeriesStats::merge(const SeriesStats& other) {
  if (other.count == 0) return;
  min = count == 0 ? other.min : std::min(min, other.min);
  max = count == 0 ? other.max : std::max(max, other.max);
  sum += other.sum;
  count += other.count;
}

// ---- Window: appending and eviction ----

Window::Window(WindowOptions options) : options_(options) {
  options_.max_intervals = std::max<std::size_t>(options_.max_intervals, 1);
}
Window::~Window() = default;
Window::Window(Window&&) noexcept = default;
Window& Window::operator=(Window&&) noexcept = default;

Window::Cgroup& Window::find_or_add(const CgroupIdentity& identity) {
  auto [it, added] = index_.try_emplace(identity.id, cgroups_.size());
  if (added) {
    auto h = std::make_unique<Cgroup>();
    h->identity = identity;
    h->last_index = end_;
    cgroups_.push_back(std::move(h));
  }
  return *cgroups_[it->second];
}

Status Window::append(const Snapshot& snap) {
  if (!intervals_.empty() && snap.end_monotonic_ns <= intervals_.back().end_monotonic_ns) {
    return Error{"history window: an interval ending at " + std::to_string(snap.end_monotonic_ns) +
                 " ns (monotonic) does not end after the previous one (" +
                 std::to_string(intervals_.back().end_monotonic_ns) +
                 " ns); a window takes the intervals of one source in time order"};
  }
  const std::uint64_t index = end_;
  const std::uint64_t k = index / kChunk;
  const auto slot = static_cast<std::size_t>(index % kChunk);

  // NFS rows by cgroup (a cgroup has one row per mount).
  std::vector<const NfsCgroupMountInterval*> nfs_rows;
  nfs_rows.reserve(snap.nfs.cgroups.size());
  for (const auto& row : snap.nfs.cgroups) nfs_rows.push_back(&row);
  std::sort(nfs_rows.begin(), nfs_rows.end(), [](auto* a, auto* b) { return a->cgroup_id < b->cgroup_id; });

  RowContext ctx;
  std::vector<std::uint64_t> scratch;
  ctx.seconds = snap.interval_seconds();
  ctx.nfs_active = snap.nfs.active;
  std::array<float, kSeriesCount> values;
  for (const CgroupInterval& cg : snap.cgroups) {
    Cgroup& h = find_or_add(cg.identity);
    if (h.chunks.empty()) h.first_chunk = k;
    while (h.first_chunk + h.chunks.size() <= k) h.chunks.emplace_back();
    std::unique_ptr<Chunk>& slot_chunk = h.chunks[k - h.first_chunk];
    if (!slot_chunk) {
      slot_chunk = std::make_unique<Chunk>();
      // Reserve what the cgroup's previous chunk needed: most cgroups behave alike from one
      // minute to the next, so most chunks never reallocate.
      if (k > h.first_chunk) {
        if (const Chunk* prev = h.chunks[k - 1 - h.first_chunk].get()) {
          slot_chunk->dense.reserve(prev->dense.size());
          slot_chunk->histograms.reserve(prev->histograms.size());
        }
      }
    }
    Chunk& c = *slot_chunk;
    if (c.present >> slot & 1) {  // the same id twice in one snapshot
      ++counters_.duplicate_rows;
      continue;
    }

    // Histograms of the row, merged only where two have counts (most rows have none).
    ctx.io_latency = &kEmptyHistogram;
    if (cg.io.has_bpf) {
      const bool reads = has_counts(cg.io.read_latency_ns), writes = has_counts(cg.io.write_latency_ns);
      ctx.io_latency = reads ? &cg.io.read_latency_ns : &cg.io.write_latency_ns;
      if (reads && writes) {
        ctx.io_merged = cg.io.read_latency_ns;
        ctx.io_merged.merge(cg.io.write_latency_ns);
        ctx.io_latency = &ctx.io_merged;
      }
    }
    ctx.nfs_stall_ns = 0;
    ctx.nfs_latency = &kEmptyHistogram;
    auto row =
        std::lower_bound(nfs_rows.begin(), nfs_rows.end(), cg.identity.id,
                         [](const NfsCgroupMountInterval* r, std::uint64_t id) { return r->cgroup_id < id; });
    if (row != nfs_rows.end() && (*row)->cgroup_id == cg.identity.id) {
      ctx.nfs_merged = {};
      ctx.nfs_latency = &ctx.nfs_merged;
    }
    for (; row != nfs_rows.end() && (*row)->cgroup_id == cg.identity.id; ++row) {
      ctx.nfs_stall_ns += (*row)->stall_ns();
      for (NfsOp op : kNfsStallOps) {
        const Log2Histogram& h = (*row)->ops[static_cast<std::size_t>(op)].time_ns_hist;
        if (has_counts(h)) ctx.nfs_merged.merge(h);
      }
    }

    for (std::size_t s = 0; s < kSeriesCount; ++s) values[s] = kExtractors[s].extract(cg, ctx);
    for (std::size_t s = 0; s < kSeriesCount; ++s) write_value(c, s, slot, values[s]);
    // Each histogram only where its collector saw the cgroup (else it is empty: no need to look).
    if (cg.has_bpf) encode_histogram(c.histograms, slot, HistogramSeries::kRunDelay, cg.run_delay_ns);
    encode_histogram(c.histograms, slot, HistogramSeries::kIoLatency, *ctx.io_latency);
    if (cg.memory.has_bpf)
      encode_histogram(c.histograms, slot, HistogramSeries::kReclaimStall, cg.memory.reclaim_ns);
    encode_histogram(c.histograms, slot, HistogramSeries::kNfsLatency, *ctx.nfs_latency);
    encode_evidence(c, slot, cg, scratch);
    c.present |= std::uint64_t{1} << slot;
    update_state(h.state, index, cg);

    h.last_index = index;
    h.removed = cg.removed;
    // The rest of an identity follows from its path (compared alone: this runs for every row).
    // A cgroup reported once more after it vanished may come without a path: keep the one known.
    if (h.identity.path != cg.identity.path && !cg.identity.path.empty()) h.identity = cg.identity;
  }

  IntervalInfo info;
  info.index = index;
  info.start_monotonic_ns = snap.start_monotonic_ns;
  info.end_monotonic_ns = snap.end_monotonic_ns;
  info.start_realtime_ns = snap.start_realtime_ns;
  info.end_realtime_ns = snap.end_realtime_ns;
  info.nr_cpus = snap.nr_cpus;
  info.cgroups = static_cast<std::uint32_t>(snap.cgroups.size());
  intervals_.push_back(info);
  nfs_.push_back(snap.nfs);
  ++end_;
  ++counters_.appended;
  evict();
  return {};
}

void Window::evict() {
  const std::uint64_t newest_end = intervals_.back().end_monotonic_ns;
  while (
      size() > options_.max_intervals ||
      (options_.max_age_ns > 0 && newest_end - intervals_.front().end_monotonic_ns >= options_.max_age_ns)) {
    intervals_.pop_front();
    nfs_.pop_front();
    ++begin_;
    ++counters_.evicted;
  }
  // Chunks the window has left (and the cgroups that aged out with them) are freed a few per
  // append over the next kFreeOverAppends appends: freeing a thousand at once doubled the time
  // of that append. Queries never see them: they clip to begin_.
  const std::uint64_t first_live_chunk = begin_ / kChunk;
  if (first_live_chunk > dropped_chunks_) {
    dropped_chunks_ = first_live_chunk;
    std::size_t kept = 0;
    for (auto& h : cgroups_) {
      const std::uint64_t dead =
          h->last_index < begin_ ? h->chunks.size()
          : h->first_chunk < first_live_chunk
              ? std::min<std::uint64_t>(first_live_chunk - h->first_chunk, h->chunks.size())
              : 0;
      for (std::uint64_t k = 0; k < dead; ++k)
        if (h->chunks[k]) dead_chunks_.push_back(std::move(h->chunks[k]));
      h->chunks.erase(h->chunks.begin(), h->chunks.begin() + static_cast<std::ptrdiff_t>(dead));
      h->first_chunk += dead;
      if (h->last_index >= begin_) cgroups_[kept++] = std::move(h);
    }
    free_per_append_ = (dead_chunks_.size() + kFreeOverAppends - 1) / kFreeOverAppends;
    if (kept < cgroups_.size()) {
      cgroups_.resize(kept);
      index_.clear();
      for (std::size_t i = 0; i < cgroups_.size(); ++i) index_.emplace(cgroups_[i]->identity.id, i);
    }
  }
  dead_chunks_.resize(dead_chunks_.size() - std::min(free_per_append_, dead_chunks_.size()));
}

std::size_t Window::memory_bytes() const {
  std::size_t bytes = sizeof(*this);
  bytes += deque_bytes<IntervalInfo>(intervals_.size());
  bytes += nfs_.memory_bytes();
  bytes += cgroups_.capacity() * sizeof(cgroups_[0]);
  // std::unordered_map: the bucket array and one node per entry (next pointer + value).
  bytes += index_.bucket_count() * sizeof(void*);
  bytes += index_.size() * (sizeof(void*) + sizeof(std::pair<const std::uint64_t, std::size_t>));
  auto chunk_bytes = [](const std::unique_ptr<Chunk>& c) {
    return c ? sizeof(Chunk) + c->dense.capacity() * sizeof(float) + c->histograms.capacity() : 0;
  };
  for (const auto& h : cgroups_) {
    bytes += sizeof(Cgroup) + identity_heap_bytes(h->identity);
    bytes += h->chunks.capacity() * sizeof(h->chunks[0]);
    for (const auto& c : h->chunks) bytes += chunk_bytes(c);
  }
  bytes += dead_chunks_.capacity() * sizeof(dead_chunks_[0]);
  for (const auto& c : dead_chunks_) bytes += chunk_bytes(c);
  return bytes;
}

}  // namespace cgscope::model
