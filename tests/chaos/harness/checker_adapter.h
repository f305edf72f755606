// The harness's one door to the checker library (tests/chaos/checker:
// history I/O, linearizability, lost writes). A run whose history could not
// be checked (available == false) never passes.
//
// Threads: pure functions (the checker's own threading, if any, is its own).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/chaos/history.h"

namespace raftkv::chaos {

struct CheckReport {
  bool available = false;  // the checker was built in
  absl::Status well_formed;
  int violations = 0;
  int lost_writes = 0;
  // Keys whose linearizability search gave up (state limit): not decided.
  std::vector<std::string> undecided_keys;
  int64_t states_explored = 0;
  // Readable explanations, the offending operations included.
  std::vector<std::string> findings;
};

// Writes history.jsonl (one operation per line).
absl::Status SaveHistory(const History& history, const std::string& path);

// Writes final.json ({"k0": "value", "k1": null, ...}: every key, null when
// absent), the form raftkv_check_history --final reads.
absl::Status SaveFinalState(const std::vector<std::string>& keys,
                            const std::map<std::string, std::string>& final_state,
                            const std::string& path);

CheckReport CheckHistory(const History& history,
                         const std::map<std::string, std::string>& final_state);

}  // namespace raftkv::chaos
