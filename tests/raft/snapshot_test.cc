// Snapshots and log compaction (Raft paper section 7): a follower that needs
// entries the leader has compacted gets the leader's snapshot instead.
#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

ConfState CS(std::vector<NodeId> voters) {
  ConfState cs;
  cs.voters = std::move(voters);
  return cs;
}

// Elects 1, lags node 3 behind by `n` entries and compacts the leader's log up
// to its applied index. Returns the snapshot index.
Index LagAndCompact(Network& net, int n) {
  net.Elect(1);
  net.Isolate(3);
  for (int i = 0; i < n; ++i) {
    absl::Status s = net.raw(1).Propose(Payload("e" + std::to_string(i)));
    EXPECT_TRUE(s.ok()) << s;
  }
  net.Stabilize();
  Node& leader = net.node(1);
  const Index applied = leader.applied_index;
  EXPECT_EQ(applied, leader.LastIndex());
  ConfState cs = leader.conf_state;
  absl::StatusOr<Snapshot> snap =
      leader.storage->CreateSnapshot(applied, &cs, Payload("state@" + std::to_string(applied)));
  EXPECT_TRUE(snap.ok()) << snap.status();
  absl::Status s = leader.storage->Compact(applied);
  EXPECT_TRUE(s.ok()) << s;
  return applied;
}

TEST(SnapshotTest, LaggingFollowerGetsSnapshot) {
  Network net({1, 2, 3});
  const Index snap_index = LagAndCompact(net, 10);
  ASSERT_GT(net.node(1).FirstIndex(), net.node(3).LastIndex() + 1);
  net.Heal();
  for (int i = 0; i < 5 && net.node(3).snapshots.empty(); ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  EXPECT_GE(net.CountSent(MessageType::kSnap, 1, 3), 1);
  ASSERT_EQ(net.node(3).snapshots.size(), 1u);
  const Snapshot& got = net.node(3).snapshots[0];
  EXPECT_EQ(got.metadata.index, snap_index);
  EXPECT_EQ(got.metadata.term, net.node(1).term());
  EXPECT_EQ(got.metadata.conf_state, CS({1, 2, 3}));
  EXPECT_EQ(got.data.ToString(), "state@" + std::to_string(snap_index));
  EXPECT_GE(net.node(3).commit(), snap_index);
  EXPECT_EQ(net.node(3).FirstIndex(), snap_index + 1);

  // Replication carries on from the snapshot.
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("after")));
  for (int i = 0; i < 3; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  ASSERT_FALSE(net.node(3).applied.empty());
  EXPECT_EQ(net.node(3).applied.back().data.ToString(), "after");
  EXPECT_EQ(net.node(3).applied.back().index, snap_index + 1);
  EXPECT_EQ(net.node(3).LastIndex(), net.node(1).LastIndex());
  EXPECT_EQ(net.raw(1).GetStatus().progress.at(3).state, ProgressState::kReplicate);
}

TEST(SnapshotTest, NewNodeJoinsFromSnapshot) {
  Network net({1, 2, 3});
  net.Elect(1);
  for (int i = 0; i < 5; ++i) RAFT_ASSERT_OK(net.raw(1).Propose(Payload("x")));
  net.Stabilize();
  net.AddNode(4, ConfState{});  // knows nothing: learns all from the snapshot
  ConfChange cc;
  cc.type = ConfChangeType::kAddLearnerNode;
  cc.node_id = 4;
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(cc));
  net.SetDropFilter([](const Message& m) { return m.to == 4; });
  net.Stabilize();
  Node& leader = net.node(1);
  const Index applied = leader.applied_index;
  ConfState cs = leader.conf_state;
  ASSERT_TRUE(leader.storage->CreateSnapshot(applied, &cs, Payload("s")).ok());
  RAFT_ASSERT_OK(leader.storage->Compact(applied));
  net.Heal();
  for (int i = 0; i < 5 && net.node(4).snapshots.empty(); ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  ASSERT_EQ(net.node(4).snapshots.size(), 1u);
  EXPECT_EQ(net.node(4).snapshots[0].metadata.index, applied);
  EXPECT_EQ(net.raw(4).GetStatus().conf_state.learners, std::vector<NodeId>{4});
  EXPECT_EQ(net.raw(4).GetStatus().conf_state.voters, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_EQ(net.node(4).commit(), applied);
}

TEST(SnapshotTest, ReportSnapshotMovesProgressOutOfSnapshotState) {
  Network net({1, 2, 3});
  LagAndCompact(net, 10);
  net.set_auto_report_snapshot(false);
  // Node 3 is back, but the snapshot is "lost in transit".
  net.Heal();
  net.SetDropFilter([](const Message& m) { return m.type == MessageType::kSnap; });
  for (int i = 0; i < 3 && net.CountSent(MessageType::kSnap, 1, 3) == 0; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  ASSERT_GE(net.CountSent(MessageType::kSnap, 1, 3), 1);
  EXPECT_EQ(net.raw(1).GetStatus().progress.at(3).state, ProgressState::kSnapshot);
  // While the snapshot is pending the leader sends no more to node 3.
  net.ClearSent();
  RAFT_ASSERT_OK(net.raw(1).Propose(Payload("p")));
  net.Stabilize();
  EXPECT_EQ(net.CountSent(MessageType::kApp, 1, 3), 0);
  EXPECT_EQ(net.CountSent(MessageType::kSnap, 1, 3), 0);

  net.raw(1).ReportSnapshot(3, /*failed=*/true);
  EXPECT_EQ(net.raw(1).GetStatus().progress.at(3).state, ProgressState::kProbe);

  // Now it gets through; the follower's answer resumes replication.
  net.Heal();
  for (int i = 0; i < 5 && net.node(3).LastIndex() < net.node(1).LastIndex(); ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  EXPECT_EQ(net.node(3).snapshots.size(), 1u);
  EXPECT_EQ(net.node(3).LastIndex(), net.node(1).LastIndex());
  net.raw(1).ReportSnapshot(3, /*failed=*/false);  // late report: harmless
  net.Tick(1);
  net.Stabilize();
  EXPECT_NE(net.raw(1).GetStatus().progress.at(3).state, ProgressState::kSnapshot);
}

TEST(SnapshotTest, NodeAddedAfterLeaderSnapshotCatchesUpFromIt) {
  // The leader's latest snapshot predates node 4's membership, and the log
  // before it is compacted. Node 4 accepts that snapshot although it is not
  // listed in it, catches up from the log after it, and becomes a member when
  // it applies the conf change that added it.
  Network net({1, 2, 3});
  net.Elect(1);
  for (int i = 0; i < 3; ++i) RAFT_ASSERT_OK(net.raw(1).Propose(Payload("x")));
  net.Stabilize();
  Node& leader = net.node(1);
  ConfState cs = leader.conf_state;
  ASSERT_TRUE(leader.storage->CreateSnapshot(leader.applied_index, &cs, Payload("old")).ok());
  RAFT_ASSERT_OK(leader.storage->Compact(leader.applied_index));

  ConfState old_cs;
  old_cs.voters = {1, 2, 3};
  net.AddNode(4, old_cs);
  ConfChange cc;
  cc.type = ConfChangeType::kAddNode;
  cc.node_id = 4;
  RAFT_ASSERT_OK(net.raw(1).ProposeConfChange(cc));
  for (int i = 0; i < 5 && net.node(4).LastIndex() < leader.LastIndex(); ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  ConfState now = leader.conf_state;
  ASSERT_EQ(now.voters, (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_EQ(net.node(4).LastIndex(), leader.LastIndex());
  EXPECT_EQ(net.raw(4).GetStatus().conf_state, now);
}

Snapshot MakeSnapshot(Index index, Term term, std::vector<NodeId> voters, std::string data) {
  Snapshot s;
  s.metadata.index = index;
  s.metadata.term = term;
  s.metadata.conf_state = CS(std::move(voters));
  s.data = Payload(std::move(data));
  return s;
}

TEST(SnapshotTest, FollowerRestoresFromSnapshot) {
  NodeSetup setup;
  setup.conf_state = CS({1, 2, 3});
  setup.entries = {MakeEntry(1, 1)};
  setup.hard_state = HardState{1, 0, 1};
  auto n = MakeNode(2, setup);
  n->Drain();

  Message m = MakeMsg(MessageType::kSnap, 1, 2, 2);
  m.snapshot = MakeSnapshot(10, 2, {1, 2, 3}, "image");
  Drained d = n->StepAndDrain(m);
  ASSERT_EQ(d.snapshots.size(), 1u);
  EXPECT_EQ(d.snapshots[0].metadata.index, 10u);
  EXPECT_EQ(d.snapshots[0].data.ToString(), "image");
  EXPECT_TRUE(d.committed.empty());
  EXPECT_EQ(n->commit(), 10u);
  EXPECT_EQ(n->term(), 2u);
  EXPECT_EQ(n->FirstIndex(), 11u);
  EXPECT_EQ(n->LastIndex(), 10u);
  EXPECT_EQ(n->lead(), 1u);
  auto resp = d.To(1, MessageType::kAppResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].index, 10u);

  // The log continues after the snapshot.
  Message app = MakeMsg(MessageType::kApp, 1, 2, 2);
  app.index = 10;
  app.log_term = 2;
  app.entries = {MakeEntry(11, 2, "next")};
  app.commit = 11;
  d = n->StepAndDrain(app);
  ASSERT_EQ(d.committed.size(), 1u);
  EXPECT_EQ(d.committed[0].data.ToString(), "next");
}

TEST(SnapshotTest, StaleSnapshotIsIgnored) {
  NodeSetup setup;
  setup.conf_state = CS({1, 2, 3});
  setup.entries = MakeEntries(1, 1, 10);
  setup.hard_state = HardState{1, 0, 10};
  auto n = MakeNode(2, setup);
  n->Drain();
  ASSERT_EQ(n->commit(), 10u);

  Message m = MakeMsg(MessageType::kSnap, 1, 2, 1);
  m.snapshot = MakeSnapshot(5, 1, {1, 2, 3}, "old");
  Drained d = n->StepAndDrain(m);
  EXPECT_TRUE(d.snapshots.empty()) << "a snapshot older than the commit index was installed";
  EXPECT_EQ(n->commit(), 10u);
  EXPECT_EQ(n->LastIndex(), 10u);
  EXPECT_EQ(n->FirstIndex(), 1u);
  for (const Message& r : d.To(1, MessageType::kAppResp)) {
    EXPECT_FALSE(r.reject);
    EXPECT_EQ(r.index, 10u) << "the answer tells the leader how far this follower is";
  }
}

TEST(SnapshotTest, SnapshotFromStaleTermIsIgnored) {
  NodeSetup setup;
  setup.conf_state = CS({1, 2, 3});
  setup.hard_state = HardState{5, 0, 0};
  auto n = MakeNode(2, setup);
  n->Drain();
  Message m = MakeMsg(MessageType::kSnap, 1, 2, 3);
  m.snapshot = MakeSnapshot(10, 3, {1, 2, 3}, "old leader");
  Drained d = n->StepAndDrain(m);
  EXPECT_TRUE(d.snapshots.empty());
  EXPECT_EQ(n->commit(), 0u);
}

TEST(SnapshotTest, RestartFromCompactedStorage) {
  // A node restarted on storage holding a snapshot and entries after it.
  auto storage = std::make_unique<MemoryStorage>();
  ASSERT_TRUE(storage->ApplySnapshot(MakeSnapshot(10, 2, {1, 2, 3}, "img")).ok());
  RAFT_ASSERT_OK(storage->Append({MakeEntry(11, 2, "a"), MakeEntry(12, 2, "b")}));
  storage->SetHardState(HardState{2, 1, 12});
  Config c = TestConfig(1, storage.get());
  c.applied = 10;
  auto raw = RawNode::Create(c);
  ASSERT_TRUE(raw.ok()) << raw.status();
  NodeStatus st = (*raw)->GetStatus();
  EXPECT_EQ(st.conf_state, CS({1, 2, 3}));
  EXPECT_EQ(st.hard_state.commit, 12u);
  ASSERT_TRUE((*raw)->HasReady());
  Ready rd = (*raw)->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].index, 11u);
  EXPECT_TRUE(rd.snapshot.IsEmpty()) << "a snapshot already in storage is not handed out again";
  (*raw)->Advance();
}

}  // namespace
}  // namespace raftkv::raft::testing
