// Unit tests of the chaos harness's pure pieces: the schedule generator, the
// partition plans and their nftables rules, flag parsing, the classification
// of client errors into history outcomes, and the availability metrics.
#include <gtest/gtest.h>

#include <set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "tests/chaos/harness/metrics.h"
#include "tests/chaos/harness/network.h"
#include "tests/chaos/harness/options.h"
#include "tests/chaos/harness/partition.h"
#include "tests/chaos/harness/schedule.h"
#include "tests/chaos/harness/workload.h"

namespace raftkv::chaos {
namespace {

AddressOf TestAddress() {
  return [](int node) { return "10.201.7." + std::to_string(node); };
}

// ---- schedule ------------------------------------------------------------------

TEST(ScheduleTest, SameSeedSameSchedule) {
  ScheduleOptions o;
  o.seed = 42;
  o.duration_ms = 120'000;
  std::vector<ScheduledFault> a = GenerateSchedule(o);
  std::vector<ScheduledFault> b = GenerateSchedule(o);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  o.seed = 43;
  EXPECT_NE(a, GenerateSchedule(o));
}

TEST(ScheduleTest, FaultsAreSequentialWithinBoundsAndOfTheGivenKinds) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    ScheduleOptions o;
    o.seed = seed;
    o.duration_ms = 30'000;
    o.kinds = {FaultKind::kKill, FaultKind::kIsolateLeader};
    std::vector<ScheduledFault> s = GenerateSchedule(o);
    ASSERT_FALSE(s.empty()) << "seed " << seed;
    int64_t previous_end = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const ScheduledFault& f = s[i];
      EXPECT_EQ(f.index, static_cast<int>(i));
      EXPECT_TRUE(f.kind == FaultKind::kKill || f.kind == FaultKind::kIsolateLeader);
      EXPECT_GE(f.start_ms, o.warmup_ms);
      EXPECT_GE(f.duration_ms, o.min_fault_ms);
      EXPECT_LE(f.start_ms + f.duration_ms, o.duration_ms) << "seed " << seed;
      EXPECT_LE(f.duration_ms, FaultDurationRangeMs(f.kind).second);
      if (i > 0) {
        EXPECT_GE(f.start_ms - previous_end, o.quiet_min_ms) << "seed " << seed;
        EXPECT_LE(f.start_ms - previous_end, o.quiet_max_ms) << "seed " << seed;
      }
      previous_end = f.start_ms + f.duration_ms;
    }
  }
}

TEST(ScheduleTest, EveryKindAppearsOverManySeeds) {
  std::set<FaultKind> seen;
  std::set<Role> roles;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    ScheduleOptions o;
    o.seed = seed;
    for (const ScheduledFault& f : GenerateSchedule(o)) {
      seen.insert(f.kind);
      roles.insert(f.role);
    }
  }
  EXPECT_EQ(seen.size(), std::size(kAllFaultKinds));
  EXPECT_EQ(roles.size(), 2u);
}

TEST(ScheduleTest, ParsesFaultKinds) {
  EXPECT_EQ(*ParseFaultKinds("kill,isolate"),
            (std::vector<FaultKind>{FaultKind::kKill, FaultKind::kIsolateLeader}));
  EXPECT_EQ(ParseFaultKinds("all")->size(), std::size(kAllFaultKinds));
  EXPECT_FALSE(ParseFaultKinds("kill,bogus").ok());
  EXPECT_FALSE(ParseFaultKinds("").ok());
  EXPECT_EQ(
      FormatScheduledFault(ScheduledFault{3, FaultKind::kKill, Role::kLeader, 12'400, 3'100, 0}),
      "#3 at 12.4s for 3.1s: kill leader");
}

// ---- partitions ------------------------------------------------------------------

TEST(PartitionTest, IsolatingANodeCutsItBothWays) {
  PartitionPlan p = IsolateNode(3, 2);
  EXPECT_EQ(p.cuts, (std::set<Cut>{{2, 1}, {1, 2}, {2, 3}, {3, 2}}));
  EXPECT_EQ(p.description, "{2} | {1,3}");
  EXPECT_EQ(RulesFor(p, 2), (NodeRules{{1, 3}, {1, 3}}));
  EXPECT_EQ(RulesFor(p, 1), (NodeRules{{2}, {2}}));
  EXPECT_EQ(RulesFor(p, 3), (NodeRules{{2}, {2}}));
}

TEST(PartitionTest, BridgeNodeSeesBothHalves) {
  PartitionPlan three = BridgePlan({1, 2, 3});
  EXPECT_EQ(three.cuts, (std::set<Cut>{{1, 3}, {3, 1}}));
  EXPECT_EQ(RulesFor(three, 2).size(), 0u);

  PartitionPlan five = BridgePlan({1, 2, 3, 4, 5});
  std::set<Cut> want;
  for (int a : {1, 2}) {
    for (int b : {4, 5}) {
      want.insert({a, b});
      want.insert({b, a});
    }
  }
  EXPECT_EQ(five.cuts, want);
  EXPECT_EQ(RulesFor(five, 3).size(), 0u);
  EXPECT_EQ(RulesFor(five, 1), (NodeRules{{4, 5}, {4, 5}}));
  EXPECT_EQ(five.description, "{1,2} | 3 | {4,5} (3 sees both)");
}

TEST(PartitionTest, OneWayDropsOnlyOneDirection) {
  PartitionPlan p = OneWayPlan(1, {2, 3});
  EXPECT_EQ(p.cuts, (std::set<Cut>{{2, 1}, {3, 1}}));
  // 1 drops what 2 and 3 send; 2 and 3 drop nothing they receive from 1.
  EXPECT_EQ(RulesFor(p, 1), (NodeRules{{2, 3}, {}}));
  EXPECT_EQ(RulesFor(p, 2), (NodeRules{{}, {1}}));
  PartitionPlan deaf = DeafToPlan(1, {2, 3});
  EXPECT_EQ(deaf.cuts, (std::set<Cut>{{1, 2}, {1, 3}}));
  EXPECT_EQ(RulesFor(deaf, 1), (NodeRules{{}, {2, 3}}));
}

TEST(PartitionTest, ChosenPartitionsAreDeterministicAndWellShaped) {
  for (uint64_t choice = 0; choice < 300; ++choice) {
    for (int n : {3, 5}) {
      PartitionPlan split = ChoosePartition(FaultKind::kSplit, Role::kLeader, choice, n, 2);
      EXPECT_EQ(split.cuts, ChoosePartition(FaultKind::kSplit, Role::kLeader, choice, n, 2).cuts);
      // A minority side: every node cut from k others, k >= majority size for the minority.
      std::set<int> cut_nodes;
      for (const Cut& c : split.cuts) cut_nodes.insert(c.first);
      EXPECT_EQ(static_cast<int>(cut_nodes.size()), n);
      EXPECT_FALSE(split.cuts.empty());
      for (const Cut& c : split.cuts) {
        EXPECT_TRUE(split.cuts.count({c.second, c.first})) << "splits are symmetric";
      }
      PartitionPlan iso = ChoosePartition(FaultKind::kIsolateLeader, Role::kLeader, choice, n, 2);
      EXPECT_EQ(iso.cuts, IsolateNode(n, 2).cuts);
      PartitionPlan bridge = ChoosePartition(FaultKind::kBridge, Role::kLeader, choice, n, 2);
      EXPECT_EQ(bridge.cuts.size(), n == 3 ? 2u : 8u);
      PartitionPlan one = ChoosePartition(FaultKind::kOneWay, Role::kFollower, choice, n, 2);
      for (const Cut& c : one.cuts) {
        EXPECT_NE(c.first, c.second);
        EXPECT_FALSE(one.cuts.count({c.second, c.first})) << "one-way cuts are one way";
      }
    }
  }
}

TEST(PartitionTest, NftScriptsAndListings) {
  NodeRules rules{{1, 3}, {3}};
  EXPECT_EQ(NftApplyScript(rules, TestAddress()),
            "flush chain inet raftkv_chaos input\n"
            "flush chain inet raftkv_chaos output\n"
            "add rule inet raftkv_chaos input ip saddr 10.201.7.1 drop\n"
            "add rule inet raftkv_chaos input ip saddr 10.201.7.3 drop\n"
            "add rule inet raftkv_chaos output ip daddr 10.201.7.3 drop\n");
  EXPECT_TRUE(absl::StrContains(NftSetupScript(), "hook input"));
  EXPECT_TRUE(absl::StrContains(NftSetupScript(), "hook output"));
  // What `nft list table inet raftkv_chaos` prints.
  const std::string listing =
      "table inet raftkv_chaos {\n"
      "\tchain input {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\tip saddr 10.201.7.3 drop\n"
      "\t\tip saddr 10.201.7.1 drop\n"
      "\t}\n"
      "\n"
      "\tchain output {\n"
      "\t\ttype filter hook output priority filter; policy accept;\n"
      "\t\tip daddr 10.201.7.3 drop\n"
      "\t}\n"
      "}\n";
  ListedRules listed = ParseNftListing(listing);
  EXPECT_EQ(listed.input_saddr_drops, (std::vector<std::string>{"10.201.7.1", "10.201.7.3"}));
  EXPECT_EQ(listed.output_daddr_drops, (std::vector<std::string>{"10.201.7.3"}));
  EXPECT_EQ(listed.other_rules, 0u);
  EXPECT_TRUE(ListingMatches(listed, rules, TestAddress()));
  EXPECT_FALSE(ListingMatches(listed, NodeRules{{1}, {3}}, TestAddress()));
  EXPECT_FALSE(ListingMatches(listed, NodeRules{}, TestAddress()));
  ListedRules empty = ParseNftListing(
      "table inet raftkv_chaos {\n\tchain input {\n\t\ttype filter hook input priority filter; "
      "policy accept;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter; "
      "policy accept;\n\t}\n}\n");
  EXPECT_TRUE(ListingMatches(empty, NodeRules{}, TestAddress()));
  ListedRules odd =
      ParseNftListing("table inet raftkv_chaos {\n chain input {\n  tcp dport 1 drop\n }\n}\n");
  EXPECT_EQ(odd.other_rules, 1u);
}

// ---- names --------------------------------------------------------------------------

TEST(NetworkNamesTest, NamesFitAndAreOwnedByTheirTagOnly) {
  NetworkNames n = NamesForTag(4194303);  // the largest default pid_max
  EXPECT_LE(n.bridge.size(), 15u);
  EXPECT_LE(n.HostVeth(5).size(), 15u);
  EXPECT_LE(n.NodeVeth(5).size(), 15u);
  NetworkNames a = NamesForTag(12);
  EXPECT_TRUE(a.Owns("rkc12br"));
  EXPECT_TRUE(a.Owns("rkc12n3"));
  EXPECT_TRUE(a.Owns("rkc12h3"));
  EXPECT_FALSE(a.Owns("rkc123br"));
  EXPECT_FALSE(a.Owns("rkc123n1"));
  EXPECT_FALSE(a.Owns("rkc12x1"));
  EXPECT_FALSE(a.Owns("eth0"));
  for (int attempt = 0; attempt < 100; ++attempt) {
    Subnet s = SubnetCandidate(4194303, attempt);
    EXPECT_GE(s.a, 200);
    EXPECT_LE(s.a, 249);
    EXPECT_GE(s.b, 0);
    EXPECT_LE(s.b, 255);
  }
  EXPECT_EQ(SubnetCandidate(5, 0).Address(254), "10.200.5.254");
}

// ---- options --------------------------------------------------------------------------

TEST(OptionsTest, DefaultsAndValues) {
  HarnessOptions o = *ParseHarnessOptions({});
  EXPECT_FALSE(o.seed_given);
  EXPECT_EQ(o.nodes, 3);
  EXPECT_EQ(o.clients, 5);
  o = *ParseHarnessOptions({"--seed", "42", "--duration=30s", "--schedules", "3", "--nodes", "5",
                            "--unsafe", "unsafe-test-stale-reads",
                            "--unsafe=--unsafe-test-no-fsync", "--faults", "kill,split", "--keep",
                            "--expect-violation"});
  EXPECT_TRUE(o.seed_given);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_EQ(o.duration_s, 30);
  EXPECT_EQ(o.schedules, 3);
  EXPECT_EQ(o.nodes, 5);
  EXPECT_EQ(o.unsafe_flags,
            (std::vector<std::string>{"--unsafe-test-stale-reads", "--unsafe-test-no-fsync"}));
  EXPECT_TRUE(o.keep);
  EXPECT_TRUE(o.expect_violation);
  EXPECT_EQ(ReplayFlags(o, 44),
            "--seed 44 --duration 30 --nodes 5 --clients 5 --keys 5 --faults kill,split "
            "--unsafe unsafe-test-stale-reads --unsafe unsafe-test-no-fsync");
}

TEST(OptionsTest, BadFlagsAreOneLineErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--nodes", "4"},
                                             {"--clients", "2"},
                                             {"--duration", "abc"},
                                             {"--seed"},
                                             {"--bogus"},
                                             {"--unsafe", "make-it-fast"},
                                             {"--keep=yes"},
                                             {"stray"},
                                             {"--faults", "kill,nope"}}) {
    absl::StatusOr<HarnessOptions> o = ParseHarnessOptions(args);
    ASSERT_FALSE(o.ok()) << args[0];
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(absl::StrContains(o.status().message(), "\n"));
  }
}

// ---- outcome classification --------------------------------------------------------------

TEST(ClassifyTest, FollowsTheClientLibrarysContract) {
  // Messages as src/client/client.cc words them.
  const absl::Status maybe = absl::UnavailableError(
      "Put: 10.1.1.1:2379 failed during the call (connection reset); the write may or may not "
      "have been applied");
  const absl::Status deadline = absl::DeadlineExceededError(
      "Put: no answer from 10.1.1.1:2379 within 1.5s; the outcome is unknown: the write may or "
      "may not have been applied");
  const absl::Status never = absl::UnavailableError(
      "Put: no endpoint answered within 1.5s: 10.1.1.1:2379 (not leader; no leader known, "
      "election in progress?)");
  const absl::Status server_deadline = absl::DeadlineExceededError(
      "Txn: 10.1.1.1:2379: the write was not committed before its deadline; the write may or may "
      "not have been applied");
  for (OpType t : {OpType::kWrite, OpType::kDelete, OpType::kCas}) {
    EXPECT_EQ(ClassifyFailure(t, maybe), Outcome::kIndeterminate);
    EXPECT_EQ(ClassifyFailure(t, deadline), Outcome::kIndeterminate);
    EXPECT_EQ(ClassifyFailure(t, server_deadline), Outcome::kIndeterminate);
    EXPECT_EQ(ClassifyFailure(t, never), Outcome::kFailed);
    EXPECT_EQ(ClassifyFailure(t, absl::InvalidArgumentError("key too long")), Outcome::kFailed);
    EXPECT_EQ(ClassifyFailure(t, absl::ResourceExhaustedError("too large")), Outcome::kFailed);
    EXPECT_EQ(ClassifyFailure(t, absl::InternalError("?")), Outcome::kIndeterminate);
    EXPECT_EQ(ClassifyFailure(t, absl::UnavailableError("odd")), Outcome::kIndeterminate);
  }
  EXPECT_EQ(ClassifyFailure(OpType::kRead, maybe), Outcome::kFailed);
  EXPECT_EQ(ClassifyFailure(OpType::kRead, deadline), Outcome::kFailed);
}

// ---- metrics --------------------------------------------------------------------------------

Operation Op(OpType type, Outcome outcome, int64_t invoke_s, int64_t complete_s) {
  Operation op;
  op.type = type;
  op.outcome = outcome;
  op.invoke_ns = invoke_s * 1'000'000'000;
  op.complete_ns = complete_s * 1'000'000'000;
  return op;
}

TEST(MetricsTest, FailoverAndLongestGapAfterHeal) {
  const int64_t s = 1'000'000'000;
  History h = {
      Op(OpType::kWrite, Outcome::kOk, 9, 11),  // invoked before the kill at 10: not failover
      Op(OpType::kRead, Outcome::kOk, 10, 11),  // a read: not a write
      Op(OpType::kWrite, Outcome::kFailed, 10, 12),
      Op(OpType::kCas, Outcome::kOk, 11, 13),  // first write after the kill: failover 3 s
      Op(OpType::kDelete, Outcome::kOk, 20, 21),
  };
  std::vector<FaultWindow> faults = {
      {true, 10 * s, 15 * s},   // heal at 15: first write after at 21 -> 6 s
      {false, 16 * s, 17 * s},  // heal at 17: 4 s
      {false, 22 * s, 23 * s},  // no write after 23: until the end (25) -> 2 s
  };
  Availability a = ComputeAvailability(h, faults, 25 * s);
  EXPECT_EQ(a.failover_ns, (std::vector<int64_t>{3 * s}));
  EXPECT_EQ(a.longest_no_write_after_heal_ns, 6 * s);
  EXPECT_EQ(a.longest_after_fault, 0);
  EXPECT_EQ(MedianNs({3, 1, 2, -1}), 2);
  EXPECT_EQ(MedianNs({}), -1);
  EXPECT_EQ(MaxNs({3, 9, -1}), 9);
  EXPECT_EQ(Seconds(1'500'000'000), "1.50s");
  EXPECT_EQ(Seconds(-1), "n/a");
  OpCounts c = CountOutcomes(h);
  EXPECT_EQ(c.ok, 4);
  EXPECT_EQ(c.failed, 1);
  EXPECT_EQ(c.indeterminate, 0);
}

}  // namespace
}  // namespace raftkv::chaos
