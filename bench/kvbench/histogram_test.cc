// Histogram against the naive answer: sort every value and index it.
#include "bench/kvbench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "src/common/rng.h"

namespace raftkv::kvbench {
namespace {

// The nearest-rank percentile of sorted values.
uint64_t Exact(const std::vector<uint64_t>& sorted, double q) {
  uint64_t rank = static_cast<uint64_t>(std::ceil(q / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectClose(uint64_t got, uint64_t want, double q, uint64_t seed) {
  const double tolerance = std::max(1.0, static_cast<double>(want) * 0.01);
  EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)), tolerance)
      << "q=" << q << " got " << got << " want " << want << " (seed " << seed << ")";
}

TEST(HistogramTest, BucketsTileTheRangeWithinOnePercent) {
  EXPECT_EQ(Histogram::BucketLow(0), 0u);
  for (int b = 0; b + 1 < Histogram::kNumBuckets; ++b) {
    const uint64_t low = Histogram::BucketLow(b);
    const uint64_t high = Histogram::BucketHigh(b);
    ASSERT_LE(low, high) << "bucket " << b;
    ASSERT_EQ(Histogram::BucketLow(b + 1), high + 1) << "bucket " << b;
    ASSERT_EQ(Histogram::BucketOf(low), b);
    ASSERT_EQ(Histogram::BucketOf(high), b);
    // Width relative to the smallest value of the bucket.
    if (low >= Histogram::kExactLimit) {
      ASSERT_LE(static_cast<double>(high - low + 1) / static_cast<double>(low), 1.0 / 128 + 1e-12);
    } else {
      ASSERT_EQ(low, high);
    }
  }
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::kNumBuckets - 1);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kNumBuckets - 1), UINT64_MAX);
}

TEST(HistogramTest, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Mean(), 0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_DOUBLE_EQ(h.Mean(), 50.5);
}

TEST(HistogramTest, PercentilesMatchSortingOnRandomLatencies) {
  const double qs[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    Histogram h;
    std::vector<uint64_t> values;
    const int n = 1 + static_cast<int>(rng.Uniform(50000));
    for (int i = 0; i < n; ++i) {
      // Log-uniform from 1 ns to ~17 s, with a heavy tail, like latencies.
      const int bits = static_cast<int>(rng.Uniform(35));
      const uint64_t v = (uint64_t{1} << bits) + rng.Uniform(uint64_t{1} << bits);
      values.push_back(v);
      h.Record(v);
    }
    std::sort(values.begin(), values.end());
    ASSERT_EQ(h.count(), values.size());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    for (double q : qs) ExpectClose(h.Percentile(q), Exact(values, q), q, seed);
  }
}

TEST(HistogramTest, MergeEqualsRecordingEverything) {
  Rng rng(7);
  Histogram a, b, all;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t v = rng.Uniform(10000000);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.Percentile(q), all.Percentile(q));
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(50), 0u);
}

}  // namespace
}  // namespace raftkv::kvbench
