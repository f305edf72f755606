// Elections, votes, pre-vote and check-quorum (Raft paper 5.2 and 5.4.1;
// dissertation 9.6 pre-vote and 6.2 check-quorum / leader lease).
#include <set>

#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

NodeSetup Voters123() {
  NodeSetup s;
  s.conf_state.voters = {1, 2, 3};
  return s;
}

bool Campaigned(const Drained& d) {
  return !d.Of(MessageType::kVote).empty() || !d.Of(MessageType::kPreVote).empty();
}

// Ticks a lone follower until it campaigns; returns the tick count (or -1).
int TicksUntilCampaign(uint64_t seed, bool pre_vote) {
  auto n = MakeNode(1, Voters123(), [&](Config& c) {
    c.seed = seed;
    c.pre_vote = pre_vote;
  });
  for (int t = 1; t <= 100; ++t) {
    n->raw->Tick();
    if (Campaigned(n->Drain())) return t;
  }
  return -1;
}

TEST(ElectionTest, FollowerCampaignsAfterRandomizedTimeout) {
  for (bool pre_vote : {false, true}) {
    std::set<int> timeouts;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      int t = TicksUntilCampaign(seed, pre_vote);
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " pre_vote " << pre_vote);
      EXPECT_GE(t, 10) << "campaigned before election_tick";
      EXPECT_LT(t, 20) << "did not campaign within 2*election_tick";
      timeouts.insert(t);
    }
    EXPECT_GT(timeouts.size(), 1u) << "the election timeout is not randomized by the seed";
  }
}

TEST(ElectionTest, SameSeedSameTimeout) {
  EXPECT_EQ(TicksUntilCampaign(7, true), TicksUntilCampaign(7, true));
}

TEST(ElectionTest, CandidateBumpsTermAndVotesForItself) {
  auto n = MakeNode(1, Voters123(), [](Config& c) { c.pre_vote = false; });
  RAFT_ASSERT_OK(n->raw->Campaign());
  Drained d = n->Drain();
  EXPECT_EQ(n->role(), StateRole::kCandidate);
  EXPECT_EQ(n->term(), 1u);
  ASSERT_FALSE(d.hard_states.empty());
  EXPECT_EQ(d.hard_states.back().term, 1u);
  EXPECT_EQ(d.hard_states.back().vote, 1u);
  auto votes = d.Of(MessageType::kVote);
  ASSERT_EQ(votes.size(), 2u);
  for (const Message& m : votes) {
    EXPECT_EQ(m.term, 1u);
    EXPECT_EQ(m.log_term, 0u);
    EXPECT_EQ(m.index, 0u);
  }
}

TEST(ElectionTest, ElectionByTicksProducesOneLeader) {
  for (bool pre_vote : {false, true}) {
    Network net({1, 2, 3}, [&](Config& c) { c.pre_vote = pre_vote; });
    net.TickAllAndStabilize(25);
    NodeId leader = net.Leader();
    ASSERT_NE(leader, kNoNode) << "pre_vote " << pre_vote;
    int leaders = 0;
    for (NodeId id : net.ids()) {
      if (net.node(id).role() == StateRole::kLeader) ++leaders;
      EXPECT_EQ(net.node(id).lead(), leader);
      EXPECT_EQ(net.node(id).term(), net.node(leader).term());
    }
    EXPECT_EQ(leaders, 1);
  }
}

TEST(ElectionTest, CampaignWinsWithMajority) {
  Network net({1, 2, 3, 4, 5});
  net.Isolate(4);
  net.Isolate(5);
  net.Elect(1);
  EXPECT_EQ(net.node(1).role(), StateRole::kLeader);
  EXPECT_EQ(net.node(2).lead(), 1u);
  EXPECT_EQ(net.node(3).lead(), 1u);
}

TEST(ElectionTest, CampaignWithoutMajorityDoesNotWin) {
  Network net({1, 2, 3, 4, 5}, [](Config& c) { c.pre_vote = false; });
  net.Isolate(3);
  net.Isolate(4);
  net.Isolate(5);
  net.Elect(1);
  EXPECT_EQ(net.node(1).role(), StateRole::kCandidate);
}

TEST(ElectionTest, SingleNodeElectsItself) {
  Network net({1});
  net.Elect(1);
  EXPECT_EQ(net.node(1).role(), StateRole::kLeader);
  EXPECT_EQ(net.node(1).lead(), 1u);
}

TEST(ElectionTest, OneVotePerTerm) {
  auto n = MakeNode(2, Voters123());
  Message v1 = MakeMsg(MessageType::kVote, 1, 2, 1);
  Drained d = n->StepAndDrain(v1);
  auto resp = d.To(1, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].term, 1u);
  // The vote is persisted with (or before) the response.
  EXPECT_EQ(n->storage->GetInitialState()->hard_state.vote, 1u);
  EXPECT_EQ(n->storage->GetInitialState()->hard_state.term, 1u);

  // Another candidate in the same term is refused.
  d = n->StepAndDrain(MakeMsg(MessageType::kVote, 3, 2, 1));
  resp = d.To(3, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
  EXPECT_EQ(n->storage->GetInitialState()->hard_state.vote, 1u);

  // The same candidate asking again (a retransmission) gets the vote again.
  d = n->StepAndDrain(MakeMsg(MessageType::kVote, 1, 2, 1));
  resp = d.To(1, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);

  // A new term frees the vote.
  d = n->StepAndDrain(MakeMsg(MessageType::kVote, 3, 2, 2));
  resp = d.To(3, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(n->storage->GetInitialState()->hard_state.vote, 3u);
}

TEST(ElectionTest, VoteRefusedToLessUpToDateLog) {
  NodeSetup s = Voters123();
  s.entries = {MakeEntry(1, 1), MakeEntry(2, 2)};
  s.hard_state.term = 2;
  auto n = MakeNode(2, s);

  struct Case {
    Term term;
    Term log_term;
    Index index;
    bool granted;
  };
  // Each case at a new term, so the earlier ones leave no vote behind.
  const Case cases[] = {
      {3, 1, 5, false},  // lower last term loses, however long the log
      {4, 2, 1, false},  // same last term, shorter log
      {5, 2, 2, true},   // same last term, same length
      {6, 3, 1, true},   // higher last term wins, even if shorter
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "term " << c.term << " log (" << c.log_term << "," << c.index << ")");
    Message v = MakeMsg(MessageType::kVote, 1, 2, c.term);
    v.log_term = c.log_term;
    v.index = c.index;
    Drained d = n->StepAndDrain(v);
    auto resp = d.To(1, MessageType::kVoteResp);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_EQ(resp[0].reject, !c.granted);
    EXPECT_EQ(n->term(), c.term) << "a vote request of a higher term is adopted either way";
    EXPECT_EQ(n->raw->GetStatus().hard_state.vote, c.granted ? 1u : kNoNode);
  }
}

TEST(ElectionTest, PreVoteRefusedToLessUpToDateLogAndNeverChangesTerm) {
  NodeSetup s = Voters123();
  s.entries = {MakeEntry(1, 1), MakeEntry(2, 2)};
  s.hard_state.term = 2;
  auto n = MakeNode(2, s);

  Message pv = MakeMsg(MessageType::kPreVote, 1, 2, 3);
  pv.log_term = 1;
  pv.index = 9;
  Drained d = n->StepAndDrain(pv);
  auto resp = d.To(1, MessageType::kPreVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_TRUE(resp[0].reject);
  EXPECT_EQ(n->term(), 2u);

  pv.log_term = 2;
  pv.index = 2;
  d = n->StepAndDrain(pv);
  resp = d.To(1, MessageType::kPreVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].term, 3u) << "a granted pre-vote echoes the proposed term";
  EXPECT_EQ(n->term(), 2u) << "a pre-vote must not change the voter's term";
  EXPECT_EQ(n->raw->GetStatus().hard_state.vote, kNoNode) << "a pre-vote is not a vote";
}

TEST(ElectionTest, HigherTermMakesLeaderStepDown) {
  Network net({1, 2, 3});
  net.Elect(1);
  ASSERT_EQ(net.node(1).role(), StateRole::kLeader);
  const Term t = net.node(1).term();

  Message hb = MakeMsg(MessageType::kHeartbeat, 2, 1, t + 5);
  net.node(1).StepAndDrain(hb);
  EXPECT_EQ(net.node(1).role(), StateRole::kFollower);
  EXPECT_EQ(net.node(1).term(), t + 5);
  EXPECT_EQ(net.node(1).lead(), 2u);
}

TEST(ElectionTest, HigherTermRejectionMakesCandidateStepDown) {
  auto n = MakeNode(1, Voters123(), [](Config& c) { c.pre_vote = false; });
  RAFT_ASSERT_OK(n->raw->Campaign());
  n->Drain();
  ASSERT_EQ(n->role(), StateRole::kCandidate);
  Message r = MakeMsg(MessageType::kVoteResp, 2, 1, 5);
  r.reject = true;
  n->StepAndDrain(r);
  EXPECT_EQ(n->role(), StateRole::kFollower);
  EXPECT_EQ(n->term(), 5u);
}

TEST(ElectionTest, CandidateStepsDownOnAppendFromLeaderOfSameTerm) {
  auto n = MakeNode(1, Voters123(), [](Config& c) { c.pre_vote = false; });
  RAFT_ASSERT_OK(n->raw->Campaign());
  n->Drain();
  ASSERT_EQ(n->role(), StateRole::kCandidate);
  Message app = MakeMsg(MessageType::kApp, 2, 1, n->term());
  n->StepAndDrain(app);
  EXPECT_EQ(n->role(), StateRole::kFollower);
  EXPECT_EQ(n->lead(), 2u);
}

TEST(ElectionTest, StaleTermMessagesAreIgnored) {
  NodeSetup s = Voters123();
  s.entries = {MakeEntry(1, 1)};
  s.hard_state.term = 5;
  auto n = MakeNode(2, s);
  n->Drain();

  // An append from a deposed leader: nothing is appended, nothing committed,
  // and any answer carries the current term (so the old leader steps down).
  Message app = MakeMsg(MessageType::kApp, 1, 2, 3);
  app.index = 1;
  app.log_term = 1;
  app.entries = {MakeEntry(2, 3, "stale")};
  app.commit = 2;
  Drained d = n->StepAndDrain(app);
  EXPECT_TRUE(d.entries.empty());
  EXPECT_TRUE(d.committed.empty());
  EXPECT_EQ(n->LastIndex(), 1u);
  EXPECT_EQ(n->term(), 5u);
  EXPECT_EQ(n->commit(), 0u);
  for (const Message& m : d.messages) EXPECT_EQ(m.term, 5u) << Describe(m);

  // A stale vote request is not granted; the rejection carries the current
  // term, so the candidate catches up (else it could trail us forever).
  Message v = MakeMsg(MessageType::kVote, 3, 2, 4);
  v.log_term = 9;
  v.index = 9;
  d = n->StepAndDrain(v);
  ASSERT_EQ(d.To(3, MessageType::kVoteResp).size(), 1u);
  EXPECT_TRUE(d.To(3, MessageType::kVoteResp)[0].reject);
  EXPECT_EQ(d.To(3, MessageType::kVoteResp)[0].term, 5u);
  EXPECT_EQ(n->term(), 5u);
  EXPECT_EQ(n->raw->GetStatus().hard_state.vote, kNoNode);

  // A stale heartbeat does not move the commit index.
  Message hb = MakeMsg(MessageType::kHeartbeat, 1, 2, 4);
  hb.commit = 1;
  d = n->StepAndDrain(hb);
  EXPECT_EQ(n->commit(), 0u);
  EXPECT_EQ(n->lead(), kNoNode);
}

TEST(ElectionTest, StaleLeaderLearnsNewTermFromAppendResponse) {
  // check_quorum/pre_vote on: a follower answers a stale append so that the
  // old leader finds out about the newer term.
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  net.Isolate(1);
  // Only 2 and 3 tick: their lease runs out and one of them is elected.
  for (int i = 0; i < 40 && net.Leader() == 1u; ++i) {
    net.Tick(2);
    net.Tick(3);
    net.Stabilize();
    if (net.node(2).role() == StateRole::kLeader || net.node(3).role() == StateRole::kLeader) break;
  }
  const NodeId new_leader = net.node(2).role() == StateRole::kLeader ? 2 : 3;
  ASSERT_EQ(net.node(new_leader).role(), StateRole::kLeader);
  ASSERT_GT(net.node(new_leader).term(), t);
  ASSERT_EQ(net.node(1).role(), StateRole::kLeader) << "the old leader does not know yet";
  net.Heal();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("from old leader")));
  net.Stabilize();
  EXPECT_EQ(net.node(1).role(), StateRole::kFollower);
  EXPECT_EQ(net.node(1).term(), net.node(new_leader).term());
  for (NodeId id : net.ids()) {
    for (const Entry& e : net.node(id).applied) EXPECT_NE(e.data.ToString(), "from old leader");
  }
}

// ---- pre-vote ----

TEST(PreVoteTest, PreCandidateDoesNotBumpTerm) {
  Network net({1, 2, 3});
  RAFT_ASSERT_OK(net.raw(1).Campaign());
  Drained d = net.DrainNode(1);
  EXPECT_EQ(net.node(1).role(), StateRole::kPreCandidate);
  EXPECT_EQ(net.node(1).term(), 0u);
  for (const HardState& hs : d.hard_states) EXPECT_EQ(hs.term, 0u);
  auto pvs = d.Of(MessageType::kPreVote);
  EXPECT_EQ(pvs.size(), 2u);
  for (const Message& m : pvs) EXPECT_EQ(m.term, 1u) << "a pre-vote asks for the next term";
  EXPECT_TRUE(d.Of(MessageType::kVote).empty());

  net.Stabilize();
  EXPECT_EQ(net.node(1).role(), StateRole::kLeader);
  EXPECT_EQ(net.node(1).term(), 1u);
}

TEST(PreVoteTest, PreCandidateWithoutQuorumStaysAtItsTerm) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  net.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    net.Tick(3);
    net.DrainNode(3);
    net.queue().clear();
  }
  EXPECT_EQ(net.node(3).term(), t);
  EXPECT_NE(net.node(3).role(), StateRole::kLeader);
  EXPECT_NE(net.node(3).role(), StateRole::kCandidate);
}

TEST(PreVoteTest, RejoiningPartitionedNodeDoesNotDisruptLeader) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("a")));
  net.Stabilize();

  net.Isolate(3);
  net.TickAllAndStabilize(50);  // node 3 times out again and again
  ASSERT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.node(3).term(), t);

  net.Heal();
  net.TickAllAndStabilize(50);
  EXPECT_EQ(net.Leader(), 1u);
  for (NodeId id : net.ids()) {
    EXPECT_EQ(net.node(id).term(), t) << "node " << id;
    EXPECT_EQ(net.node(id).lead(), 1u) << "node " << id;
  }
}

TEST(PreVoteTest, WithoutPreVoteARejoiningNodeDisrupts) {
  // The contrast case: it shows the test above would catch a missing pre-vote.
  Network net({1, 2, 3}, [](Config& c) {
    c.pre_vote = false;
    c.check_quorum = false;
  });
  net.Elect(1);
  const Term t = net.node(1).term();
  net.Isolate(3);
  net.TickAllAndStabilize(50);
  EXPECT_GT(net.node(3).term(), t);
  net.Heal();
  net.TickAllAndStabilize(50);
  ASSERT_NE(net.Leader(), kNoNode);
  EXPECT_GT(net.node(net.Leader()).term(), t);
}

// ---- check-quorum ----

TEST(CheckQuorumTest, IsolatedLeaderStepsDown) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.Isolate(1);
  for (int i = 0; i < 2 * 10 + 1; ++i) {
    net.Tick(1);
    net.DrainNode(1);
    net.queue().clear();
  }
  EXPECT_EQ(net.node(1).role(), StateRole::kFollower);
  EXPECT_EQ(net.node(1).lead(), kNoNode);
}

TEST(CheckQuorumTest, LeaderWithoutCheckQuorumStaysLeaderWhenIsolated) {
  Network net({1, 2, 3}, [](Config& c) { c.check_quorum = false; });
  net.Elect(1);
  net.Isolate(1);
  for (int i = 0; i < 50; ++i) {
    net.Tick(1);
    net.DrainNode(1);
    net.queue().clear();
  }
  EXPECT_EQ(net.node(1).role(), StateRole::kLeader);
}

TEST(CheckQuorumTest, LeaderHearingFromQuorumStaysLeader) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  net.Isolate(3);  // one peer down: 1 and 2 are still a quorum
  net.TickAllAndStabilize(100);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.node(1).term(), t);
}

TEST(CheckQuorumTest, FollowerInLeaseIgnoresVoteRequest) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  const Index last = net.node(1).LastIndex();

  Message v = MakeMsg(MessageType::kVote, 3, 2, t + 1);
  v.log_term = t;
  v.index = last;
  Drained d = net.node(2).StepAndDrain(v);
  EXPECT_TRUE(d.Of(MessageType::kVoteResp).empty() || d.Of(MessageType::kVoteResp)[0].reject);
  EXPECT_EQ(net.node(2).term(), t) << "a follower in lease must not adopt the vote's term";
  EXPECT_EQ(net.node(2).lead(), 1u);

  // Once the lease ran out (no word from the leader for an election timeout),
  // the same request is granted.
  for (int i = 0; i < 10; ++i) net.Tick(2);
  net.queue().clear();
  d = net.node(2).StepAndDrain(v);
  auto resp = d.To(3, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(net.node(2).term(), t + 1);
}

TEST(CheckQuorumTest, WithoutCheckQuorumFollowerGrantsVote) {
  Network net({1, 2, 3}, [](Config& c) { c.check_quorum = false; });
  net.Elect(1);
  const Term t = net.node(1).term();
  Message v = MakeMsg(MessageType::kVote, 3, 2, t + 1);
  v.log_term = t;
  v.index = net.node(1).LastIndex();
  Drained d = net.node(2).StepAndDrain(v);
  auto resp = d.To(3, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(net.node(2).term(), t + 1);
}

}  // namespace
}  // namespace raftkv::raft::testing
