#include "tests/chaos/harness/stop_flag.h"

#include <time.h>

#include <chrono>

namespace raftkv::chaos {

void StopFlag::Raise() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    raised_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

bool StopFlag::Wait(absl::Duration d) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return raised(); });
  return raised();
}

int64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace raftkv::chaos
