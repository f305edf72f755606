// kvbench: a closed-loop load generator for raftkv and etcd (see --help,
// flags.h for the flags and load.h for how the load is applied and measured).
//
// Exit codes: 0 the run finished and some operation succeeded; 1 a runtime
// failure (unreachable endpoint, no leader, failed prefill, nothing
// succeeded); 2 a usage error. Failures are one line on stderr.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/kvbench/flags.h"
#include "bench/kvbench/load.h"
#include "bench/kvbench/report.h"

int main(int argc, char** argv) {
  using namespace raftkv::kvbench;
  // As in the server: gRPC locks absl::Mutexes on every call, and Debian's
  // abseil runs its deadlock detector on each (4-5% of kvbench's CPU in a
  // profile of 64-client reads): CPU the servers on this machine would lose.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const ParseResult parsed = ParseFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.config) {
    std::fputs(parsed.message.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    if (parsed.exit_code != 0) std::fputc('\n', stderr);
    return parsed.exit_code;
  }
  const Config& config = *parsed.config;
  absl::StatusOr<RunResult> result = RunLoad(config);
  if (!result.ok()) {
    std::fprintf(stderr, "kvbench: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  const std::string report =
      config.json ? FormatJson(config, *result) + "\n" : FormatText(config, *result);
  std::fputs(report.c_str(), stdout);
  if (result->ops == 0) {
    std::fprintf(stderr, "kvbench: no operation succeeded%s%s\n",
                 result->error_example.empty() ? "" : "; e.g. ", result->error_example.c_str());
    return 1;
  }
  return 0;
}
