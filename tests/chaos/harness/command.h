// Running short helper programs (ip, nft) to completion with a time limit,
// capturing what they print.
//
// Children start with an empty signal mask (the harness blocks SIGINT and
// SIGTERM in its own threads; see main.cc) and stdin from `stdin_text`.
// Threads: safe from any thread (fork/exec only; nothing shared).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace raftkv::chaos {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (argv[0] looked up in PATH). An error only when the program could
// not be run or did not finish within `timeout` (then it is killed).
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& stdin_text = "",
                                         absl::Duration timeout = absl::Seconds(10));

// RunCommand, and an error unless it exited 0; the error names the command and
// quotes its output.
absl::Status RunChecked(const std::vector<std::string>& argv, const std::string& stdin_text = "",
                        absl::Duration timeout = absl::Seconds(10));

// "ip netns exec rkc123n1 nft -f -" for messages.
std::string CommandText(const std::vector<std::string>& argv);

}  // namespace raftkv::chaos
