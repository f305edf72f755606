// raftkv::chaos::testing random histories: clients running against a
// simulated atomic register per key, so every history is linearizable by
// construction. For the checker's tests and benchmark only.
//
// Each process issues operations back to back (a random gap, then a random
// duration); each operation takes effect at a random instant inside its
// interval, and outputs (read values, cas results) come from applying the
// operations in the order of those instants. Written values are unique
// ("v<id>"). A cas expects, as the harness's clients do, what its client last
// saw of the key (absent when it does not know), or, with
// CasExpectation::kRecentWrite, one of the key's last three written values,
// indeterminate ones included (harder for the checker). An indeterminate
// operation takes effect (at a random instant after its invoke, possibly long
// after) or not, with equal chance, and ends its process (the client
// continues under a new process number, as the harness does); a failed one
// has no effect.
//
// Threads: pure function; any thread.
#pragma once

#include <cstdint>

#include "tests/chaos/history.h"

namespace raftkv::chaos::testing {

enum class CasExpectation { kLastSeen, kRecentWrite };

struct RandomHistoryOptions {
  uint64_t seed = 1;
  int ops = 1000;
  int keys = 1;
  int clients = 5;  // concurrent processes at any time
  // Operation mix (relative weights; the harness's by default).
  int read_weight = 40;
  int write_weight = 30;
  int delete_weight = 10;
  int cas_weight = 20;
  CasExpectation cas_expects = CasExpectation::kLastSeen;
  double indeterminate_fraction = 0.02;
  double failed_fraction = 0.01;
  int64_t max_gap_ns = 200;        // between a client's operations
  int64_t max_duration_ns = 1000;  // of an operation
  // How long after its invoke an indeterminate operation may take effect.
  int64_t max_indeterminate_delay_ns = 20000;
};

History SimulateRegisterHistory(const RandomHistoryOptions& options);

}  // namespace raftkv::chaos::testing
