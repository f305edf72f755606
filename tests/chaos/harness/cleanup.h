// CleanupRegistry: what to tear down if the harness must stop at once (a
// second SIGINT/SIGTERM while the orderly clean-up is still running): the pids
// of the raftkv processes it started and the tags of its networks.
//
// The orderly path never needs it (Network and NodeProcesses clean up in their
// destructors); it is the last resort of main's signal thread.
// Threads: every method is safe from any thread.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>

namespace raftkv::chaos {

class CleanupRegistry {
 public:
  void AddPid(pid_t pid);
  void RemovePid(pid_t pid);
  void AddNetworkTag(int tag);
  void RemoveNetworkTag(int tag);
  // SIGKILLs every registered pid, then removes every registered network.
  void EmergencyCleanup();

 private:
  std::mutex mu_;
  std::set<pid_t> pids_;  // guarded by mu_
  std::set<int> tags_;    // guarded by mu_
};

}  // namespace raftkv::chaos
