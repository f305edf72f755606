// Histogram: a log-linear latency histogram in the style of HdrHistogram.
//
// Values (e.g. nanoseconds) below 2^(kSubBucketBits+1) = 256 get one bucket
// each (exact). Above, each power of two [2^e, 2^(e+1)) is split into 2^7 =
// 128 equal buckets of width 2^(e-7), so a bucket is at most 1/128 (0.78%) of
// the values in it; a percentile is reported as its bucket's midpoint, within
// 0.4% of a value in that bucket. Count, sum, min and max are exact.
//
// Percentile(q) is the nearest-rank percentile: the value of rank
// ceil(q/100 * count) in sorted order (rank 1 for q = 0), i.e. what sorting all
// values and indexing would give, to the bucket's precision (and clamped to
// [min, max], so Percentile(100) == max exactly).
//
// Invariants: count() == sum of the bucket counts; min() <= max() when
// count() > 0. Memory is fixed (kNumBuckets counters, ~58 KiB); Record is O(1)
// and allocation-free.
// Threads: none; one owner (merge per-thread histograms with Merge).
#pragma once

#include <array>
#include <cstdint>

namespace raftkv::kvbench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // 128
  // Values < kExactLimit have a bucket each.
  static constexpr uint64_t kExactLimit = kSubBuckets * 2;  // 256
  // Index of the last bucket (of values up to 2^64 - 1), plus one.
  static constexpr int kNumBuckets = (64 - kSubBucketBits) * kSubBuckets + kSubBuckets;

  Histogram() { Reset(); }

  void Record(uint64_t value);
  // Adds every value recorded in other.
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double Mean() const;
  // q in [0, 100]; 0 when empty.
  uint64_t Percentile(double q) const;

  // The bucket of a value, and the smallest and largest values of a bucket
  // (exposed for tests).
  static int BucketOf(uint64_t value);
  static uint64_t BucketLow(int bucket);
  static uint64_t BucketHigh(int bucket);

 private:
  std::array<uint64_t, kNumBuckets> counts_;
  uint64_t count_;
  // Sum as a double: 2^64 ns overflows no double, and the mean needs no more.
  double sum_;
  uint64_t min_;
  uint64_t max_;
};

}  // namespace raftkv::kvbench
