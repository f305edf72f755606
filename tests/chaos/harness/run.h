// One schedule of a chaos run, start to verdict: network, nodes, clients,
// faults, heal, final reads, replica check, checker, availability, summary.
//
// A run directory (<work-dir>/run-<seed>-<tag>) holds the nodes' data and
// logs, faults.log, history.jsonl, final_state.txt, findings.txt and, on a
// replica mismatch, node<N>.dump; it is removed after a pass unless --keep.
//
// Threads: call from the thread that owns the run (main); the stop flag may be
// raised from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "tests/chaos/harness/cleanup.h"
#include "tests/chaos/harness/options.h"
#include "tests/chaos/harness/stop_flag.h"

namespace raftkv::chaos {

struct RunEnvironment {
  std::string raftkv_path;  // absolute
  int net_tag = 0;
  CleanupRegistry* registry = nullptr;
  StopFlag* stop = nullptr;
};

struct ScheduleOutcome {
  uint64_t seed = 0;
  bool pass = false;
  // A violation, lost write or replica mismatch was found (what
  // --expect-violation looks for).
  bool found_bug = false;
  // The run could not be carried out (set-up failed, interrupted, ...).
  bool harness_error = false;
  std::string summary;  // the one summary line
  std::string run_dir;
  bool kept = false;
};

ScheduleOutcome RunSchedule(const HarnessOptions& options, uint64_t seed,
                            const RunEnvironment& env);

}  // namespace raftkv::chaos
