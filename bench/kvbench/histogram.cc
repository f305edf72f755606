#include "bench/kvbench/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace raftkv::kvbench {

int Histogram::BucketOf(uint64_t value) {
  if (value < kExactLimit) return static_cast<int>(value);
  // e >= kSubBucketBits + 1: the power of two of value.
  const int e = 63 - __builtin_clzll(value);
  const int shift = e - kSubBucketBits;
  // (value >> shift) is in [kSubBuckets, 2 * kSubBuckets).
  return static_cast<int>(static_cast<uint64_t>(shift) * kSubBuckets + (value >> shift));
}

uint64_t Histogram::BucketLow(int bucket) {
  const uint64_t b = static_cast<uint64_t>(bucket);
  if (b < kExactLimit) return b;
  const uint64_t shift = b / kSubBuckets - 1;
  const uint64_t sub = b - shift * kSubBuckets;  // in [kSubBuckets, 2 * kSubBuckets)
  return sub << shift;
}

uint64_t Histogram::BucketHigh(int bucket) {
  if (bucket + 1 >= kNumBuckets) return std::numeric_limits<uint64_t>::max();
  return BucketLow(bucket + 1) - 1;
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  ++count_;
  sum_ += static_cast<double>(value);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kNumBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() {
  counts_.fill(0);
  count_ = 0;
  sum_ = 0;
  min_ = std::numeric_limits<uint64_t>::max();
  max_ = 0;
}

double Histogram::Mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int i = 0; i < kNumBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t low = BucketLow(i);
      const uint64_t mid = low + (BucketHigh(i) - low) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;  // unreachable while the invariant holds
}

}  // namespace raftkv::kvbench
