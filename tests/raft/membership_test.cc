// Single-server membership changes (dissertation chapter 4) and learners.
#include <algorithm>

#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

ConfChange CC(ConfChangeType type, NodeId id) {
  ConfChange cc;
  cc.type = type;
  cc.node_id = id;
  return cc;
}

ConfState CS(std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
  ConfState cs;
  cs.voters = std::move(voters);
  cs.learners = std::move(learners);
  return cs;
}

bool Contains(const std::vector<Entry>& ents, const std::string& data) {
  return std::any_of(ents.begin(), ents.end(),
                     [&](const Entry& e) { return e.data.ToString() == data; });
}

// Ticks the leader and stabilizes until `pred` holds (at most n rounds).
template <typename Pred>
void TickUntil(Network& net, NodeId leader, Pred pred, int n = 5) {
  net.Stabilize();
  for (int i = 0; i < n && !pred(); ++i) {
    net.Tick(leader);
    net.Stabilize();
  }
}

TEST(MembershipTest, ConfChangeEntryIsReplicatedAndApplied) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.AddNode(4, CS({1, 2, 3}));
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 4)));
  net.Stabilize();
  for (NodeId id : {1, 2, 3}) {
    SCOPED_TRACE(::testing::Message() << "node " << id);
    ASSERT_FALSE(net.node(id).applied.empty());
    const Entry& e = net.node(id).applied.back();
    EXPECT_EQ(e.type, EntryType::kConfChange);
    absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data.view());
    ASSERT_TRUE(cc.ok()) << cc.status();
    EXPECT_EQ(cc->node_id, 4u);
    EXPECT_EQ(net.node(id).conf_state, CS({1, 2, 3, 4}));
    EXPECT_EQ(net.raw(id).GetStatus().conf_state, CS({1, 2, 3, 4}));
  }
}

TEST(MembershipTest, AddedVoterCatchesUpAndCountsInQuorum) {
  Network net({1, 2, 3});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("before")));
  net.Stabilize();
  net.AddNode(4, CS({1, 2, 3}));
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 4)));
  TickUntil(net, 1, [&] { return net.node(4).LastIndex() == net.node(1).LastIndex(); });
  EXPECT_EQ(net.node(4).LogTerms(), net.node(1).LogTerms());
  EXPECT_TRUE(Contains(net.node(4).applied, "before"));
  EXPECT_EQ(net.node(4).conf_state, CS({1, 2, 3, 4}));
  EXPECT_EQ(net.raw(1).GetStatus().progress.count(4), 1u);

  // Four voters: 1 and 2 alone are not a quorum any more.
  net.Isolate(3);
  net.Isolate(4);
  const Index commit = net.node(1).commit();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("needs three")));
  net.Stabilize();
  EXPECT_EQ(net.node(1).commit(), commit);
  net.Heal();
  net.Isolate(3);
  TickUntil(net, 1, [&] { return net.node(1).commit() > commit; });
  EXPECT_GT(net.node(1).commit(), commit);
  EXPECT_TRUE(Contains(net.node(4).applied, "needs three"));
}

TEST(MembershipTest, RemovedVoterNoLongerCountsOrReceives) {
  Network net({1, 2, 3});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kRemoveNode, 3)));
  net.Stabilize();
  EXPECT_EQ(net.node(1).conf_state, CS({1, 2}));
  EXPECT_EQ(net.node(2).conf_state, CS({1, 2}));
  EXPECT_EQ(net.raw(1).GetStatus().progress.count(3), 0u);

  // {1, 2} commit without node 3, and the leader sends it nothing.
  net.Isolate(3);
  net.ClearSent();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("without 3")));
  for (int i = 0; i < 3; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  EXPECT_TRUE(Contains(net.node(2).applied, "without 3"));
  EXPECT_TRUE(Contains(net.node(1).applied, "without 3"));
  for (const Message& m : net.sent()) EXPECT_NE(m.to, 3u) << Describe(m);
}

TEST(MembershipTest, ShrinkToOneVoter) {
  // After node 2 is removed, node 1 alone is a quorum.
  Network net({1, 2});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kRemoveNode, 2)));
  net.Stabilize();
  EXPECT_EQ(net.node(1).conf_state, CS({1}));
  net.Isolate(2);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("alone")));
  net.Stabilize();
  EXPECT_TRUE(Contains(net.node(1).applied, "alone"));
}

TEST(MembershipTest, OnlyOnePendingConfChange) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.Isolate(2);
  net.Isolate(3);
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 4)));
  net.Stabilize();
  absl::Status s = net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 5));
  EXPECT_TRUE(IsProposalDropped(s)) << "a second conf change while one is pending: " << s;
  RAFT_EXPECT_OK(net.raw(1).Propose(Payload("normal proposals still go")));

  net.Heal();
  TickUntil(net, 1, [&] { return net.node(1).conf_state.voters.size() == 4; });
  ASSERT_EQ(net.node(1).conf_state, CS({1, 2, 3, 4}));
  RAFT_EXPECT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 5)));
  net.Stabilize();
  int conf_entries = 0;
  for (const Entry& e : net.node(2).applied) conf_entries += e.type == EntryType::kConfChange;
  EXPECT_EQ(conf_entries, 2);
}

TEST(MembershipTest, PendingConfChangeFromPreviousLeaderBlocksNewOnes) {
  // A new leader cannot know whether the uncommitted tail of its log holds a
  // conf change, so at no time may its log hold two unapplied conf changes.
  Network net({1, 2, 3});
  net.Elect(1);
  net.SetDropFilter([](const Message& m) { return m.type == MessageType::kAppResp; });
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddLearnerNode, 4)));
  net.Stabilize();  // the entry reaches 2 and 3 but is not committed
  ASSERT_EQ(net.node(2).LastIndex(), net.node(1).LastIndex());
  // Node 1 goes away; 2 and 3 elect a leader that cannot commit anything.
  net.SetDropFilter(
      [](const Message& m) { return m.type == MessageType::kAppResp || m.from == 1 || m.to == 1; });
  for (int i = 0; i < 40 && net.Leader() == 1u; ++i) {
    net.Tick(2);
    net.Tick(3);
    net.Stabilize();
  }
  const NodeId leader = net.Leader();
  ASSERT_TRUE(leader == 2u || leader == 3u);
  ASSERT_LT(net.node(leader).applied_index, net.node(leader).LastIndex());

  absl::Status s = net.raw(leader).ProposeConfChange(CC(ConfChangeType::kAddNode, 5));
  net.DrainNode(leader);
  int unapplied_conf = 0;
  const Node& l = net.node(leader);
  for (Index i = l.applied_index + 1; i <= l.LastIndex(); ++i) {
    auto ents = net.storage(leader).Entries(i, i + 1, kNoLimit);
    ASSERT_TRUE(ents.ok());
    unapplied_conf += (*ents)[0].type == EntryType::kConfChange;
  }
  EXPECT_LE(unapplied_conf, 1) << "propose status: " << s;
  EXPECT_TRUE(IsProposalDropped(s)) << s;
}

TEST(MembershipTest, LearnerReceivesLogButIsNotInQuorum) {
  Network net({1, 2}, nullptr, {3});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("a")));
  net.Stabilize();
  EXPECT_TRUE(Contains(net.node(3).applied, "a"));
  EXPECT_TRUE(net.raw(1).GetStatus().progress.at(3).is_learner);

  // With voter 2 down, the learner's acknowledgement does not commit.
  net.Isolate(2);
  const Index commit = net.node(1).commit();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("b")));
  net.Stabilize();
  EXPECT_EQ(net.node(3).LastIndex(), net.node(1).LastIndex()) << "the learner has the entry";
  EXPECT_EQ(net.node(1).commit(), commit) << "a learner's ack counted towards the quorum";

  net.Heal();
  TickUntil(net, 1, [&] { return net.node(1).commit() > commit; });
  EXPECT_TRUE(Contains(net.node(3).applied, "b"));
}

TEST(MembershipTest, LearnerNeverCampaigns) {
  Network net({1, 2}, nullptr, {3});
  net.Elect(1);
  net.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    net.Tick(3);
    Drained d = net.DrainNode(3);
    net.queue().clear();
    EXPECT_TRUE(d.Of(MessageType::kVote).empty() && d.Of(MessageType::kPreVote).empty());
  }
  (void)net.raw(3).Campaign();
  Drained d = net.DrainNode(3);
  EXPECT_TRUE(d.Of(MessageType::kVote).empty() && d.Of(MessageType::kPreVote).empty());
  EXPECT_EQ(net.node(3).role(), StateRole::kFollower);
}

TEST(MembershipTest, LearnerVoteDoesNotCount) {
  NodeSetup s;
  s.conf_state = CS({1, 2}, {3});
  auto n = MakeNode(2, s, [](Config& c) { c.pre_vote = false; });
  RAFT_ASSERT_OK(n->raw->Campaign());
  Drained d = n->Drain();
  ASSERT_EQ(n->role(), StateRole::kCandidate);
  EXPECT_EQ(d.To(1, MessageType::kVote).size(), 1u);
  n->StepAndDrain(MakeMsg(MessageType::kVoteResp, 3, 2, n->term()));
  EXPECT_EQ(n->role(), StateRole::kCandidate) << "a learner's vote made a leader";
  n->StepAndDrain(MakeMsg(MessageType::kVoteResp, 1, 2, n->term()));
  EXPECT_EQ(n->role(), StateRole::kLeader);
}

TEST(MembershipTest, AddLearnerThenPromote) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.AddNode(4, CS({1, 2, 3}));
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddLearnerNode, 4)));
  TickUntil(net, 1, [&] { return net.node(4).LastIndex() == net.node(1).LastIndex(); });
  EXPECT_EQ(net.node(1).conf_state, CS({1, 2, 3}, {4}));
  EXPECT_EQ(net.node(4).conf_state, CS({1, 2, 3}, {4}));
  EXPECT_TRUE(net.raw(1).GetStatus().progress.at(4).is_learner);

  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(CC(ConfChangeType::kAddNode, 4)));
  net.Stabilize();
  EXPECT_EQ(net.node(1).conf_state, CS({1, 2, 3, 4}));
  EXPECT_EQ(net.node(4).conf_state, CS({1, 2, 3, 4}));
  EXPECT_FALSE(net.raw(1).GetStatus().progress.at(4).is_learner);
}

TEST(MembershipTest, ApplyConfChangeReturnsNewMembership) {
  Network net({1});
  net.Elect(1);
  ConfState cs = net.raw(1).ApplyConfChange(CC(ConfChangeType::kAddLearnerNode, 2));
  EXPECT_EQ(cs, CS({1}, {2}));
  cs = net.raw(1).ApplyConfChange(CC(ConfChangeType::kAddNode, 2));
  EXPECT_EQ(cs, CS({1, 2}));
  cs = net.raw(1).ApplyConfChange(CC(ConfChangeType::kRemoveNode, 2));
  EXPECT_EQ(cs, CS({1}));
}

}  // namespace
}  // namespace raftkv::raft::testing
