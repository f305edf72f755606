// ReadIndex (dissertation 6.4): a leader serves a read index only after a
// heartbeat round confirms it is still leader, and only once it has committed
// an entry of its own term.
#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

const ReadState* FindRead(const Node& n, const std::string& ctx) {
  for (const ReadState& r : n.read_states) {
    if (r.request_ctx == ctx) return &r;
  }
  return nullptr;
}

// Elects node 1 of {1, 2, 3} and makes node 3 the follower it heard from last
// (node 2 misses an append); returns the commit index.
Index ElectWithNode3HeardLast(Network* net) {
  net->Elect(1);
  net->Isolate(2);
  EXPECT_TRUE(net->raw(1).Propose(Payload("x")).ok());
  net->Stabilize();
  net->Heal();
  return net->node(1).commit();
}

TEST(ReadIndexTest, LeaderAnswersAfterOneHeartbeatRound) {
  Network net({1, 2, 3});
  const Index commit = ElectWithNode3HeardLast(&net);
  net.ClearSent();

  net.raw(1).ReadIndex("r1");
  Drained d = net.DrainNode(1);
  EXPECT_TRUE(d.read_states.empty()) << "answered before confirming leadership";
  // The round goes only to the voter that completes a quorum with the leader,
  // the one heard from most recently.
  auto hbs = d.Of(MessageType::kHeartbeat);
  ASSERT_EQ(hbs.size(), 1u);
  EXPECT_EQ(hbs[0].to, 3u);
  EXPECT_EQ(hbs[0].context, "r1");

  // Its answer makes a quorum with the leader.
  net.Stabilize();
  const ReadState* r = FindRead(net.node(1), "r1");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->index, commit);
  EXPECT_EQ(net.node(1).read_states.size(), 1u);
}

TEST(ReadIndexTest, RoundGoesToAQuorumOfFiveVoters) {
  Network net({1, 2, 3, 4, 5});
  net.Elect(1);
  net.ClearSent();
  net.raw(1).ReadIndex("r");
  Drained d = net.DrainNode(1);
  auto hbs = d.Of(MessageType::kHeartbeat);
  ASSERT_EQ(hbs.size(), 2u) << "the leader and two followers are a quorum of five";
  EXPECT_NE(hbs[0].to, hbs[1].to);
  net.Stabilize();
  EXPECT_NE(FindRead(net.node(1), "r"), nullptr);
}

TEST(ReadIndexTest, SilentChosenVoterDelaysTheReadUntilResent) {
  Network net({1, 2, 3});
  const Index commit = ElectWithNode3HeardLast(&net);
  // Node 3, the most recently heard, now hears nothing.
  net.SetDropFilter([](const Message& m) { return m.to == 3; });
  net.raw(1).ReadIndex("r");
  net.Stabilize();
  EXPECT_EQ(FindRead(net.node(1), "r"), nullptr) << "node 2 was not asked";

  net.ClearSent();
  EXPECT_TRUE(net.raw(1).ResendReadIndexRound());
  Drained d = net.DrainNode(1);
  EXPECT_EQ(d.Of(MessageType::kHeartbeat).size(), 2u);
  net.Stabilize();
  const ReadState* r = FindRead(net.node(1), "r");
  ASSERT_NE(r, nullptr) << "node 2's answer completes the quorum";
  EXPECT_EQ(r->index, commit);

  // Nothing pending: a resend sends nothing, and says so.
  net.ClearSent();
  EXPECT_FALSE(net.raw(1).ResendReadIndexRound());
  EXPECT_TRUE(net.DrainNode(1).Of(MessageType::kHeartbeat).empty());
}

TEST(ReadIndexTest, NoAnswerWithoutQuorumThenLaterHeartbeatConfirms) {
  Network net({1, 2, 3});
  net.Elect(1);
  net.Isolate(1);
  net.raw(1).ReadIndex("r");
  net.Stabilize();
  EXPECT_EQ(FindRead(net.node(1), "r"), nullptr);

  net.Heal();
  for (int i = 0; i < 3 && FindRead(net.node(1), "r") == nullptr; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  const ReadState* r = FindRead(net.node(1), "r");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->index, net.node(1).commit());
}

TEST(ReadIndexTest, ManyReadsShareOneRound) {
  Network net({1, 2, 3});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("x")));
  net.Stabilize();
  const Index commit = net.node(1).commit();
  net.Isolate(1);
  net.ClearSent();
  for (const char* ctx : {"a", "b", "c", "d"}) {
    net.raw(1).ReadIndex(ctx);
    net.DrainNode(1);
  }
  net.queue().clear();
  std::vector<Message> hbs;
  for (const Message& m : net.sent()) {
    if (m.type == MessageType::kHeartbeat && !m.context.empty()) hbs.push_back(m);
  }
  ASSERT_FALSE(hbs.empty());
  EXPECT_LE(hbs.size(), 4u);
  EXPECT_TRUE(net.node(1).read_states.empty());

  // Only the last round's heartbeat gets through: its answer confirms every
  // read requested before it.
  net.Heal();
  net.queue().push_back(hbs.back());
  net.Stabilize();
  for (const char* ctx : {"a", "b", "c", "d"}) {
    const ReadState* r = FindRead(net.node(1), ctx);
    ASSERT_NE(r, nullptr) << ctx;
    EXPECT_EQ(r->index, commit) << ctx;
  }
  EXPECT_EQ(net.node(1).read_states.size(), 4u);
}

TEST(ReadIndexTest, NewLeaderWaitsForAnEntryOfItsTerm) {
  // check_quorum off, so that node 2 can be elected at once (no leases).
  Network net({1, 2, 3}, [](Config& c) { c.check_quorum = false; });
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("x")));
  net.Stabilize();

  // Node 2 wins an election but cannot commit its empty entry: every append
  // acknowledgement to it is lost.
  net.SetDropFilter([](const Message& m) { return m.type == MessageType::kAppResp && m.to == 2; });
  net.Elect(2);
  ASSERT_EQ(net.node(2).role(), StateRole::kLeader);
  const Index noop = net.node(2).LastIndex();
  ASSERT_LT(net.node(2).commit(), noop);

  net.raw(2).ReadIndex("early");
  net.Stabilize();
  for (int i = 0; i < 3; ++i) {
    net.Tick(2);
    net.Stabilize();
  }
  ASSERT_LT(net.node(2).commit(), noop);
  // The held read is not yet a round: a resend has nothing to send (the node
  // then tries again later instead of counting the round as resent).
  net.ClearSent();
  EXPECT_FALSE(net.raw(2).ResendReadIndexRound());
  EXPECT_TRUE(net.DrainNode(2).Of(MessageType::kHeartbeat).empty());
  for (const ReadState& r : net.node(2).read_states) {
    ADD_FAILURE() << "read index " << r.index << " served before the leader committed an entry "
                  << "of its term (its empty entry is at " << noop << ")";
  }

  // Once the empty entry commits, the pending read is answered.
  net.Heal();
  for (int i = 0; i < 5 && FindRead(net.node(2), "early") == nullptr; ++i) {
    net.Tick(2);
    net.Stabilize();
  }
  const ReadState* r = FindRead(net.node(2), "early");
  ASSERT_NE(r, nullptr);
  EXPECT_GE(r->index, noop);
}

TEST(ReadIndexTest, FollowerReadIndexIsForwardedToLeader) {
  Network net({1, 2, 3});
  net.Elect(1);
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("x")));
  net.Stabilize();
  net.raw(2).ReadIndex("f");
  Drained d = net.DrainNode(2);
  EXPECT_EQ(d.To(1, MessageType::kReadIndex).size(), 1u);
  EXPECT_TRUE(d.read_states.empty());
  net.Stabilize();
  const ReadState* r = FindRead(net.node(2), "f");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->index, net.node(1).commit());
  EXPECT_TRUE(net.node(1).read_states.empty()) << "the leader answers the follower, not itself";
  EXPECT_GE(net.CountSent(MessageType::kReadIndexResp, 1, 2), 1);
}

TEST(ReadIndexTest, SingleNodeAnswersAtOnce) {
  Network net({1});
  net.Elect(1);
  net.raw(1).ReadIndex("solo");
  Drained d = net.DrainNode(1);
  ASSERT_EQ(d.read_states.size(), 1u);
  EXPECT_EQ(d.read_states[0].index, net.node(1).commit());
}

TEST(ReadIndexTest, LeaseBasedReadNeedsNoRoundTrip) {
  Network net({1, 2, 3}, [](Config& c) { c.read_only_option = ReadOnlyOption::kLeaseBased; });
  net.Elect(1);
  net.Isolate(1);
  net.raw(1).ReadIndex("lease");
  Drained d = net.DrainNode(1);
  ASSERT_EQ(d.read_states.size(), 1u);
  EXPECT_EQ(d.read_states[0].request_ctx, "lease");
  EXPECT_EQ(d.read_states[0].index, net.node(1).commit());
}

}  // namespace
}  // namespace raftkv::raft::testing
