// Nemesis: injects the faults of a schedule into a running cluster, one at a
// time, verifies that each really happened, heals it, and logs both to
// faults.log.
//
// Verification: a kill is verified by reaping the process with "killed by
// signal 9"; a power cut by reaping every node with "exited with status 86"
// (raftkv's power_cut::kExitCode, after dropping its unsynced log writes); a pause by
// /proc/<pid>/stat showing state 'T' after SIGSTOP (and not after SIGCONT); a partition by reading
// every namespace's table back
// (`nft list table inet raftkv_chaos`) and finding exactly the planned drop
// rules, and none after the heal.
//
// Invariants: at most one fault is active; after Run returns (also when
// stopped early) the active fault, if any, has been healed; HealAll leaves
// every node running, none paused and every chain empty (or says why not).
// Threads: one owner thread (the one that owns NodeProcesses).
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/client/client.h"
#include "tests/chaos/harness/metrics.h"
#include "tests/chaos/harness/network.h"
#include "tests/chaos/harness/nodes.h"
#include "tests/chaos/harness/schedule.h"
#include "tests/chaos/harness/stop_flag.h"

namespace raftkv::chaos {

struct FaultRecord {
  ScheduledFault fault;
  std::string targets;  // e.g. "node 2 (leader, pid 812)", "{1} | {2,3}"
  bool leader_kill = false;
  bool injected = false;  // verified to have happened
  bool healed = false;    // verified to be undone
  int64_t inject_ns = 0;
  int64_t heal_ns = 0;
  std::string detail;  // evidence, or what went wrong
};

class Nemesis {
 public:
  // endpoints[i] is node i+1's client address. log receives faults.log lines.
  Nemesis(Network& network, NodeProcesses& nodes, std::vector<std::string> endpoints,
          const StopFlag& stop, const std::string& log_path);

  // Runs the faults at start_ms after t0_ns (monotonic), each at least
  // min_quiet after the previous heal (finding the leader and healing take
  // time the schedule does not know); returns when the schedule is done or the
  // stop flag is raised (healing the active fault).
  void Run(const std::vector<ScheduledFault>& schedule, int64_t t0_ns);
  // SIGCONT every paused node, restart every dead one, flush every chain.
  absl::Status HealAll();

  // The node every reachable node agrees leads in the highest term, 0 if none
  // within `wait` (polling).
  int FindLeader(absl::Duration wait);

  const std::vector<FaultRecord>& records() const { return records_; }
  // Nodes that exited without being killed (crashes), as described by
  // NodeProcesses::ReapUnexpectedExits; each was restarted.
  const std::vector<std::string>& crashes() const { return crashes_; }
  // The injected faults' windows, in the order of records().
  std::vector<FaultWindow> Windows() const;
  // Writes a line to faults.log, stamped with the time since t0.
  void Log(const std::string& line);

 private:
  void Execute(const ScheduledFault& fault, FaultRecord* record);
  void ExecuteKill(const ScheduledFault& fault, FaultRecord* record);
  void ExecutePause(const ScheduledFault& fault, FaultRecord* record);
  void ExecutePowerCut(const ScheduledFault& fault, FaultRecord* record);
  void ExecutePartition(const ScheduledFault& fault, FaultRecord* record);
  // Restarts crashed nodes (recording the crashes).
  void CheckCrashes();
  // The node a kill/pause/one-way fault aims at; fills why.
  int PickNode(const ScheduledFault& fault, int leader, std::string* why);
  // Whether every namespace holds exactly the rules of plan (empty plan:
  // none); explains the first difference.
  bool VerifyRules(const PartitionPlan& plan, std::string* why);
  // A fresh client for Status calls: a Client's channel to a node that was
  // down can stay in gRPC's reconnect back-off for seconds after the node is
  // back, which would hide a leader; new channels connect at once.
  std::unique_ptr<client::Client> NewStatusClient() const;

  Network& network_;
  NodeProcesses& nodes_;
  const std::vector<std::string> endpoints_;
  const StopFlag& stop_;
  std::ofstream log_;
  int64_t t0_ns_ = 0;
  std::vector<FaultRecord> records_;
  std::vector<std::string> crashes_;
};

}  // namespace raftkv::chaos
