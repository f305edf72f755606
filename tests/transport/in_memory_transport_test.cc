#include "src/transport/in_memory_transport.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "tests/transport/test_util.h"

namespace raftkv::transport {
namespace {

using testing::Heartbeat;
using testing::Inbox;
using testing::MakeMessage;
using testing::MixedMessages;
using testing::Render;

// Three started nodes, each knowing the other two.
class InMemoryTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (NodeId id = 1; id <= 3; ++id) {
      nodes_.push_back(std::make_unique<InMemoryTransport>(&hub_, id));
    }
    for (NodeId id = 1; id <= 3; ++id) {
      for (NodeId peer = 1; peer <= 3; ++peer) {
        if (peer != id) {
          ASSERT_TRUE(node(id).AddPeer(peer, "mem").ok());
        }
      }
      ASSERT_TRUE(node(id).Start(inbox(id).Handlers()).ok());
    }
  }
  void TearDown() override {
    for (auto& n : nodes_) n->Stop();
  }

  InMemoryTransport& node(NodeId id) { return *nodes_[id - 1]; }
  Inbox& inbox(NodeId id) { return inboxes_[id - 1]; }

  InMemoryHub hub_;
  Inbox inboxes_[3];  // declared before nodes_: outlives them
  std::vector<std::unique_ptr<InMemoryTransport>> nodes_;
};

TEST_F(InMemoryTransportTest, DeliversEveryKindIntact) {
  std::vector<raft::Message> sent = MixedMessages(1, 2);
  node(1).Send(sent);
  ASSERT_TRUE(inbox(2).WaitForMessages(sent.size()));
  std::vector<raft::Message> got = inbox(2).messages();
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(Render(got[i]), Render(sent[i]));
  // The one kSnap was delivered.
  ASSERT_EQ(inbox(1).snapshot_status().size(), 1u);
  EXPECT_EQ(inbox(1).snapshot_status()[0], std::make_pair(NodeId{2}, false));
  EXPECT_EQ(node(2).Stats().received_messages, sent.size());
  EXPECT_EQ(node(1).Stats().peers.at(2).sent_messages, sent.size());
}

TEST_F(InMemoryTransportTest, CutLinkDropsAndReportsUnreachableOncePerOutage) {
  hub_.Cut(1, 2);
  node(1).Send({Heartbeat(1, 2, 1), Heartbeat(1, 2, 2), Heartbeat(1, 3, 3)});
  node(2).Send({Heartbeat(2, 1, 1)});
  EXPECT_TRUE(inbox(2).messages().empty());
  EXPECT_TRUE(inbox(1).messages().empty());
  EXPECT_EQ(inbox(3).messages().size(), 1u);  // 1-3 is still up
  EXPECT_EQ(inbox(1).unreachable(), std::vector<NodeId>{2});
  EXPECT_EQ(inbox(2).unreachable(), std::vector<NodeId>{1});
  EXPECT_EQ(node(1).Stats().peers.at(2).dropped_unreachable, 2u);

  hub_.Heal(1, 2);
  node(1).Send({Heartbeat(1, 2, 4)});
  EXPECT_EQ(inbox(2).messages().size(), 1u);
  // A new outage after a delivery is reported again.
  hub_.Isolate(2);
  node(1).Send({Heartbeat(1, 2, 5)});
  EXPECT_EQ(inbox(1).unreachable(), (std::vector<NodeId>{2, 2}));
  hub_.HealAll();
  node(3).Send({Heartbeat(3, 2, 6)});
  EXPECT_EQ(inbox(2).messages().size(), 2u);
}

TEST_F(InMemoryTransportTest, DropFilterLosesMessagesSilently) {
  hub_.SetDropFilter([](const raft::Message& m) { return m.type == raft::MessageType::kApp; });
  node(1).Send({MakeMessage(raft::MessageType::kApp, 1, 2), Heartbeat(1, 2, 1)});
  ASSERT_EQ(inbox(2).messages().size(), 1u);
  EXPECT_EQ(inbox(2).messages()[0].type, raft::MessageType::kHeartbeat);
  EXPECT_EQ(hub_.filtered(), 1u);
  EXPECT_TRUE(inbox(1).unreachable().empty());
}

TEST_F(InMemoryTransportTest, StoppedPeerIsUnreachableAndSnapshotFails) {
  node(3).Stop();
  raft::Message snap = MakeMessage(raft::MessageType::kSnap, 1, 3);
  snap.snapshot.metadata.index = 5;
  node(1).Send({snap});
  EXPECT_EQ(inbox(1).unreachable(), std::vector<NodeId>{3});
  EXPECT_EQ(inbox(1).snapshot_status(), (std::vector<std::pair<NodeId, bool>>{{3, true}}));
  // A stopped node neither sends nor receives.
  node(3).Send({Heartbeat(3, 1, 1)});
  EXPECT_EQ(node(3).Stats().dropped_not_running, 1u);
  EXPECT_FALSE(node(3).Start(inbox(3).Handlers()).ok());
}

TEST_F(InMemoryTransportTest, UnknownAndRemovedPeersAreCounted) {
  node(1).Send({Heartbeat(1, 9, 1)});
  node(1).RemovePeer(2);
  node(1).Send({Heartbeat(1, 2, 1)});
  EXPECT_EQ(node(1).Stats().dropped_unknown_peer, 2u);
  EXPECT_TRUE(inbox(2).messages().empty());
  EXPECT_FALSE(node(1).AddPeer(1, "self").ok());
  EXPECT_FALSE(node(1).AddPeer(0, "none").ok());
}

TEST_F(InMemoryTransportTest, HandlersMaySendFromInsideADelivery) {
  // Node 2 answers every heartbeat from its on_message handler (a stand-in
  // for a node loop that runs on the delivering thread).
  InMemoryHub hub;
  InMemoryTransport a(&hub, 1);
  InMemoryTransport b(&hub, 2);
  Inbox inbox_a;
  ASSERT_TRUE(a.AddPeer(2, "b").ok());
  ASSERT_TRUE(b.AddPeer(1, "a").ok());
  ASSERT_TRUE(a.Start(inbox_a.Handlers()).ok());
  TransportHandlers echo;
  echo.on_message = [&b](raft::Message m) {
    b.Send({MakeMessage(raft::MessageType::kHeartbeatResp, 2, m.from)});
  };
  ASSERT_TRUE(b.Start(echo).ok());
  a.Send({Heartbeat(1, 2, 1)});
  ASSERT_EQ(inbox_a.messages().size(), 1u);
  EXPECT_EQ(inbox_a.messages()[0].type, raft::MessageType::kHeartbeatResp);
  b.Stop();
  a.Stop();
}

}  // namespace
}  // namespace raftkv::transport
