// The fault schedule of one chaos run: a seeded, deterministic list of faults
// with their start times and durations, generated before the run starts.
//
// A schedule says what to do and when, not to which node: "kill the leader",
// "pause a follower", "split the cluster". The concrete nodes are chosen when
// the fault is injected (the leader is only known then), from the fault's own
// random word `choice`, so a seed replays the same decisions given the same
// leaders.
//
// Invariants of GenerateSchedule's output: faults do not overlap (each one is
// healed before the next starts, with a quiet gap of quiet_min..quiet_max
// between them); every fault lies within [warmup, duration]; indexes are
// 0, 1, 2, ...; the same options give the same schedule.
// Threads: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace raftkv::chaos {

enum class FaultKind {
  kKill,           // kill -9 one node, restart it after `duration`
  kPause,          // SIGSTOP one node, SIGCONT after `duration` (1-10 s)
  kIsolateLeader,  // cut the leader off from every other node (both ways)
  kSplit,          // a random minority | majority split (both ways)
  kBridge,         // two halves that do not see each other, one node seeing both
  kOneWay,         // one node drops packets from some others; they still hear it
  kPowerCut,       // every node loses its unsynced Raft log writes and stops
                   // (raftkv --test-power-cut-signal); all restart after `duration`
};

inline constexpr FaultKind kAllFaultKinds[] = {
    FaultKind::kKill,   FaultKind::kPause,  FaultKind::kIsolateLeader, FaultKind::kSplit,
    FaultKind::kBridge, FaultKind::kOneWay, FaultKind::kPowerCut,
};

// "kill", "pause", "isolate", "split", "bridge", "oneway", "powercut".
const char* FaultKindName(FaultKind kind);
absl::StatusOr<FaultKind> ParseFaultKind(absl::string_view name);
// A comma-separated list of names, or "all".
absl::StatusOr<std::vector<FaultKind>> ParseFaultKinds(absl::string_view list);
bool IsPartition(FaultKind kind);

// Which node a kill, pause or one-way drop is aimed at.
enum class Role { kLeader, kFollower };

struct ScheduledFault {
  int index = 0;
  FaultKind kind = FaultKind::kKill;
  Role role = Role::kLeader;  // kKill, kPause, kOneWay only
  int64_t start_ms = 0;       // since the start of the schedule
  int64_t duration_ms = 0;    // from injection to heal
  uint64_t choice = 0;        // random bits for choosing nodes at injection

  bool operator==(const ScheduledFault& o) const {
    return index == o.index && kind == o.kind && role == o.role && start_ms == o.start_ms &&
           duration_ms == o.duration_ms && choice == o.choice;
  }
};

struct ScheduleOptions {
  uint64_t seed = 0;
  int64_t duration_ms = 30'000;
  std::vector<FaultKind> kinds{std::begin(kAllFaultKinds), std::end(kAllFaultKinds)};
  // No fault in the first warmup_ms (the cluster elects and clients start).
  int64_t warmup_ms = 2'000;
  int64_t quiet_min_ms = 1'000;
  int64_t quiet_max_ms = 3'000;
  // A fault shorter than this (cut by the end of the schedule) is not scheduled.
  int64_t min_fault_ms = 1'000;
};

std::vector<ScheduledFault> GenerateSchedule(const ScheduleOptions& options);

// The duration range of a kind, in ms: kill 1-5 s down, pause 1-10 s,
// partitions 2-8 s.
std::pair<int64_t, int64_t> FaultDurationRangeMs(FaultKind kind);

// One line for logs: "#3 at 12.4s for 3.1s: kill leader".
std::string FormatScheduledFault(const ScheduledFault& fault);

}  // namespace raftkv::chaos
