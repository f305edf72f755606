// StopFlag: the harness's one "stop now" signal (SIGINT/SIGTERM, or the end of
// a run), with waits that return early when it is raised. Every sleep of the
// harness goes through Wait so that an interrupt is answered within
// milliseconds and the clean-up (processes, namespaces, nft tables) runs.
//
// Invariant: once raised, a flag stays raised.
// Threads: every method is safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace raftkv::chaos {

class StopFlag {
 public:
  void Raise();
  bool raised() const { return raised_.load(std::memory_order_acquire); }
  // Sleeps for d or until the flag is raised; returns raised().
  bool Wait(absl::Duration d) const;

 private:
  std::atomic<bool> raised_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

// CLOCK_MONOTONIC in nanoseconds: the one clock of histories and fault logs.
int64_t MonotonicNanos();

}  // namespace raftkv::chaos
