// Availability and operation counts of a chaos run, computed from its history
// and the times its faults were injected and healed.
//
//   failover: for each kill of the leader, the time from the kill to the
//     completion of the first write (put, delete or CAS, outcome ok) invoked
//     after it;
//   longest_no_write_after_heal: over every heal (a restart, a SIGCONT, a
//     flushed partition, the final heal), the time from the heal to the
//     completion of the first ok write after it (to the end of the run if
//     none came).
// Threads: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/chaos/harness/schedule.h"
#include "tests/chaos/history.h"

namespace raftkv::chaos {

struct FaultWindow {
  bool leader_kill = false;  // a kKill aimed at the node that was leader
  int64_t inject_ns = 0;
  int64_t heal_ns = 0;
};

struct Availability {
  // One per leader kill; -1 when no write succeeded after it before end_ns.
  std::vector<int64_t> failover_ns;
  int64_t longest_no_write_after_heal_ns = 0;
  // Index into the faults of the heal that window followed (-1 if none).
  int longest_after_fault = -1;
};

Availability ComputeAvailability(const History& history, const std::vector<FaultWindow>& faults,
                                 int64_t end_ns);

struct OpCounts {
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t indeterminate = 0;
};
OpCounts CountOutcomes(const History& history);

// Median and maximum of the non-negative entries (-1 when there are none).
int64_t MedianNs(std::vector<int64_t> values);
int64_t MaxNs(const std::vector<int64_t>& values);

// "1.2s", "0.35s", or "n/a" for a negative value.
std::string Seconds(int64_t ns);

}  // namespace raftkv::chaos
