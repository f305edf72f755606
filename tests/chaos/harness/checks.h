// The end-of-run reads of a chaos run: the final value of every key (read
// linearizably, recorded in the history like any operation), and the replica
// check (every node holds identical data at the same applied index).
//
// Threads: one caller thread; the clients are the caller's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/kv.pb.h"
#include "src/client/client.h"
#include "tests/chaos/harness/stop_flag.h"
#include "tests/chaos/history.h"

namespace raftkv::chaos {

// Reads each key with a linearizable Get until it succeeds or `timeout`
// passes; appends every attempt to history as process `process` with ids
// from *next_id. Returns key -> value of the keys that exist.
absl::StatusOr<std::map<std::string, std::string>> ReadFinalState(
    client::Client& client, const std::vector<std::string>& keys, int process, int64_t* next_id,
    History* history, absl::Duration timeout);

struct ReplicaReport {
  bool converged = false;      // every node reported the same applied index
  uint64_t applied_index = 0;  // that index (when converged)
  int mismatches = 0;          // nodes whose data differs from the majority's
  std::vector<std::string> problems;
  std::map<int, std::string> dumps;  // node -> DumpRange of its data
};

// Waits (up to timeout) until every node (endpoints[i] is node i+1) reports
// the same applied index, reads each node's whole key space with a
// serializable Range sent to that node only, and confirms the applied indexes
// did not move meanwhile; then compares the data.
ReplicaReport CheckReplicas(const std::vector<std::string>& endpoints, absl::Duration timeout,
                            const StopFlag& stop);

// Canonical text of a Range answer: one line per key with value and metadata.
std::string DumpRange(const raftkv::v1::RangeResponse& response);

}  // namespace raftkv::chaos
