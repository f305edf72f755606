// ProcessCluster: a test harness that runs real raftkv server processes on
// unused loopback ports (UnusedLoopbackPort: outside the range the kernel
// gives outgoing connections, so the nodes dialling each other cannot take a
// port before its node binds it), each with its own data directory and log
// file, and kills every one of them when it is destroyed (also when a test
// fails).
//
// Waits are on conditions with deadlines (polling Status), never fixed sleeps.
// Thread-safety: one test thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/client/client.h"

namespace raftkv::testing {

struct ProcessClusterOptions {
  int nodes = 3;
  int tick_ms = 20;
  int election_ticks = 10;
  std::vector<std::string> extra_flags;
};

class ProcessCluster {
 public:
  // Starts nothing yet; Start() launches every node.
  explicit ProcessCluster(ProcessClusterOptions options = ProcessClusterOptions());
  ~ProcessCluster();

  absl::Status Start();
  // Starts node id (1-based) with its usual flags plus extra ones.
  absl::Status StartNode(int id, const std::vector<std::string>& extra = {});
  // kill -9.
  void Kill(int id);
  // Power cuts (nodes started with --test-power-cut-signal): SIGUSR2 to every
  // running node, then waits for each to exit; returns how each ended
  // ("exited with status 86" is a cut).
  std::vector<std::string> PowerCutAll();
  // SIGSTOP / SIGCONT: the process stays, silent (its sockets still accept).
  void Pause(int id);
  void Resume(int id);
  // SIGTERM and wait for exit (deadline 10 s, then SIGKILL).
  void Stop(int id);
  bool Running(int id) const;

  // Waits until some node reports itself leader, a majority agree on it and
  // every running node answers. Fails at once, with the end of its log, if a
  // started node exited by itself (a bad flag, a port in use, a crash).
  absl::StatusOr<int> WaitForLeader(absl::Duration timeout = absl::Seconds(20));
  // Waits until node id has applied at least index.
  absl::Status WaitForApplied(int id, uint64_t index, absl::Duration timeout = absl::Seconds(20));

  std::string ClientAddress(int id) const;
  std::string PeerAddress(int id) const;
  std::vector<std::string> ClientAddresses() const;
  std::string DataDir(int id) const;
  std::string LogFile(int id) const;
  // Flags node id is started with (without extra ones).
  std::vector<std::string> Flags(int id) const;
  // A client for every node, or for one node only.
  std::unique_ptr<client::Client> NewClient(absl::Duration timeout = absl::Seconds(5)) const;
  std::unique_ptr<client::Client> NewClientFor(int id,
                                               absl::Duration timeout = absl::Seconds(5)) const;
  // Runs a program to completion; returns its exit code and stdout+stderr.
  static std::pair<int, std::string> RunCommand(const std::vector<std::string>& argv,
                                                const std::string& stdin_text = "");
  // The last lines of node id's log (for failure messages).
  std::string LogTail(int id, int lines = 20) const;

 private:
  // An error naming the first started node that has exited without Kill or
  // Stop (and marks it not running), else OK.
  absl::Status CheckNoNodeExited();

  ProcessClusterOptions options_;
  std::string root_;
  std::map<int, int> client_ports_;
  std::map<int, int> peer_ports_;
  std::map<int, pid_t> pids_;
};

// The path of a binary next to the test binaries (build/bin/NAME).
std::string BinaryPath(const std::string& name);

}  // namespace raftkv::testing
