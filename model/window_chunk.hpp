// Storage of the history window, shared by model/window.cpp (appending) and
// model/window_query.cpp (queries); the layout and its arithmetic are in model/window.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "model/window.hpp"

namespace cgscope::model {
namespace window_detail {

inline constexpr std::size_t kChunk = kWindowChunkIntervals;
static_assert(kChunk == 64, "a chunk's presence mask is one uint64_t");
inline constexpr float kAbsent = std::numeric_limits<float>::quiet_NaN();
inline constexpr std::uint8_t kNoDense = 0xff;
static_assert(kSeriesCount < kNoDense);

// One series in one chunk: statistics of its present values, and the values themselves as a
// constant (while every value written is the same, NaN included) or a block of 64 floats.
struct Column {
  double sum = 0;
  float min = std::numeric_limits<float>::infinity();  // meaningful when count > 0
  float max = -std::numeric_limits<float>::infinity();
  float constant = kAbsent;
  std::uint8_t count = 0;         // values present (not NaN)
  std::uint8_t dense = kNoDense;  // block index in Chunk::dense
};
static_assert(sizeof(Column) == 24);

// Intervals [64k, 64k + 64) of one cgroup.
struct Chunk {
  std::uint64_t present = 0;  // bit s: the cgroup was in interval 64k + s
  std::array<Column, kSeriesCount> columns;
  std::vector<float> dense;              // 64 floats per non-constant column, NaN where absent
  std::vector<std::uint8_t> histograms;  // records [slot][kind][lowest bucket][n][n LEB128 counts]
};

inline bool same_bits(float a, float b) {
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

inline std::uint64_t slot_mask(std::size_t lo, std::size_t hi) {  // bits [lo, hi), 0 <= lo < hi <= 64
  const std::uint64_t below_hi = hi >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << hi) - 1;
  return below_hi & ~((std::uint64_t{1} << lo) - 1);
}

inline void write_value(Chunk& c, std::size_t series, std::size_t slot, float v) {
  Column& col = c.columns[series];
  if (std::isnan(v)) {
    v = kAbsent;  // one bit pattern for "absent", so that constant columns compare equal
  } else {
    ++col.count;
    col.sum += v;
    col.min = std::min(col.min, v);
    col.max = std::max(col.max, v);
  }
  if (col.dense == kNoDense) {
    if (c.present == 0) {  // first interval of this cgroup in the chunk
      col.constant = v;
      return;
    }
    if (same_bits(v, col.constant)) return;
    // Two different values: give the column its block, with the constant in the earlier slots.
    col.dense = static_cast<std::uint8_t>(c.dense.size() / kChunk);
    if (c.dense.capacity() < c.dense.size() + kChunk) c.dense.reserve(c.dense.size() + kChunk);
    c.dense.resize(c.dense.size() + kChunk, kAbsent);
    float* block = c.dense.data() + col.dense * kChunk;
    for (std::uint64_t m = c.present; m != 0; m &= m - 1) block[std::countr_zero(m)] = col.constant;
  }
  c.dense[col.dense * kChunk + slot] = v;
}

inline float read_value(const Chunk& c, std::size_t series, std::size_t slot) {
  const Column& col = c.columns[series];
  if (col.dense != kNoDense) return c.dense[col.dense * kChunk + slot];
  return (c.present >> slot & 1) ? col.constant : kAbsent;
}

// Statistics of slots [lo, hi) of a column.
inline void scan_column(const Chunk& c, std::size_t series, std::size_t lo, std::size_t hi,
                        SeriesStats& out) {
  const Column& col = c.columns[series];
  if (col.dense == kNoDense) {
    if (std::isnan(col.constant)) return;
    const int n = std::popcount(c.present & slot_mask(lo, hi));
    if (n == 0) return;
    // n x the constant: exact in double (24-bit mantissa x 7 bits), as adding it n times is.
    out.merge(
        {static_cast<std::uint32_t>(n), col.constant, col.constant, static_cast<double>(col.constant) * n});
    return;
  }
  const float* v = c.dense.data() + col.dense * kChunk;
  SeriesStats part;
  float min = std::numeric_limits<float>::infinity(), max = -min;
  for (std::size_t s = lo; s < hi; ++s) {
    if (std::isnan(v[s])) continue;
    ++part.count;
    part.sum += v[s];
    min = std::min(min, v[s]);
    max = std::max(max, v[s]);
  }
  part.min = min;
  part.max = max;
  out.merge(part);
}

inline void merge_column(const Column& col, SeriesStats& out) {
  if (col.count) out.merge({col.count, col.min, col.max, col.sum});
}

// Grows a byte vector by a quarter (not std::vector's doubling): chunks are many and long-lived.
inline void append_bytes(std::vector<std::uint8_t>& out, const std::uint8_t* bytes, std::size_t n) {
  if (out.capacity() < out.size() + n)
    out.reserve(std::max(out.size() + n, out.capacity() + out.capacity() / 4));
  out.insert(out.end(), bytes, bytes + n);
}

// Index of the lowest non-empty bucket, kLog2Buckets if none: 8 buckets at a time first, as
// most histograms of most rows are empty (cheaper than Log2Histogram::count()).
inline std::size_t lowest_bucket(const Log2Histogram& h) {
  const auto& b = h.buckets();
  static_assert(kLog2Buckets % 8 == 0);
  std::size_t lo = 0;
  while (lo < kLog2Buckets &&
         (b[lo] | b[lo + 1] | b[lo + 2] | b[lo + 3] | b[lo + 4] | b[lo + 5] | b[lo + 6] | b[lo + 7]) == 0)
    lo += 8;
  if (lo == kLog2Buckets) return lo;
  while (b[lo] == 0) ++lo;
  return lo;
}
inline bool has_counts(const Log2Histogram& h) { return lowest_bucket(h) < kLog2Buckets; }

inline void encode_histogram(std::vector<std::uint8_t>& out, std::size_t slot, HistogramSeries kind,
                             const Log2Histogram& h) {
  const auto& b = h.buckets();
  const std::size_t lo = lowest_bucket(h);
  if (lo == kLog2Buckets) return;  // empty: no record
  std::size_t hi = kLog2Buckets;
  while (b[hi - 1] == 0) --hi;
  std::uint8_t record[4 + kLog2Buckets * 10];  // header + at most 10 bytes per uint64 count
  std::size_t n = 0;
  record[n++] = static_cast<std::uint8_t>(slot);
  record[n++] = static_cast<std::uint8_t>(kind);
  record[n++] = static_cast<std::uint8_t>(lo);
  record[n++] = static_cast<std::uint8_t>(hi - lo);
  for (std::size_t i = lo; i < hi; ++i) {
    std::uint64_t v = b[i];
    do {
      record[n++] = static_cast<std::uint8_t>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
      v >>= 7;
    } while (v != 0);
  }
  append_bytes(out, record, n);
}

// Records of other evidence, framed like histograms ([slot][kind][0][n][n LEB128 numbers]) so
// that a reader of one kind skips the others.
inline constexpr std::uint8_t kBlameRecord = 0x40;   // (holder id, wait ns, waits) triples
inline constexpr std::uint8_t kDemandRecord = 0x41;  // missed, slot us, then (centi-CPUs, slots) pairs
inline constexpr std::uint64_t kBlameOverflowId = ~std::uint64_t{0};  // the overflow's triple
static_assert(kHistogramSeriesCount < kBlameRecord);

// Appends a record of up to 255 numbers per record (longer lists are split at `group`).
inline void encode_numbers(std::vector<std::uint8_t>& out, std::size_t slot, std::uint8_t kind,
                           const std::vector<std::uint64_t>& numbers, std::size_t head, std::size_t group) {
  std::size_t i = head;
  do {
    std::size_t n = std::min(numbers.size() - i, (255 - head) / group * group);
    std::vector<std::uint8_t> record;
    record.reserve(4 + (head + n) * 10);
    record.push_back(static_cast<std::uint8_t>(slot));
    record.push_back(kind);
    record.push_back(0);
    record.push_back(static_cast<std::uint8_t>(head + n));
    auto put = [&](std::uint64_t v) {
      do {
        record.push_back(static_cast<std::uint8_t>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)));
        v >>= 7;
      } while (v != 0);
    };
    for (std::size_t h = 0; h < head; ++h) put(numbers[h]);
    for (std::size_t j = i; j < i + n; ++j) put(numbers[j]);
    append_bytes(out, record.data(), record.size());
    i += n;
  } while (i < numbers.size());
}

// Calls add(slot, numbers, n) for each record of `kind`.
template <typename Add>
void decode_numbers(const Chunk& c, std::uint8_t kind, Add&& add) {
  const std::uint8_t* p = c.histograms.data();
  const std::uint8_t* end = p + c.histograms.size();
  std::uint64_t numbers[255];
  while (p < end) {
    const std::size_t slot = p[0];
    const bool wanted = p[1] == kind;
    const std::size_t n = p[3];
    p += 4;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      for (int shift = 0;; shift += 7) {
        const std::uint8_t byte = *p++;
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) break;
      }
      numbers[i] = v;
    }
    if (wanted) add(slot, numbers, n);
  }
}

// Calls add(slot, histogram) for each record of `kind` in the chunk.
template <typename Add>
void decode_histograms(const Chunk& c, HistogramSeries kind, Add&& add) {
  const std::uint8_t* p = c.histograms.data();
  const std::uint8_t* end = p + c.histograms.size();
  Log2Histogram h;
  while (p < end) {
    const std::size_t slot = p[0];
    const bool wanted = p[1] == static_cast<std::uint8_t>(kind);
    const std::size_t lo = p[2], n = p[3];
    p += 4;
    if (wanted) h = {};
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      for (int shift = 0;; shift += 7) {
        const std::uint8_t byte = *p++;
        v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) break;
      }
      if (wanted && v) h.add_to_bucket(lo + i, v);
    }
    if (wanted) add(slot, h);
  }
}

}  // namespace window_detail

// One cgroup's history.
struct Window::Cgroup {
  CgroupIdentity identity;
  CgroupState state;
  std::uint64_t last_index = 0;  // the last interval present
  bool removed = false;
  std::uint64_t first_chunk = 0;                              // chunk number of chunks[0]
  std::vector<std::unique_ptr<window_detail::Chunk>> chunks;  // nullptr: absent for all of that chunk

  // Calls f(chunk, chunk_begin_index, lo, hi, whole) for each chunk overlapping the (clipped,
  // non-empty) range: slots [lo, hi) are in the range; `whole`: the chunk's aggregates are
  // exactly those slots (no evicted slot before them, nothing written after them).
  template <typename F>
  void for_each_chunk(IntervalRange r, std::uint64_t window_end, F&& f) const {
    if (r.empty() || chunks.empty()) return;
    const std::uint64_t k_first = std::max(r.begin / window_detail::kChunk, first_chunk);
    const std::uint64_t k_last =
        std::min((r.end - 1) / window_detail::kChunk, first_chunk + chunks.size() - 1);
    for (std::uint64_t k = k_first; k <= k_last; ++k) {
      const window_detail::Chunk* c = chunks[k - first_chunk].get();
      if (!c) continue;
      const std::uint64_t cb = k * window_detail::kChunk;
      const std::size_t lo = r.begin > cb ? static_cast<std::size_t>(r.begin - cb) : 0;
      const std::size_t hi =
          static_cast<std::size_t>(std::min<std::uint64_t>(r.end - cb, window_detail::kChunk));
      const bool whole = lo == 0 && r.end >= std::min(cb + window_detail::kChunk, window_end);
      f(*c, cb, lo, hi, whole);
    }
  }

  SeriesStats stats(std::size_t series, IntervalRange r, std::uint64_t window_end) const {
    SeriesStats out;
    for_each_chunk(
        r, window_end,
        [&](const window_detail::Chunk& c, std::uint64_t, std::size_t lo, std::size_t hi, bool whole) {
          if (whole) {
            window_detail::merge_column(c.columns[series], out);
          } else {
            window_detail::scan_column(c, series, lo, hi, out);
          }
        });
    return out;
  }
};

}  // namespace cgscope::model
