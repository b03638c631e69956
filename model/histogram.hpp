// Log2 histogram of nanosecond values, the in-kernel aggregation format of every collector.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cgscope::model {

// Bucket i holds values v with floor(log2(v)) == i, i.e. [2^i, 2^(i+1)); 0 and 1 land in
// bucket 0. This is exactly what the BPF side computes (collector/common/log2.bpf.h).
inline constexpr std::size_t kLog2Buckets = 64;

class Log2Histogram {
 public:
  using Buckets = std::array<std::uint64_t, kLog2Buckets>;

  static std::size_t bucket_of(std::uint64_t value);
  // Inclusive lower bound and exclusive upper bound of a bucket (saturates at UINT64_MAX).
  static std::uint64_t bucket_lower(std::size_t bucket);
  static std::uint64_t bucket_upper(std::size_t bucket);

  void add(std::uint64_t value, std::uint64_t count = 1);
  void add_to_bucket(std::size_t bucket, std::uint64_t count);
  void merge(const Log2Histogram& other);
  // Counts added since `earlier` (an older cumulative reading of the same histogram). A bucket
  // that went down means the histogram was reset (collector restarted, slot reused): then the
  // delta is the whole current histogram, as counters count from zero after a reset.
  Log2Histogram delta(const Log2Histogram& earlier) const;

  std::uint64_t count() const;
  bool empty() const { return count() == 0; }
  // Value below which a fraction q (0..1) of the samples lie, linearly interpolated inside the
  // bucket that holds it. 0 for an empty histogram.
  std::uint64_t percentile(double q) const;
  // Upper bound of the highest non-empty bucket (the histogram cannot know the exact max).
  std::uint64_t max() const;

  const Buckets& buckets() const { return buckets_; }
  bool operator==(const Log2Histogram&) const = default;

 private:
  Buckets buckets_{};
};

}  // namespace cgscope::model
