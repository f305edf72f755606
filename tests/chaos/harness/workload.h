// Workload: the concurrent clients of a chaos run and the history they record
// (tests/chaos/history.h).
//
// Each client thread owns a raftkv::client::Client over every node's address
// with a short call timeout (so faults produce indeterminate operations). Like
// Jepsen's clients, which are bound to one node each, a thread has a home node
// (listed first, so a fresh Client sends there first) and starts over with a
// fresh Client, without a leader hint, after every indeterminate operation and
// every fresh_client_min_ops..2x operations: reads then reach every node, not
// only the leader, and a node that serves reads it must not is caught. It
// loops: pick a key of the small key set and an operation (linearizable read,
// put of a unique value "p<process>-<seq>", delete, or compare-and-swap Txn
// whose expected value is what this thread last saw of the key), time it on
// CLOCK_MONOTONIC, classify the outcome (ClassifyFailure), record it. After an
// indeterminate operation the thread continues as a new process number, as
// history.h requires.
//
// Invariants: operation ids and process numbers are unique across the run;
// written values are unique; a process has one operation outstanding.
// Threads: Start/Stop/TakeHistory from one owner thread; the client threads
// touch only their own state (their Client and history) and atomic counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/client/client.h"
#include "tests/chaos/history.h"

namespace raftkv::chaos {

// How a failed call of the client library counts in the history, from its
// error contract (src/client/client.h):
//   - a read (kRead) that failed had no effect: kFailed;
//   - a write the library says "may or may not have been applied" (UNAVAILABLE
//     after the request reached a node, DEADLINE_EXCEEDED): kIndeterminate;
//   - a write that every attempt failed before it could be proposed ("no
//     endpoint answered": not-leader answers, connections never made, full
//     queues), or refused as INVALID_ARGUMENT / RESOURCE_EXHAUSTED: kFailed;
//   - anything else: kIndeterminate (always safe).
Outcome ClassifyFailure(OpType type, const absl::Status& status);

// "k0", "k1", ... the keys of a run.
std::vector<std::string> KeyNames(int keys);

struct WorkloadOptions {
  std::vector<std::string> endpoints;  // every node's client address
  int clients = 5;
  int keys = 5;
  uint64_t seed = 0;
  absl::Duration call_timeout = absl::Milliseconds(1500);
  absl::Duration dial_timeout = absl::Milliseconds(500);
  // Each thread pauses 0..think_max between operations.
  absl::Duration think_max = absl::Milliseconds(5);
  // A thread starts a fresh Client after this many to twice this many
  // operations (and after every indeterminate one).
  int fresh_client_min_ops = 20;
};

class Workload {
 public:
  explicit Workload(WorkloadOptions options);
  ~Workload();  // stops and joins
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  absl::Status Start();
  // Asks the threads to finish their current operation and joins them (each
  // finishes within one call timeout).
  void Stop();
  // The merged history (ordered by invocation). Call after Stop.
  History TakeHistory();
  // A fresh process number, for operations of the harness itself (the final
  // reads).
  int NewProcess() { return next_process_.fetch_add(1); }
  // Ok writes so far (any thread); for progress reports.
  int64_t ok_writes() const { return ok_writes_.load(std::memory_order_relaxed); }
  // Completion time of the last ok write (0 if none).
  int64_t last_ok_write_ns() const { return last_ok_write_ns_.load(std::memory_order_relaxed); }

 private:
  void RunClient(int index);
  // Client number `generation` of thread `index`: every node, its home node first.
  absl::StatusOr<std::unique_ptr<client::Client>> NewClient(int index, uint64_t generation) const;

  const WorkloadOptions options_;
  const std::vector<std::string> keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int> next_process_{0};
  std::atomic<int64_t> next_op_id_{1};
  std::atomic<int64_t> ok_writes_{0};
  std::atomic<int64_t> last_ok_write_ns_{0};
  std::vector<std::thread> threads_;
  // One history per thread, merged by TakeHistory; each written only by its
  // thread until Stop joins it.
  std::vector<History> histories_;
};

}  // namespace raftkv::chaos
