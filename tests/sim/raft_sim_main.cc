// raft_sim: runs the deterministic cluster simulator (tests/sim/sim.h) over a
// range of seeds and reports the first invariant violation with the command
// that replays it.
//
//   raft_sim --seeds N --seed S [--nodes 3|5] [--steps K] [--scenario random|adversarial|figure8]
//            [--liveness-rounds R] [--snapshot-on-add] [--keep-going] [-v]
//
// With --seed alone it replays exactly that seed. -v prints every event.
// Exit status: 0 all seeds passed, 1 a seed failed, 2 bad usage.
// Thread-safety: single-threaded program.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/sim/sim.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: raft_sim [--seeds N] [--seed S] [--nodes 3|5] [--steps K]\n"
               "                [--scenario random|adversarial|figure8] [--liveness-rounds R]\n"
               "                [--snapshot-on-add] [--keep-going] [-v]\n"
               "  Runs N seeds (default 1) starting at S (default 1). Without --nodes,\n"
               "  odd seeds run 3 nodes and even seeds 5. -v traces every event.\n");
}

template <typename T>
bool ParseFlagValue(int argc, char** argv, int* i, T* out) {
  if (*i + 1 >= argc) return false;
  ++*i;
  return absl::SimpleAtoi(argv[*i], out);
}

}  // namespace

int main(int argc, char** argv) {
  using raftkv::sim::SimOptions;
  SimOptions opts;
  uint64_t seeds = 1;
  uint64_t first_seed = 1;
  bool verbose = false;
  bool keep_going = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool ok = true;
    if (a == "--seeds") {
      ok = ParseFlagValue(argc, argv, &i, &seeds) && seeds > 0;
    } else if (a == "--seed") {
      ok = ParseFlagValue(argc, argv, &i, &first_seed);
    } else if (a == "--nodes") {
      ok = ParseFlagValue(argc, argv, &i, &opts.nodes) && (opts.nodes == 3 || opts.nodes == 5);
    } else if (a == "--steps") {
      ok = ParseFlagValue(argc, argv, &i, &opts.steps) && opts.steps >= 0;
    } else if (a == "--liveness-rounds") {
      ok = ParseFlagValue(argc, argv, &i, &opts.liveness_rounds) && opts.liveness_rounds > 0;
    } else if (a == "--scenario") {
      ok = i + 1 < argc && raftkv::sim::ParseScenario(argv[++i], &opts.scenario);
    } else if (a == "--snapshot-on-add") {
      opts.snapshot_on_add = true;
    } else if (a == "--keep-going") {
      keep_going = true;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "-h" || a == "--help") {
      Usage();
      return 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "raft_sim: bad argument '%s'\n", a.c_str());
      Usage();
      return 2;
    }
  }
  if (verbose) opts.trace = &std::cout;
#ifdef RAFTKV_SIM_BINARY
  opts.replay_binary = RAFTKV_SIM_BINARY;
#endif

  // Wall time is only reported, never fed into a run.
  auto start = std::chrono::steady_clock::now();
  raftkv::sim::SimStats total;
  uint64_t failures = 0;
  uint64_t first_failure = 0;
  uint64_t ran = 0;
  int64_t slowest_heal = -1;
  uint64_t slowest_heal_seed = 0;
  for (uint64_t s = first_seed; s < first_seed + seeds; ++s) {
    raftkv::sim::SimResult r = raftkv::sim::RunSimulation(s, opts);
    ++ran;
    if (r.stats.liveness_rounds > slowest_heal) {
      slowest_heal = r.stats.liveness_rounds;
      slowest_heal_seed = s;
    }
    total.Add(r.stats);
    if (!r.ok) {
      if (failures++ == 0) first_failure = s;
      std::cout << raftkv::sim::FormatFailure(r, opts) << std::flush;
      if (!keep_going) break;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string nodes = opts.nodes != 0                                   ? std::to_string(opts.nodes)
                      : opts.scenario == raftkv::sim::Scenario::kRandom ? "3/5"
                                                                        : "5";
  std::cout << absl::StrCat(
                   "raft_sim: ", failures == 0 ? "PASS" : "FAIL", " ", ran, " seeds ", first_seed,
                   "..", first_seed + ran - 1, " nodes ", nodes, " scenario ",
                   raftkv::sim::ScenarioName(opts.scenario), " steps ", opts.steps, ": ", failures,
                   " failed", failures ? absl::StrCat(" (first: seed ", first_failure, ")") : "",
                   "; total steps ", total.steps, ", delivered ", total.delivered, ", dropped ",
                   total.dropped, ", crashes ", total.crashes, ", leaders ", total.leaders,
                   ", snapshots installed ", total.snapshots_installed, ", conf changes ",
                   total.conf_changes, ", reads checked ", total.reads, ", max liveness rounds ",
                   total.liveness_rounds, " (seed ", slowest_heal_seed, "); ",
                   absl::StrCat(static_cast<int64_t>(secs * 1000)), " ms")
            << std::endl;
  return failures == 0 ? 0 : 1;
}
