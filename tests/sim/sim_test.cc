// Tests of the simulator itself against the real Raft core: runs replay
// exactly, both scenarios run clean, and every feature the simulator promises
// to exercise actually happens somewhere in a small sweep. The large seed
// sweeps are the raft_sim_* ctest entries (tests/sim/CMakeLists.txt).
#include "tests/sim/sim.h"

#include <sstream>

#include "gtest/gtest.h"

namespace raftkv::sim {
namespace {

std::string Trace(uint64_t seed, const SimOptions& base) {
  std::ostringstream out;
  SimOptions opts = base;
  opts.trace = &out;
  SimResult r = RunSimulation(seed, opts);
  EXPECT_TRUE(r.ok) << FormatFailure(r, base);
  return out.str();
}

TEST(SimTest, ReplayIsExact) {
  SimOptions opts;
  opts.steps = 1500;
  for (uint64_t seed : {3, 8, 21}) {
    std::string a = Trace(seed, opts);
    std::string b = Trace(seed, opts);
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(a, b) << "seed " << seed << " did not replay exactly";
  }
  // Different seeds take different paths.
  EXPECT_NE(Trace(3, opts), Trace(5, opts));
}

TEST(SimTest, TracingDoesNotChangeTheRun) {
  SimOptions opts;
  opts.steps = 1500;
  for (uint64_t seed = 40; seed < 44; ++seed) {
    SimResult plain = RunSimulation(seed, opts);
    std::ostringstream out;
    SimOptions traced = opts;
    traced.trace = &out;
    SimResult with_trace = RunSimulation(seed, traced);
    EXPECT_EQ(plain.stats.steps, with_trace.stats.steps) << "seed " << seed;
    EXPECT_EQ(plain.stats.delivered, with_trace.stats.delivered) << "seed " << seed;
    EXPECT_EQ(plain.stats.max_commit, with_trace.stats.max_commit) << "seed " << seed;
  }
}

TEST(SimTest, SweepExercisesEveryFeature) {
  SimOptions opts;
  SimStats total;
  for (uint64_t seed = 1000; seed < 1040; ++seed) {
    SimResult r = RunSimulation(seed, opts);
    ASSERT_TRUE(r.ok) << FormatFailure(r, opts);
    total.Add(r.stats);
  }
  EXPECT_GT(total.delivered, 0);
  EXPECT_GT(total.dropped, 0);
  EXPECT_GT(total.crashes, 0);
  EXPECT_GT(total.leaders, 40);
  EXPECT_GT(total.max_commit, 50u);
  EXPECT_GT(total.snapshots_installed, 0) << "no lagging follower ever needed a snapshot";
  EXPECT_GT(total.conf_changes, 0);
  EXPECT_GT(total.reads, 0);
}

TEST(SimTest, AdversarialScenarioIsCleanOnTheRealCore) {
  SimOptions opts;
  opts.scenario = Scenario::kAdversarial;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimResult r = RunSimulation(seed, opts);
    ASSERT_TRUE(r.ok) << FormatFailure(r, opts);
  }
}

TEST(SimTest, Figure8ScenarioIsCleanOnTheRealCore) {
  SimOptions opts;
  opts.scenario = Scenario::kFigure8;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimResult r = RunSimulation(seed, opts);
    ASSERT_TRUE(r.ok) << FormatFailure(r, opts);
  }
}

TEST(SimTest, ReplayCommandNamesEverythingThatMatters) {
  SimOptions opts;
  opts.nodes = 5;
  opts.steps = 1234;
  opts.scenario = Scenario::kAdversarial;
  EXPECT_EQ(ReplayCommand(77, opts),
            "build/bin/raft_sim --seed 77 --nodes 5 --steps 1234 --scenario adversarial -v");
}

}  // namespace
}  // namespace raftkv::sim
