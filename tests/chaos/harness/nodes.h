// NodeProcesses: the raftkv processes of one chaos run, each started as
// `ip netns exec <namespace> <raftkv> <flags>` with stdout and stderr appended
// to its log file. `ip netns exec` execs raftkv in place, so the child's pid
// is raftkv's own; Start verifies that through /proc/<pid>/exe before it
// returns, and every fault is then aimed at that pid.
//
// Children run in their own process group (a terminal's Ctrl-C reaches only
// the harness, which cleans up) and die with the harness (PR_SET_PDEATHSIG;
// hence every method that forks must be called from the one thread that owns
// this object and outlives the run).
//
// Invariants: a node is "running" from a verified Start until Kill reaps it or
// an unexpected exit is reaped by ReapUnexpectedExits; a paused node is
// running. The destructor SIGKILLs and reaps every running node.
// Threads: one owner thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/chaos/harness/cleanup.h"

namespace raftkv::chaos {

struct NodeLaunch {
  std::string netns;               // namespace to run in
  std::string raftkv_path;         // absolute path of the raftkv binary
  std::vector<std::string> flags;  // raftkv's flags
  std::string log_path;            // appended to across restarts
};

class NodeProcesses {
 public:
  // registry (may be null) learns every pid for the emergency clean-up.
  NodeProcesses(std::map<int, NodeLaunch> launches, CleanupRegistry* registry);
  ~NodeProcesses();
  NodeProcesses(const NodeProcesses&) = delete;
  NodeProcesses& operator=(const NodeProcesses&) = delete;

  // Starts node; FailedPrecondition if it is running. Waits (up to 5 s) until
  // the pid is raftkv itself; if the process dies first, the error quotes its
  // log's tail.
  absl::Status Start(int node);
  // kill -9 and reap. Returns how the process ended ("killed by signal 9"),
  // which the caller checks to verify the fault.
  absl::StatusOr<std::string> Kill(int node);
  // Sends sig to a running node without waiting for it (a power cut: SIGUSR2).
  absl::Status Signal(int node, int sig);
  // Reaps a node that was sent a signal that ends it, SIGKILLing it after
  // `wait`; returns how it ended ("exited with status 86").
  absl::StatusOr<std::string> Reap(int node, int wait_ms);
  // SIGSTOP / SIGCONT, each verified in /proc/<pid>/stat (state 'T' or not).
  absl::Status Pause(int node);
  absl::Status Resume(int node);

  bool Running(int node) const;
  bool Paused(int node) const;
  pid_t Pid(int node) const;  // 0 if not running
  std::vector<int> Nodes() const;
  const NodeLaunch& Launch(int node) const { return launches_.at(node); }

  // Reaps nodes that exited on their own (a crash: never expected) and
  // describes each, e.g. "node 2 (pid 812) exited with status 1".
  std::vector<std::string> ReapUnexpectedExits();
  // SIGKILL (also paused ones) and reap every running node.
  void KillAll();

  // The last `lines` lines of node's log.
  std::string LogTail(int node, int lines = 15) const;

 private:
  struct State {
    pid_t pid = 0;
    bool paused = false;
  };

  const std::map<int, NodeLaunch> launches_;
  CleanupRegistry* const registry_;
  std::map<int, State> state_;
};

// The process state letter of /proc/<pid>/stat ('R', 'S', 'T', ...; 0 if gone).
char ProcessState(pid_t pid);
// Where /proc/<pid>/exe points ("" if unreadable).
std::string ProcessExe(pid_t pid);

}  // namespace raftkv::chaos
