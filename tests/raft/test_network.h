// Test helpers for the Raft core: a tiny in-process "network" of RawNodes and
// helpers to drive a single node by hand.
//
// Everything goes through the public interface (RawNode, MemoryStorage, codec):
// a node's Ready is handled as a real caller would (persist snapshot, entries
// and hard state into its MemoryStorage, queue the messages, record committed
// entries and read states, apply conf changes, Advance). Messages are
// delivered in FIFO order; a drop filter models partitions. No clocks, no
// threads, no sleeps: time passes only through Tick().
//
// Thread-safety: none (tests are single-threaded).
#pragma once

#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "src/raft/codec.h"
#include "src/raft/raw_node.h"
#include "src/raft/storage.h"
#include "src/raft/types.h"

namespace raftkv::raft::testing {

#define RAFT_ASSERT_OK(expr)                                  \
  do {                                                        \
    const ::absl::Status raft_test_status_ = (expr);          \
    ASSERT_TRUE(raft_test_status_.ok()) << raft_test_status_; \
  } while (0)
#define RAFT_EXPECT_OK(expr)                                  \
  do {                                                        \
    const ::absl::Status raft_test_status_ = (expr);          \
    EXPECT_TRUE(raft_test_status_.ok()) << raft_test_status_; \
  } while (0)

// A deterministic config for node `id` reading `storage`.
Config TestConfig(NodeId id, const LogStorage* storage);

// An entry (index, term) with an optional payload.
Entry MakeEntry(Index index, Term term, std::string data = "");
// `n` entries with consecutive indexes from `first_index`, all of term `term`.
std::vector<Entry> MakeEntries(Index first_index, Term term, int n);

// A message built by hand.
Message MakeMsg(MessageType type, NodeId from, NodeId to, Term term);

// Everything a node handed out while its Ready was drained (several Readys
// merged): what it sent, persisted, applied and answered.
struct Drained {
  std::vector<std::optional<SoftState>> soft_states;  // one per Ready
  std::vector<HardState> hard_states;                 // non-empty ones, in order
  std::vector<Entry> entries;                         // persisted
  std::vector<Snapshot> snapshots;                    // installed
  std::vector<Entry> committed;                       // applied
  std::vector<ReadState> read_states;
  std::vector<Message> messages;
  int readies = 0;

  std::vector<Message> Of(MessageType t) const;
  std::vector<Message> To(NodeId to, MessageType t) const;
  std::optional<SoftState> LastSoftState() const;
};

// One RawNode with its MemoryStorage, driven by hand.
struct Node {
  NodeId id = kNoNode;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> raw;
  // Cumulative since creation.
  std::vector<Entry> applied;
  std::vector<ReadState> read_states;
  std::vector<Snapshot> snapshots;
  Index applied_index = 0;  // last applied entry or installed snapshot
  ConfState conf_state;
  bool apply_conf_changes = true;

  // Handles every pending Ready as a real caller would and returns what it
  // handed out. Fails the test if persisting fails.
  Drained Drain();
  // Steps m (must succeed), then drains.
  Drained StepAndDrain(Message m);

  StateRole role() const { return raw->GetStatus().soft_state.role; }
  NodeId lead() const { return raw->GetStatus().soft_state.lead; }
  Term term() const { return raw->GetStatus().hard_state.term; }
  Index commit() const { return raw->GetStatus().hard_state.commit; }
  Index LastIndex() const;
  Index FirstIndex() const;
  // Terms of the stored log from FirstIndex() to LastIndex().
  std::vector<Term> LogTerms() const;
};

// Storage contents for a node created by hand: membership, log, hard state.
struct NodeSetup {
  ConfState conf_state;
  std::vector<Entry> entries;  // starting at index 1
  HardState hard_state;
  bool bootstrap = true;  // false: an empty storage (a node that joins later)
};

// Creates a node; `tweak` may adjust the config before Create.
std::unique_ptr<Node> MakeNode(NodeId id, const NodeSetup& setup,
                               const std::function<void(Config&)>& tweak = nullptr);

class Network {
 public:
  using Tweak = std::function<void(Config&)>;

  // A cluster bootstrapped with these voters and learners, all with empty logs.
  explicit Network(std::initializer_list<NodeId> voters, Tweak tweak = nullptr,
                   std::initializer_list<NodeId> learners = {});
  // A cluster of nodes built from the given setups (same ids as keys).
  Network(const std::map<NodeId, NodeSetup>& setups, Tweak tweak = nullptr);

  Node& node(NodeId id) { return *nodes_.at(id); }
  RawNode& raw(NodeId id) { return *nodes_.at(id)->raw; }
  MemoryStorage& storage(NodeId id) { return *nodes_.at(id)->storage; }
  bool Has(NodeId id) const { return nodes_.count(id) > 0; }
  std::vector<NodeId> ids() const;

  // Adds a node that joins later. Its storage is bootstrapped with `cs` (the
  // membership it was told about when started), or left empty when cs has no
  // voters (it then learns the membership from a snapshot).
  void AddNode(NodeId id, const ConfState& cs);
  // Crash and restart: a new RawNode on the same storage. The state machine
  // restarts from the storage's snapshot, so entries after it are applied
  // again (conf changes included).
  void Restart(NodeId id);

  // Partitions: a message is dropped if it crosses a cut link or matches the
  // drop filter.
  void Isolate(NodeId id);
  void Cut(NodeId a, NodeId b);
  void Heal();
  void SetDropFilter(std::function<bool(const Message&)> f) { drop_filter_ = std::move(f); }
  // Called for every delivered message just before it is stepped.
  void SetDeliverHook(std::function<void(const Message&)> f) { deliver_hook_ = std::move(f); }
  // When a kSnap is delivered, report it to the sender as finished (as a
  // transport would). On by default.
  void set_auto_report_snapshot(bool on) { auto_report_snapshot_ = on; }

  // Drains every node and delivers messages until nothing moves. Fails the
  // test if it does not settle within max_rounds.
  void Stabilize(int max_rounds = 1000);
  // Drains node `id` only and queues its messages (no delivery).
  Drained DrainNode(NodeId id);
  // Delivers the queued messages once (the messages they cause are queued).
  void DeliverQueued();
  std::deque<Message>& queue() { return queue_; }
  // Delivers (or drops, as a lossy link would) the i-th queued message.
  void DeliverAt(size_t i);
  void DropAt(size_t i);

  void Tick(NodeId id, int n = 1);
  // Ticks every node once and stabilizes, n times.
  void TickAllAndStabilize(int n);
  // Campaign on `id` then stabilize.
  void Elect(NodeId id);
  // The node that believes it is leader with the highest term, or kNoNode.
  NodeId Leader() const;

  // Every message that was sent (delivered or dropped), in order.
  const std::vector<Message>& sent() const { return sent_; }
  void ClearSent() { sent_.clear(); }
  int CountSent(MessageType t, NodeId from = kNoNode, NodeId to = kNoNode) const;

 private:
  bool Dropped(const Message& m) const;
  void Deliver(Message m);

  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  Tweak tweak_;
  std::deque<Message> queue_;
  std::vector<Message> sent_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::function<bool(const Message&)> drop_filter_;
  std::function<void(const Message&)> deliver_hook_;
  bool auto_report_snapshot_ = true;
};

}  // namespace raftkv::raft::testing
