// The command line of raftkv_chaos (see kUsage in options.cc).
//
// Threads: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/chaos/harness/schedule.h"

namespace raftkv::chaos {

struct HarnessOptions {
  uint64_t seed = 0;
  bool seed_given = false;
  int duration_s = 30;  // of each schedule
  int schedules = 1;    // seeds seed, seed+1, ...
  int nodes = 3;        // 3 or 5
  int clients = 5;      // >= 5
  int keys = 5;
  std::string raftkv_path;                // empty: next to raftkv_chaos
  std::vector<std::string> unsafe_flags;  // e.g. "--unsafe-test-stale-reads"
  std::vector<FaultKind> faults{std::begin(kAllFaultKinds), std::end(kAllFaultKinds)};
  bool expect_violation = false;
  bool keep = false;
  std::string work_dir = "/tmp/raftkv-chaos";
  int tick_ms = 100;
  int election_ticks = 10;
  int call_timeout_ms = 1500;
  int net_tag = 0;  // 0: the harness's pid
  bool help = false;
};

// The planted-bug flags of raftkv that --unsafe accepts.
inline constexpr const char* kUnsafeFlags[] = {
    "--unsafe-test-stale-reads",
    "--unsafe-test-no-fsync",
    "--unsafe-test-ack-before-commit",
};

// Parses argv[1..]; InvalidArgument with a one-line reason for bad flags.
absl::StatusOr<HarnessOptions> ParseHarnessOptions(const std::vector<std::string>& args);

// The flags that replay one schedule (seed and every option that shapes it).
std::string ReplayFlags(const HarnessOptions& options, uint64_t seed);

extern const char kUsage[];

}  // namespace raftkv::chaos
