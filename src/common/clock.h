// Clock: the one way the node reads time, so tests can substitute a fake.
//
// Invariant: NowMicros() of one clock never goes backwards (steady clock).
// Thread-safety: SteadyClock is safe from any thread; FakeClock is for
// single-threaded tests.
#pragma once

#include <chrono>
#include <cstdint>

namespace raftkv {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;
};

class SteadyClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  int64_t NowMicros() const override { return now_micros_; }
  void AdvanceMicros(int64_t delta) { now_micros_ += delta; }

 private:
  int64_t now_micros_ = 0;
};

}  // namespace raftkv
