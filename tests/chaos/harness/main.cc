// raftkv_chaos: fault injection against real raftkv processes (issue 4). See
// kUsage in options.cc for the flags and run.h for what one schedule does.
//
// Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by
// one signal thread: the first raises the stop flag (the run heals nothing,
// kills its nodes, removes its namespaces and exits 1); a second one kills
// the registered processes and removes the registered networks at once.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/chaos/harness/cleanup.h"
#include "tests/chaos/harness/options.h"
#include "tests/chaos/harness/run.h"
#include "tests/chaos/harness/stop_flag.h"

namespace raftkv::chaos {
namespace {

int Usage(const std::string& message) {
  std::cerr << "raftkv_chaos: " << message << std::endl;
  return 2;
}

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

uint64_t RandomSeed() {
  std::random_device rd;
  // Small enough to type back in.
  return (static_cast<uint64_t>(rd()) << 8 ^ rd()) % 1'000'000'000;
}

int Main(int argc, char** argv) {
  absl::StatusOr<HarnessOptions> parsed =
      ParseHarnessOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  HarnessOptions o = *parsed;
  if (o.help) {
    std::cout << kUsage;
    return 0;
  }
  if (geteuid() != 0) {
    return Usage("must run as root (network namespaces, veth, nftables); try scripts/chaos.sh");
  }
  std::string raftkv = o.raftkv_path.empty() ? SelfDir() + "/raftkv" : o.raftkv_path;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::canonical(raftkv, ec);
  if (ec || access(abs.c_str(), X_OK) != 0) {
    return Usage(absl::StrCat("no raftkv binary at ", raftkv,
                              " (build it with scripts/build.sh, or pass --raftkv PATH)"));
  }
  if (!o.seed_given) o.seed = RandomSeed();

  // Signals go to one thread (blocked here, before any other thread starts).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  StopFlag stop;
  CleanupRegistry registry;
  std::thread([&set, &stop, &registry] {
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (++count == 1) {
        std::cout << "chaos: signal " << sig << ": stopping and cleaning up" << std::endl;
        stop.Raise();
      } else {
        std::cout << "chaos: signal " << sig << " again: killing nodes, removing namespaces"
                  << std::endl;
        registry.EmergencyCleanup();
        _exit(130);
      }
    }
  }).detach();

  RunEnvironment env;
  env.raftkv_path = abs.string();
  env.net_tag = o.net_tag > 0 ? o.net_tag : static_cast<int>(getpid());
  env.registry = &registry;
  env.stop = &stop;
  std::cout << "chaos: seed " << o.seed << (o.seed_given ? "" : " (random)") << ", " << o.schedules
            << " schedule(s) of " << o.duration_s << "s, raftkv " << env.raftkv_path << std::endl;

  int passed = 0, failed = 0;
  std::vector<std::string> failed_seeds;
  std::vector<std::string> summaries;
  bool caught = false;
  for (int s = 0; s < o.schedules && !stop.raised(); ++s) {
    const uint64_t seed = o.seed + static_cast<uint64_t>(s);
    ScheduleOutcome out = RunSchedule(o, seed, env);
    std::cout << out.summary << std::endl;
    summaries.push_back(out.summary);
    if (out.pass) {
      ++passed;
    } else {
      ++failed;
      failed_seeds.push_back(absl::StrCat(seed));
    }
    if (o.expect_violation && out.found_bug) {
      std::cout << "chaos: self-test: caught by seed " << seed << " (replay: scripts/chaos.sh "
                << ReplayFlags(o, seed) << ")" << std::endl;
      caught = true;
      break;
    }
  }
  if (o.schedules > 1) {
    std::cout << "chaos: " << passed + failed << " schedule(s): " << passed << " passed, " << failed
              << " failed" << (failed_seeds.empty() ? "" : " (seeds ")
              << absl::StrJoin(failed_seeds, " ") << (failed_seeds.empty() ? "" : ")") << std::endl;
  }
  if (stop.raised()) return 1;
  if (o.expect_violation) {
    if (!caught) {
      std::cout << "chaos: self-test: NOT CAUGHT: no violation, lost write or replica mismatch in "
                << passed + failed << " schedule(s) from seed " << o.seed << std::endl;
    }
    return caught ? 0 : 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace raftkv::chaos

int main(int argc, char** argv) { return raftkv::chaos::Main(argc, argv); }
