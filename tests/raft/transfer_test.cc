// Leadership transfer (dissertation 3.10): the leader brings the target up to
// date, then tells it to campaign at once (kTimeoutNow); proposals are refused
// meanwhile; a transfer that cannot finish within an election timeout is
// abandoned.
#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

TEST(TransferTest, TransferToUpToDateFollower) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  net.raw(1).TransferLeader(2);
  net.Stabilize();
  EXPECT_EQ(net.CountSent(MessageType::kTimeoutNow, 1, 2), 1);
  EXPECT_EQ(net.Leader(), 2u);
  EXPECT_EQ(net.node(2).term(), t + 1);
  EXPECT_EQ(net.node(1).role(), StateRole::kFollower);
  EXPECT_EQ(net.node(1).lead(), 2u);
  EXPECT_EQ(net.raw(2).GetStatus().lead_transferee, kNoNode);
}

TEST(TransferTest, LaggingTargetIsCaughtUpFirst) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) RAFT_ASSERT_OK(net.raw(1).Propose(Payload("e" + std::to_string(i))));
  net.Stabilize();
  ASSERT_LT(net.node(3).LastIndex(), net.node(1).LastIndex());
  const Index leader_last = net.node(1).LastIndex();
  const Term t = net.node(1).term();
  net.Heal();

  Index target_last_at_timeout_now = 0;
  net.SetDeliverHook([&](const Message& m) {
    if (m.type == MessageType::kTimeoutNow && m.to == 3) {
      target_last_at_timeout_now = net.node(3).LastIndex();
    }
  });
  net.raw(1).TransferLeader(3);
  EXPECT_EQ(net.raw(1).GetStatus().lead_transferee, 3u);
  for (int i = 0; i < 5 && net.Leader() != 3u; ++i) {
    net.Stabilize();
    if (net.Leader() == 3u) break;
    net.Tick(1);  // heartbeats resume replication to node 3
  }
  EXPECT_EQ(net.Leader(), 3u);
  EXPECT_EQ(net.node(3).term(), t + 1);
  EXPECT_EQ(target_last_at_timeout_now, leader_last)
      << "kTimeoutNow sent before the target had the leader's whole log";
  net.Stabilize();
  for (NodeId id : net.ids()) EXPECT_EQ(net.node(id).applied.size(), 7u) << "node " << id;
}

TEST(TransferTest, ProposalsDroppedDuringTransferAndTransferTimesOut) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.Isolate(3);  // the target cannot catch up
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("before")));
  net.Stabilize();
  net.raw(1).TransferLeader(3);
  net.Stabilize();
  ASSERT_EQ(net.raw(1).GetStatus().lead_transferee, 3u);
  absl::Status s = net.raw(1).Propose(Payload("during"));
  EXPECT_TRUE(IsProposalDropped(s)) << s;

  // Within an election timeout the leader gives up and takes proposals again.
  for (int i = 0; i < 10; ++i) {
    net.Tick(1);
    net.Tick(2);
    net.Stabilize();
  }
  EXPECT_EQ(net.node(1).role(), StateRole::kLeader);
  EXPECT_EQ(net.raw(1).GetStatus().lead_transferee, kNoNode);
  RAFT_EXPECT_OK(net.raw(1).Propose(Payload("after")));
  net.Stabilize();
  for (const Entry& e : net.node(2).applied) EXPECT_NE(e.data.ToString(), "during");
}

TEST(TransferTest, TransferToSelfOrNonMemberIsNoop) {
  Network net({1, 2, 3});
  net.Elect(1);
  const Term t = net.node(1).term();
  for (NodeId target : {NodeId{1}, NodeId{9}}) {
    SCOPED_TRACE(::testing::Message() << "target " << target);
    net.ClearSent();
    net.raw(1).TransferLeader(target);
    net.Stabilize();
    EXPECT_EQ(net.raw(1).GetStatus().lead_transferee, kNoNode);
    EXPECT_EQ(net.Leader(), 1u);
    EXPECT_EQ(net.node(1).term(), t);
    EXPECT_EQ(net.CountSent(MessageType::kTimeoutNow), 0);
    RAFT_EXPECT_OK(net.raw(1).Propose(Payload("still leader")));
    net.Stabilize();
  }
}

TEST(TransferTest, TransferToLearnerIsNoop) {
  Network net({1, 2}, nullptr, {3});
  net.Elect(1);
  net.raw(1).TransferLeader(3);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.CountSent(MessageType::kTimeoutNow), 0);
}

TEST(TransferTest, FollowerForwardsTransferRequest) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.raw(2).TransferLeader(3);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 3u);
}

TEST(TransferTest, TimeoutNowBypassesLeaseAndPreVote) {
  // With check_quorum and pre_vote on, the followers are in lease; the
  // transfer's campaign must still win.
  Network net({1, 2, 3});
  net.Elect(1);
  net.TickAllAndStabilize(3);
  net.raw(1).TransferLeader(2);
  Drained d = net.DrainNode(1);
  ASSERT_EQ(d.To(2, MessageType::kTimeoutNow).size(), 1u);
  net.DeliverQueued();
  d = net.DrainNode(2);
  EXPECT_TRUE(d.Of(MessageType::kPreVote).empty()) << "a forced campaign skips pre-vote";
  EXPECT_EQ(d.Of(MessageType::kVote).size(), 2u);
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 2u);
}

}  // namespace
}  // namespace raftkv::raft::testing
