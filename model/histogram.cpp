#include "model/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace cgscope::model {

std::size_t Log2Histogram::bucket_of(std::uint64_t value) {
  return value <= 1 ? 0 : static_cast<std::size_t>(std::bit_width(value) - 1);
}

std::uint64_t Log2Histogram::bucket_lower(std::size_t bucket) {
  return bucket == 0 ? 0 : std::uint64_t{1} << bucket;
}

std::uint64_t Log2Histogram::bucket_upper(std::size_t bucket) {
  return bucket >= 63 ? std::numeric_limits<std::uint64_t>::max() : std::uint64_t{1} << (bucket + 1);
}

void Log2Histogram::add(std::uint64_t value, std::uint64_t count) { buckets_[bucket_of(value)] += count; }

void Log2Histogram::add_to_bucket(std::size_t bucket, std::uint64_t count) {
  buckets_[std::min(bucket, kLog2Buckets - 1)] += count;
}

void Log2Histogram::merge(const Log2Histogram& other) {
  for (std::size_t i = 0; i < kLog2Buckets; ++i) buckets_[i] += other.buckets_[i];
}

Log2Histogram Log2Histogram::delta(const Log2Histogram& earlier) const {
  Log2Histogram d;
  for (std::size_t i = 0; i < kLog2Buckets; ++i) {
    if (buckets_[i] < earlier.buckets_[i]) return *this;  // reset: count from zero
    d.buckets_[i] = buckets_[i] - earlier.buckets_[i];
  }
  return d;
}

std::uint64_t Log2Histogram::count() const {
  std::uint64_t n = 0;
  for (std::uint64_t b : buckets_) n += b;
  return n;
}

std::uint64_t Log2Histogram::percentile(double q) const {
  const std::uint64_t total = count();
  if (total == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample we want (1-based), then find its bucket.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kLog2Buckets; ++i) {
    if (buckets_[i] == 0) continue;
    if (static_cast<double>(seen + buckets_[i]) >= rank) {
      // Linear interpolation inside [lower, upper): the k-th of n samples sits at k/n.
      const double lower = static_cast<double>(bucket_lower(i));
      const double upper = static_cast<double>(bucket_upper(i));
      const double frac = (rank - static_cast<double>(seen)) / static_cast<double>(buckets_[i]);
      return static_cast<std::uint64_t>(lower + (upper - lower) * frac);
    }
    seen += buckets_[i];
  }
  return max();
}

std::uint64_t Log2Histogram::max() const {
  for (std::size_t i = kLog2Buckets; i-- > 0;)
    if (buckets_[i] != 0) return bucket_upper(i);
  return 0;
}

}  // namespace cgscope::model
