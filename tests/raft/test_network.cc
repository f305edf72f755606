#include "tests/raft/test_network.h"

#include <algorithm>

namespace raftkv::raft::testing {

Config TestConfig(NodeId id, const LogStorage* storage) {
  Config c;
  c.id = id;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.storage = storage;
  c.seed = 42 + id;
  return c;
}

Entry MakeEntry(Index index, Term term, std::string data) {
  Entry e;
  e.index = index;
  e.term = term;
  e.data = Payload(std::move(data));
  return e;
}

std::vector<Entry> MakeEntries(Index first_index, Term term, int n) {
  std::vector<Entry> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeEntry(first_index + i, term));
  return out;
}

Message MakeMsg(MessageType type, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

std::vector<Message> Drained::Of(MessageType t) const {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.type == t) out.push_back(m);
  }
  return out;
}

std::vector<Message> Drained::To(NodeId to, MessageType t) const {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.type == t && m.to == to) out.push_back(m);
  }
  return out;
}

std::optional<SoftState> Drained::LastSoftState() const {
  std::optional<SoftState> last;
  for (const auto& s : soft_states) {
    if (s) last = s;
  }
  return last;
}

Drained Node::Drain() {
  Drained d;
  for (int guard = 0; raw->HasReady(); ++guard) {
    if (guard > 10000) {
      ADD_FAILURE() << "node " << id << " keeps producing Ready";
      break;
    }
    Ready rd = raw->GetReady();
    ++d.readies;
    d.soft_states.push_back(rd.soft_state);
    if (!rd.snapshot.IsEmpty()) {
      absl::Status s = storage->ApplySnapshot(rd.snapshot);
      EXPECT_TRUE(s.ok()) << "node " << id << ": " << s;
      d.snapshots.push_back(rd.snapshot);
      snapshots.push_back(rd.snapshot);
      conf_state = rd.snapshot.metadata.conf_state;
      applied_index = rd.snapshot.metadata.index;
    }
    if (!rd.entries.empty()) {
      absl::Status s = storage->Append(rd.entries);
      EXPECT_TRUE(s.ok()) << "node " << id << ": " << s;
      d.entries.insert(d.entries.end(), rd.entries.begin(), rd.entries.end());
    }
    if (!rd.hard_state.IsEmpty()) {
      storage->SetHardState(rd.hard_state);
      d.hard_states.push_back(rd.hard_state);
    }
    for (Message& m : rd.messages) {
      // A forwarded kTransferLeader names the transferee in `from` (as in
      // etcd), and a proposal or read request relayed by a former leader
      // keeps its requester.
      if (m.type != MessageType::kTransferLeader && m.type != MessageType::kProp &&
          m.type != MessageType::kReadIndex) {
        EXPECT_EQ(m.from, id) << Describe(m);
      }
      d.messages.push_back(std::move(m));
    }
    for (ReadState& r : rd.read_states) {
      read_states.push_back(r);
      d.read_states.push_back(std::move(r));
    }
    for (const Entry& e : rd.committed_entries) {
      EXPECT_EQ(e.index, applied_index + 1) << "node " << id << " applies out of order";
      applied_index = e.index;
      applied.push_back(e);
      d.committed.push_back(e);
      if (e.type == EntryType::kConfChange && apply_conf_changes) {
        absl::StatusOr<ConfChange> cc = DecodeConfChange(e.data.view());
        EXPECT_TRUE(cc.ok()) << cc.status();
        if (cc.ok()) conf_state = raw->ApplyConfChange(*cc);
      }
    }
    raw->Advance();
  }
  return d;
}

Drained Node::StepAndDrain(Message m) {
  std::string desc = Describe(m);
  absl::Status s = raw->Step(std::move(m));
  EXPECT_TRUE(s.ok()) << desc << ": " << s;
  return Drain();
}

Index Node::LastIndex() const { return *storage->LastIndex(); }
Index Node::FirstIndex() const { return *storage->FirstIndex(); }

std::vector<Term> Node::LogTerms() const {
  std::vector<Term> out;
  for (Index i = FirstIndex(); i <= LastIndex(); ++i) out.push_back(*storage->TermAt(i));
  return out;
}

std::unique_ptr<Node> MakeNode(NodeId id, const NodeSetup& setup,
                               const std::function<void(Config&)>& tweak) {
  auto n = std::make_unique<Node>();
  n->id = id;
  n->storage = std::make_unique<MemoryStorage>();
  if (setup.bootstrap) n->storage->Bootstrap(setup.conf_state);
  n->conf_state = setup.conf_state;
  if (!setup.entries.empty()) {
    absl::Status s = n->storage->Append(setup.entries);
    EXPECT_TRUE(s.ok()) << s;
  }
  if (!setup.hard_state.IsEmpty()) n->storage->SetHardState(setup.hard_state);
  Config c = TestConfig(id, n->storage.get());
  if (tweak) tweak(c);
  absl::StatusOr<std::unique_ptr<RawNode>> raw = RawNode::Create(c);
  EXPECT_TRUE(raw.ok()) << raw.status();
  if (raw.ok()) n->raw = std::move(*raw);
  return n;
}

Network::Network(std::initializer_list<NodeId> voters, Tweak tweak,
                 std::initializer_list<NodeId> learners)
    : tweak_(std::move(tweak)) {
  NodeSetup setup;
  setup.conf_state.voters = voters;
  setup.conf_state.learners = learners;
  std::sort(setup.conf_state.voters.begin(), setup.conf_state.voters.end());
  std::sort(setup.conf_state.learners.begin(), setup.conf_state.learners.end());
  std::vector<NodeId> all(voters);
  all.insert(all.end(), learners.begin(), learners.end());
  for (NodeId id : all) nodes_[id] = MakeNode(id, setup, tweak_);
}

Network::Network(const std::map<NodeId, NodeSetup>& setups, Tweak tweak)
    : tweak_(std::move(tweak)) {
  for (const auto& [id, setup] : setups) nodes_[id] = MakeNode(id, setup, tweak_);
}

std::vector<NodeId> Network::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

void Network::AddNode(NodeId id, const ConfState& cs) {
  NodeSetup setup;
  setup.conf_state = cs;
  setup.bootstrap = !cs.voters.empty();
  nodes_[id] = MakeNode(id, setup, tweak_);
}

void Network::Restart(NodeId id) {
  Node& n = node(id);
  absl::StatusOr<Snapshot> snap = n.storage->GetSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  Config c = TestConfig(id, n.storage.get());
  if (tweak_) tweak_(c);
  c.applied = snap->metadata.index;
  n.raw.reset();
  absl::StatusOr<std::unique_ptr<RawNode>> raw = RawNode::Create(c);
  ASSERT_TRUE(raw.ok()) << raw.status();
  n.raw = std::move(*raw);
  n.applied_index = snap->metadata.index;
  n.conf_state = snap->metadata.conf_state;
}

void Network::Isolate(NodeId id) {
  for (const auto& [other, n] : nodes_) {
    if (other != id) Cut(id, other);
  }
}

void Network::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void Network::Heal() {
  cut_.clear();
  drop_filter_ = nullptr;
}

bool Network::Dropped(const Message& m) const {
  if (cut_.count({m.from, m.to}) > 0) return true;
  if (drop_filter_ && drop_filter_(m)) return true;
  return nodes_.count(m.to) == 0;
}

Drained Network::DrainNode(NodeId id) {
  Drained d = node(id).Drain();
  for (const Message& m : d.messages) {
    sent_.push_back(m);
    queue_.push_back(m);
  }
  return d;
}

void Network::Deliver(Message m) {
  if (Dropped(m)) {
    // A transport reports a snapshot it could not send.
    if (m.type == MessageType::kSnap && auto_report_snapshot_ && Has(m.from)) {
      raw(m.from).ReportSnapshot(m.to, true);
    }
    return;
  }
  if (deliver_hook_) deliver_hook_(m);
  const NodeId to = m.to;
  const NodeId from = m.from;
  const bool is_snap = m.type == MessageType::kSnap;
  std::string desc = Describe(m);
  absl::Status s = raw(to).Step(std::move(m));
  // A forwarded proposal may be refused by its receiver (as etcd does).
  EXPECT_TRUE(s.ok() || IsProposalDropped(s)) << "deliver " << desc << ": " << s;
  if (is_snap && auto_report_snapshot_ && Has(from)) raw(from).ReportSnapshot(to, false);
}

void Network::DeliverAt(size_t i) {
  Message m = std::move(queue_.at(i));
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
  Deliver(std::move(m));
}

void Network::DropAt(size_t i) {
  Message m = std::move(queue_.at(i));
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
  if (m.type == MessageType::kSnap && auto_report_snapshot_ && Has(m.from)) {
    raw(m.from).ReportSnapshot(m.to, true);
  }
}

void Network::DeliverQueued() {
  std::deque<Message> batch;
  batch.swap(queue_);
  for (Message& m : batch) Deliver(std::move(m));
}

void Network::Stabilize(int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    for (const auto& [id, n] : nodes_) DrainNode(id);
    if (queue_.empty()) return;
    DeliverQueued();
  }
  ADD_FAILURE() << "network did not stabilize within " << max_rounds << " rounds";
}

void Network::Tick(NodeId id, int n) {
  for (int i = 0; i < n; ++i) raw(id).Tick();
}

void Network::TickAllAndStabilize(int n) {
  for (int i = 0; i < n; ++i) {
    for (const auto& [id, node] : nodes_) node->raw->Tick();
    Stabilize();
  }
}

void Network::Elect(NodeId id) {
  absl::Status s = raw(id).Campaign();
  EXPECT_TRUE(s.ok()) << s;
  Stabilize();
}

NodeId Network::Leader() const {
  NodeId best = kNoNode;
  Term best_term = 0;
  for (const auto& [id, n] : nodes_) {
    NodeStatus st = n->raw->GetStatus();
    if (st.soft_state.role == StateRole::kLeader && st.hard_state.term >= best_term) {
      best = id;
      best_term = st.hard_state.term;
    }
  }
  return best;
}

int Network::CountSent(MessageType t, NodeId from, NodeId to) const {
  int n = 0;
  for (const Message& m : sent_) {
    if (m.type == t && (from == kNoNode || m.from == from) && (to == kNoNode || m.to == to)) ++n;
  }
  return n;
}

}  // namespace raftkv::raft::testing
