// Queries of the history window (model/window.hpp): ranges, series, statistics, top-N,
// heat maps.
#include <algorithm>
#include <bit>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/window.hpp"
#include "model/window_chunk.hpp"

namespace cgscope::model {

using namespace window_detail;

double value_of(const SeriesStats& stats, Statistic statistic) {
  switch (statistic) {
    case Statistic::kSum:
      return stats.sum;
    case Statistic::kMean:
      return stats.mean();
    case Statistic::kMin:
      return stats.min;
    case Statistic::kMax:
      return stats.max;
  }
  return stats.sum;
}

// ---- Window: queries ----

IntervalRange Window::clip(IntervalRange range) const {
  const std::uint64_t b = std::max(range.begin, begin_);
  const std::uint64_t e = std::min(range.end, end_);
  return {b, std::max(b, e)};
}

IntervalRange Window::latest(std::size_t n) const {
  return {end_ - std::min<std::uint64_t>(n, size()), end_};
}

IntervalRange Window::resolve(const TimeRange& time) const {
  // Intervals are in time order: the first that ends after `from`, up to the last that starts
  // before `to`.
  auto first = std::partition_point(intervals_.begin(), intervals_.end(), [&](const IntervalInfo& i) {
    return i.end_monotonic_ns <= time.from_ns;
  });
  auto last = std::partition_point(first, intervals_.end(),
                                   [&](const IntervalInfo& i) { return i.start_monotonic_ns < time.to_ns; });
  return {begin_ + static_cast<std::uint64_t>(first - intervals_.begin()),
          begin_ + static_cast<std::uint64_t>(last - intervals_.begin())};
}

const IntervalInfo& Window::interval(std::uint64_t index) const { return intervals_.at(index - begin_); }

const Window::Cgroup* Window::find(std::uint64_t id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  const Cgroup* h = cgroups_[it->second].get();
  return !empty() && h->last_index >= begin_ ? h : nullptr;
}

std::size_t Window::cgroup_count() const {
  if (empty()) return 0;
  return static_cast<std::size_t>(std::count_if(cgroups_.begin(), cgroups_.end(),
                                                [&](const auto& h) { return h->last_index >= begin_; }));
}

const CgroupIdentity* Window::identity(std::uint64_t id) const {
  const Cgroup* h = find(id);
  return h ? &h->identity : nullptr;
}

std::vector<bool> Window::presence(std::uint64_t id, IntervalRange range) const {
  const IntervalRange r = clip(range);
  std::vector<bool> out(r.size(), false);
  if (const Cgroup* h = find(id)) {
    h->for_each_chunk(r, end_, [&](const Chunk& c, std::uint64_t cb, std::size_t lo, std::size_t hi, bool) {
      for (std::size_t s = lo; s < hi; ++s) out[cb + s - r.begin] = c.present >> s & 1;
    });
  }
  return out;
}

std::vector<CgroupSummary> Window::cgroups(IntervalRange range) const {
  const IntervalRange r = clip(range);
  std::vector<CgroupSummary> out;
  if (r.empty()) return out;
  out.reserve(cgroups_.size());
  for (const auto& h : cgroups_) {
    if (h->last_index < r.begin) continue;
    CgroupSummary sum;
    h->for_each_chunk(
        r, end_, [&](const Chunk& c, std::uint64_t, std::size_t lo, std::size_t hi, bool whole) {
          sum.intervals += static_cast<std::uint32_t>(std::popcount(c.present & slot_mask(lo, hi)));
          for (std::size_t s = 0; s < kSeriesCount; ++s) {
            if (whole) {
              merge_column(c.columns[s], sum.stats[s]);
            } else {
              scan_column(c, s, lo, hi, sum.stats[s]);
            }
          }
        });
    if (sum.intervals == 0) continue;
    sum.id = h->identity.id;
    sum.identity = &h->identity;
    sum.removed = h->removed;
    sum.last_index = h->last_index;
    sum.first_index = h->last_index;
    bool found = false;
    h->for_each_chunk(all(), end_,
                      [&](const Chunk& c, std::uint64_t cb, std::size_t lo, std::size_t hi, bool) {
                        const std::uint64_t m = c.present & slot_mask(lo, hi);
                        if (found || m == 0) return;
                        sum.first_index = cb + static_cast<std::uint64_t>(std::countr_zero(m));
                        found = true;
                      });
    out.push_back(sum);
  }
  return out;
}

SeriesStats Window::stats(std::uint64_t id, Series s, IntervalRange range) const {
  const Cgroup* h = find(id);
  return h ? h->stats(static_cast<std::size_t>(s), clip(range), end_) : SeriesStats{};
}

SeriesValues Window::series(std::uint64_t id, Series s, IntervalRange range) const {
  SeriesValues out;
  out.range = clip(range);
  out.values.assign(out.range.size(), kAbsent);
  const Cgroup* h = find(id);
  if (!h) return out;
  const auto series = static_cast<std::size_t>(s);
  h->for_each_chunk(out.range, end_,
                    [&](const Chunk& c, std::uint64_t cb, std::size_t lo, std::size_t hi, bool whole) {
                      for (std::size_t slot = lo; slot < hi; ++slot)
                        out.values[cb + slot - out.range.begin] = read_value(c, series, slot);
                      if (whole) {
                        merge_column(c.columns[series], out.stats);
                      } else {
                        scan_column(c, series, lo, hi, out.stats);
                      }
                    });
  return out;
}

std::vector<RankedCgroup> Window::top(const TopQuery& query, IntervalRange range) const {
  const IntervalRange r = clip(range);
  std::vector<RankedCgroup> ranked;
  if (r.empty() || query.n == 0) return ranked;
  const auto series = static_cast<std::size_t>(query.series);
  for (const auto& h : cgroups_) {
    if (h->last_index < r.begin) continue;
    SeriesStats st = h->stats(series, r, end_);
    if (st.count == 0) continue;
    ranked.push_back({h->identity.id, &h->identity, value_of(st, query.by), st});
  }
  const bool highest = query.order == Order::kHighest;
  auto before = [highest](const RankedCgroup& a, const RankedCgroup& b) {
    if (a.value != b.value) return highest ? a.value > b.value : a.value < b.value;
    return a.id < b.id;
  };
  const std::size_t n = std::min(query.n, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(), before);
  ranked.resize(n);
  return ranked;
}

std::vector<Log2Histogram> Window::heat_map(std::uint64_t id, HistogramSeries kind,
                                            IntervalRange range) const {
  const IntervalRange r = clip(range);
  std::vector<Log2Histogram> out(r.size());
  if (const Cgroup* h = find(id)) {
    h->for_each_chunk(r, end_, [&](const Chunk& c, std::uint64_t cb, std::size_t lo, std::size_t hi, bool) {
      decode_histograms(c, kind, [&](std::size_t slot, const Log2Histogram& hist) {
        if (slot >= lo && slot < hi) out[cb + slot - r.begin] = hist;
      });
    });
  }
  return out;
}

Log2Histogram Window::histogram(std::uint64_t id, HistogramSeries kind, IntervalRange range) const {
  const IntervalRange r = clip(range);
  Log2Histogram out;
  if (const Cgroup* h = find(id)) {
    h->for_each_chunk(r, end_, [&](const Chunk& c, std::uint64_t, std::size_t lo, std::size_t hi, bool) {
      decode_histograms(c, kind, [&](std::size_t slot, const Log2Histogram& hist) {
        if (slot >= lo && slot < hi) out.merge(hist);
      });
    });
  }
  return out;
}

// ---- evidence beyond the series ----

std::uint64_t BlameTotals::total_ns() const {
  std::uint64_t t = overflow_ns;
  for (const RunDelayBlame& h : holders) t += h.wait_ns;
  return t;
}

double DemandDistribution::percentile(double q) const {
  if (slots == 0) return 0;
  const double want = std::clamp(q, 0.0, 1.0) * static_cast<double>(slots);
  std::uint64_t seen = 0;
  for (const CpuDemandBucket& b : buckets) {
    seen += b.slots;
    if (static_cast<double>(seen) >= want) return (b.centi_cpus + 1) / 100.0;
  }
  return (buckets.back().centi_cpus + 1) / 100.0;
}

BlameTotals Window::blame(std::uint64_t id, IntervalRange range) const {
  BlameTotals out;
  const Cgroup* h = find(id);
  range = clip(range);
  if (!h || range.empty()) return out;
  std::unordered_map<std::uint64_t, RunDelayBlame> by_holder;
  h->for_each_chunk(range, end_, [&](const Chunk& c, std::uint64_t, std::size_t lo, std::size_t hi, bool) {
    decode_numbers(c, kBlameRecord, [&](std::size_t slot, const std::uint64_t* v, std::size_t n) {
      if (slot < lo || slot >= hi) return;
      for (std::size_t i = 0; i + 2 < n; i += 3) {
        if (v[i] == kBlameOverflowId) {
          out.overflow_ns += v[i + 1];
          out.overflow_waits += v[i + 2];
          continue;
        }
        RunDelayBlame& b = by_holder[v[i]];
        b.cgroup_id = v[i];
        b.wait_ns += v[i + 1];
        b.waits += v[i + 2];
      }
    });
  });
  out.holders.reserve(by_holder.size());
  for (const auto& [holder, b] : by_holder) out.holders.push_back(b);
  std::sort(out.holders.begin(), out.holders.end(), [](const RunDelayBlame& a, const RunDelayBlame& b) {
    return a.wait_ns != b.wait_ns ? a.wait_ns > b.wait_ns : a.cgroup_id < b.cgroup_id;
  });
  return out;
}

DemandDistribution Window::demand(std::uint64_t id, IntervalRange range) const {
  DemandDistribution out;
  const Cgroup* h = find(id);
  range = clip(range);
  if (!h || range.empty()) return out;
  std::map<std::uint32_t, std::uint64_t> merged;
  h->for_each_chunk(range, end_, [&](const Chunk& c, std::uint64_t, std::size_t lo, std::size_t hi, bool) {
    decode_numbers(c, kDemandRecord, [&](std::size_t slot, const std::uint64_t* v, std::size_t n) {
      if (slot < lo || slot >= hi || n < 2) return;
      out.missed_slots += v[0];
      out.slot_ns = v[1] * 1000;  // the latest sampler's slot (a restarted sampler may differ)
      for (std::size_t i = 2; i + 1 < n; i += 2) {
        merged[static_cast<std::uint32_t>(v[i])] += v[i + 1];
        out.slots += v[i + 1];
      }
    });
  });
  out.buckets.reserve(merged.size());
  for (const auto& [centi, slots] : merged) out.buckets.push_back({centi, slots});
  return out;
}

const CgroupState* Window::state(std::uint64_t id) const {
  const Cgroup* h = find(id);
  return h ? &h->state : nullptr;
}

NfsIntervals Window::nfs(IntervalRange range) const {
  range = clip(range);
  NfsIntervals out;
  out.window_ = this;
  out.begin_ = range.begin;
  out.size_ = static_cast<std::size_t>(range.size());
  return out;
}

const NfsInterval* NfsIntervals::operator[](std::size_t k) const {
  const std::uint64_t i = begin_ + k;
  // An interval the window no longer holds (the list outlived an eviction) reads as inactive.
  if (i < window_->begin_ || i >= window_->end_) return &inactive_;
  const std::size_t at = static_cast<std::size_t>(i - window_->begin_);
  if (!window_->nfs_.active(at)) return &inactive_;
  for (const Slot& s : cache_)
    if (s.k == k) return &s.interval;
  Slot& s = cache_[next_];
  next_ = (next_ + 1) % kCached;
  s.k = k;
  window_->nfs_.rebuild(at, s.interval);
  return &s.interval;
}

}  // namespace cgscope::model
