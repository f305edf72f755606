// raftkv::chaos linearizability checker: is a history (history.h) explained
// by some order of its operations that respects real time and the register
// model, key by key?
//
// Model: a register per key, initially absent. write sets it, delete makes it
// absent, cas(expected, new) sets it to new and succeeds iff it holds
// expected (nullopt = absent), else leaves it and fails; read returns it.
// A history is linearizable iff every key's sub-history is
// (P-compositionality), so keys are checked independently.
//
// What each outcome means to the checker:
//   kOk             must be linearized between its invoke and complete;
//   kFailed         had no effect: dropped;
//   kIndeterminate  a read is dropped (no effect, no information); a write,
//                   delete or cas may take effect at any time after its
//                   invoke, or never (return time +infinity, optional).
//
// Algorithm: Wing & Gong's search with Lowe's memoization, as in Porcupine:
// a doubly linked list of call/return events sorted by time (calls before
// returns at equal times: touching operations count as concurrent), a DFS
// that linearizes a pending call, lifts it out of the list, and backtracks
// when it meets a return it could not linearize, and a cache of (set of
// linearized operations, register state) configurations already explored.
// Before the search, exact reductions that rely on written values being unique
// per key (history.h): an indeterminate write or cas whose value some ok
// operation observed must have taken effect before the first observer
// completed, so it becomes a required operation with that return time; one
// whose value nobody observed cannot matter unless an ok cas reported a
// failed compare, so it is dropped otherwise; values nobody refers to are
// merged into one register state. During it: indeterminate operations with
// the same effect are interchangeable (only the earliest unused is tried, a
// configuration counts how many were used) and are tried only just before an
// operation that depends on them; a read (or a cas that did not swap) that can
// come next is the only move tried; a configuration is pruned when a failed
// one with the same linearized set and state used no more indeterminate ops.
// That depth-first search finds linearizations fast but may revisit a cut
// many times to refute a history with many indeterminate ops; when it runs
// out of a quarter of the budget, a breadth-first search over time (Lowe's
// just-in-time linearization, as in Knossos's "linear" checker, same moves
// and reductions, keeping per cut only configurations that use the fewest
// indeterminate ops) takes over with the rest. Both are checked against a
// brute force (linearizability_random_test.cc).
//
// Threads: pure functions; any thread. Memory: the cache holds at most
// max_states_per_key configurations of a few words each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/chaos/history.h"

namespace raftkv::chaos {

struct CheckOptions {
  // Search budget per key (configurations cached); exceeded => the key is
  // reported unknown, never as a violation.
  int64_t max_states_per_key = 5'000'000;
};

struct Violation {
  std::string key;
  // The operations involved: those that could not be linearized after the
  // longest linearizable prefix found, the last few operations of that
  // prefix, and the operation that wrote the register state it ends in.
  std::vector<int64_t> op_ids;
  // Multi-line text a person can read: the key, the end of the longest
  // linearizable prefix found and the register state after it, and the
  // operations that cannot follow it and why; FormatOperation lines, times
  // relative to the key's first operation.
  std::string explanation;
};

struct KeyResult {
  std::string key;
  bool linearizable = false;  // true when a linearization was found
  bool unknown = false;       // budget exhausted: neither found nor refuted
  int64_t states_explored = 0;
  size_t ops = 0;  // operations on this key in the history (all outcomes)
};

struct CheckResult {
  // No violation (unknown keys count as ok, but are listed in `keys`).
  bool ok() const { return violations.empty(); }
  std::vector<Violation> violations;  // at most one per key, ordered by key
  std::vector<KeyResult> keys;        // ordered by key
};

CheckResult CheckLinearizable(const History& history, const CheckOptions& options = {});

}  // namespace raftkv::chaos
