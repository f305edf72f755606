// Planted-fault tests: built once per faulty Raft core (RAFTKV_SIM_FAULT names
// it, see tests/sim/CMakeLists.txt). The simulator must report a safety
// violation within kMaxSeeds seeds; the test prints which invariant fired, on
// which seed, and how to replay it.
#include <iostream>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/sim/sim.h"

#ifndef RAFTKV_SIM_FAULT
#error "RAFTKV_SIM_FAULT must name the planted fault"
#endif

namespace raftkv::sim {
namespace {

constexpr uint64_t kMaxSeeds = 200;

// A planted Raft bug must show up as a broken safety property, never as a
// harness problem (nor only as a stall).
const std::set<std::string> kSafetyInvariants = {
    "election-safety", "log-matching",      "leader-completeness", "state-machine-safety",
    "monotonic-commit", "monotonic-applied", "vote-stability",      "read-index",
    "apply-order",      "snapshot"};

void ExpectFound(const SimOptions& opts) {
  for (uint64_t seed = 1; seed <= kMaxSeeds; ++seed) {
    SimResult r = RunSimulation(seed, opts);
    if (r.ok) continue;
    std::cout << "planted fault " << RAFTKV_SIM_FAULT << " found by scenario "
              << ScenarioName(opts.scenario) << " at seed " << seed << " (" << seed
              << " seeds tried): invariant " << r.invariant << "\n"
              << FormatFailure(r, opts);
    EXPECT_TRUE(kSafetyInvariants.count(r.invariant) > 0)
        << "expected a safety violation, got " << r.invariant << ": " << r.detail;
    return;
  }
  ADD_FAILURE() << "planted fault " << RAFTKV_SIM_FAULT << " not found by scenario "
                << ScenarioName(opts.scenario) << " within " << kMaxSeeds << " seeds";
}

TEST(PlantedFault, AdversarialScenarioFindsIt) {
  SimOptions opts;
  opts.scenario = Scenario::kAdversarial;
  ExpectFound(opts);
}

}  // namespace
}  // namespace raftkv::sim
