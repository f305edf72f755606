// raftkv::chaos history: the record of every client operation of a chaos run,
// as the linearizability checker (linearizability.h) and the lost-write check
// consume it, and as the harness writes it to disk (history.jsonl, one
// operation per line; see history_io.h).
//
// The model is a register per key (absent, or holding a string) with four
// operations: read, write (put), delete, and compare-and-swap.
//
// Invariants of a well-formed history (CheckWellFormed reports the first one
// broken):
//   - ids are unique; every operation has a non-empty key;
//   - invoke_ns <= complete_ns for kOk and kFailed operations; an
//     kIndeterminate operation has complete_ns == kNeverCompleted;
//   - a process has at most one operation outstanding at a time: its
//     operations' [invoke, complete] intervals do not overlap (an
//     indeterminate operation ends its process: the harness gives the client
//     a new process number afterwards, as Jepsen does);
//   - every written value (write, and cas new_value) is unique in the history,
//     so that a read identifies the one write it observed.
// Times are nanoseconds on one monotonic clock (CLOCK_MONOTONIC) shared by
// every client thread of the run.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::chaos {

enum class OpType {
  kRead,    // linearizable Range of one key; output: value (nullopt = absent)
  kWrite,   // Put(key, value)
  kDelete,  // DeleteRange of one key
  kCas,     // Txn: if value(key) == expected then Put(key, new_value)
};

enum class Outcome {
  kOk,             // completed; its result is known
  kFailed,         // definitely did not take effect (e.g. refused before proposal)
  kIndeterminate,  // timed out / connection lost: may take effect at any time after invoke
};

inline constexpr int64_t kNeverCompleted = std::numeric_limits<int64_t>::max();

struct Operation {
  int64_t id = 0;   // unique in the history
  int process = 0;  // the logical client; one outstanding operation at a time
  OpType type = OpType::kRead;
  std::string key;

  // Inputs.
  std::optional<std::string> value;     // kWrite: the value written; kCas: the new value
  std::optional<std::string> expected;  // kCas: the value compared with (nullopt = key absent)

  // Outputs (meaningful only when outcome == kOk).
  std::optional<std::string> read_value;  // kRead: the value read (nullopt = key absent)
  bool cas_succeeded = false;             // kCas: whether the compare held and the put happened

  Outcome outcome = Outcome::kOk;
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;  // kNeverCompleted when indeterminate

  // Free text for reports (e.g. the error of a failed or indeterminate call).
  std::string note;
};

using History = std::vector<Operation>;

}  // namespace raftkv::chaos
