#include "model/histogram.hpp"

#include <gtest/gtest.h>

#include <limits>

using cgscope::model::Log2Histogram;

TEST(HistogramTest, BucketBoundariesMatchTheKernelSide) {
  EXPECT_EQ(Log2Histogram::bucket_of(0), 0u);
  EXPECT_EQ(Log2Histogram::bucket_of(1), 0u);
  EXPECT_EQ(Log2Histogram::bucket_of(2), 1u);
  EXPECT_EQ(Log2Histogram::bucket_of(3), 1u);
  EXPECT_EQ(Log2Histogram::bucket_of(4), 2u);
  EXPECT_EQ(Log2Histogram::bucket_of(1023), 9u);
  EXPECT_EQ(Log2Histogram::bucket_of(1024), 10u);
  EXPECT_EQ(Log2Histogram::bucket_of(std::numeric_limits<std::uint64_t>::max()), 63u);
  for (std::size_t b = 1; b < 63; ++b) {
    EXPECT_EQ(Log2Histogram::bucket_of(Log2Histogram::bucket_lower(b)), b);
    EXPECT_EQ(Log2Histogram::bucket_of(Log2Histogram::bucket_upper(b) - 1), b);
  }
}

TEST(HistogramTest, EmptyHistogramHasZeroPercentiles) {
  Log2Histogram h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(HistogramTest, PercentilesInterpolateInsideTheBucket) {
  Log2Histogram h;
  h.add(1500, 100);  // bucket [1024, 2048)
  EXPECT_EQ(h.count(), 100u);
  const auto p50 = h.percentile(0.5);
  EXPECT_GE(p50, 1024u);
  EXPECT_LT(p50, 2048u);
  EXPECT_NEAR(static_cast<double>(p50), 1024 + 1024 * 0.5, 1.0);
  EXPECT_EQ(h.max(), 2048u);
}

TEST(HistogramTest, PercentilesPickTheRightBucket) {
  Log2Histogram h;
  h.add(100, 90);        // [64,128)
  h.add(1'000'000, 9);   // [2^19, 2^20)
  h.add(100'000'000, 1); // [2^26, 2^27)
  EXPECT_LT(h.percentile(0.50), 128u);
  EXPECT_GE(h.percentile(0.95), 1u << 19);
  EXPECT_LT(h.percentile(0.95), 1u << 20);
  EXPECT_GE(h.percentile(0.999), 1u << 26);
  EXPECT_EQ(h.percentile(1.0), h.percentile(0.9999));
  EXPECT_EQ(h.max(), 1u << 27);
  // Out-of-range quantiles clamp instead of misbehaving.
  EXPECT_EQ(h.percentile(-1), h.percentile(0));
  EXPECT_EQ(h.percentile(2), h.percentile(1));
}

TEST(HistogramTest, MergeAndDeltaAreInverse) {
  Log2Histogram a, b;
  a.add(10, 3);
  a.add(5000, 2);
  b.add(10, 1);
  b.add(70000, 4);
  Log2Histogram sum = a;
  sum.merge(b);
  EXPECT_EQ(sum.count(), 10u);
  EXPECT_EQ(sum.delta(a), b);
  EXPECT_EQ(sum.delta(b), a);
}

TEST(HistogramTest, DeltaCountsFromZeroOnReset) {
  Log2Histogram older, newer;
  older.add(100, 10);
  older.add(5000, 3);
  newer.add(100, 4);  // went backwards (collector restarted): counts since the reset
  newer.add(5000, 7);
  EXPECT_EQ(newer.delta(older), newer);
  EXPECT_EQ(newer.delta(older).count(), 11u);
}

TEST(HistogramTest, AddToBucketClampsIndex) {
  Log2Histogram h;
  h.add_to_bucket(1000, 5);
  EXPECT_EQ(h.buckets()[63], 5u);
}
