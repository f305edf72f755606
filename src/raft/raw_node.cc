#include "src/raft/raw_node.h"

#include "src/common/status_macros.h"
#include "src/raft/codec.h"
#include "src/raft/raft.h"

namespace raftkv::raft {

bool Ready::ContainsUpdates() const {
  return soft_state.has_value() || !hard_state.IsEmpty() || !snapshot.IsEmpty() ||
         !entries.empty() || !committed_entries.empty() || !messages.empty() ||
         !read_states.empty();
}

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  ASSIGN_OR_RETURN(std::unique_ptr<Raft> raft, Raft::Create(config));
  return std::unique_ptr<RawNode>(new RawNode(std::move(raft)));
}

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {
  prev_soft_state_ = raft_->soft_state();
  prev_hard_state_ = raft_->hard_state();
}

RawNode::~RawNode() = default;

NodeId RawNode::id() const { return raft_->id(); }
Index RawNode::LastIndex() const { return raft_->log().LastIndex(); }
Term RawNode::CurrentTerm() const { return raft_->term(); }
Index RawNode::CommitIndex() const { return raft_->log().committed(); }
bool RawNode::FollowersCanCommit() const { return raft_->FollowersCanCommit(); }
SoftState RawNode::GetSoftState() const { return raft_->soft_state(); }

void RawNode::Tick() { raft_->Tick(); }

absl::Status RawNode::Campaign() {
  Message m;
  m.type = MessageType::kHup;
  m.from = raft_->id();
  return raft_->Step(std::move(m));
}

absl::Status RawNode::Propose(Payload data) {
  std::vector<Payload> one;
  one.push_back(std::move(data));
  return ProposeBatch(std::move(one));
}

absl::Status RawNode::ProposeBatch(std::vector<Payload> data) {
  if (data.empty()) return absl::InvalidArgumentError("empty proposal batch");
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_->id();
  m.entries.resize(data.size());
  for (size_t i = 0; i < data.size(); ++i) m.entries[i].data = std::move(data[i]);
  return raft_->Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const ConfChange& cc) {
  if (cc.node_id == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_->id();
  m.entries.resize(1);
  m.entries[0].type = EntryType::kConfChange;
  m.entries[0].data = Payload(EncodeConfChange(cc));
  return raft_->Step(std::move(m));
}

ConfState RawNode::ApplyConfChange(const ConfChange& cc) { return raft_->ApplyConfChange(cc); }

absl::Status RawNode::Step(Message m) {
  if (IsLocalMessage(m.type)) {
    return absl::InvalidArgumentError(std::string("local message type ") + MessageTypeName(m.type) +
                                      " cannot come from a peer");
  }
  if (m.from == kNoNode) return absl::InvalidArgumentError("message from node 0");
  return raft_->Step(std::move(m));
}

bool RawNode::ResendReadIndexRound() { return raft_->ResendReadIndexRound(); }

void RawNode::ReadIndex(std::string request_ctx) {
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = raft_->id();
  m.context = std::move(request_ctx);
  (void)raft_->Step(std::move(m));
}

void RawNode::TransferLeader(NodeId transferee) {
  Message m;
  m.type = MessageType::kTransferLeader;
  m.from = transferee;
  (void)raft_->Step(std::move(m));
}

void RawNode::ReportUnreachable(NodeId id) {
  Message m;
  m.type = MessageType::kUnreachable;
  m.from = id;
  (void)raft_->Step(std::move(m));
}

void RawNode::ReportSnapshot(NodeId id, bool failed) {
  Message m;
  m.type = MessageType::kSnapStatus;
  m.from = id;
  m.reject = failed;
  (void)raft_->Step(std::move(m));
}

void RawNode::ReportLeaderLogDurable(Term term, Index index) {
  raft_->LeaderLogDurable(term, index);
}

bool RawNode::HasUnbroadcastCommit() const { return raft_->HasUnbroadcastCommit(); }

void RawNode::BroadcastCommit() { raft_->BroadcastCommit(); }

bool RawNode::HasReady() const {
  const Raft& r = *raft_;
  if (r.soft_state() != prev_soft_state_) return true;
  HardState hs = r.hard_state();
  if (!hs.IsEmpty() && hs != prev_hard_state_) return true;
  if (r.log().UnstableSnapshot().has_value()) return true;
  if (!raft_->msgs().empty() || r.log().HasUnstableEntries() || r.log().HasNextCommittedEntries()) {
    return true;
  }
  return !raft_->read_states().empty() || r.HasUnsentReadIndexRound();
}

Ready RawNode::GetReady() {
  RAFTKV_CHECK_MSG(!pending_ready_.has_value(), "GetReady called twice without Advance");
  raft_->FlushReadIndexRound();
  Ready rd;
  rd.entries = raft_->log().UnstableEntries();
  rd.committed_entries = raft_->log().NextCommittedEntries();
  rd.messages = std::move(raft_->msgs());
  raft_->msgs().clear();
  SoftState ss = raft_->soft_state();
  if (ss != prev_soft_state_) {
    rd.soft_state = ss;
    prev_soft_state_ = ss;
  }
  HardState hs = raft_->hard_state();
  if (hs != prev_hard_state_) rd.hard_state = hs;
  if (const auto& snap = raft_->log().UnstableSnapshot()) rd.snapshot = *snap;
  rd.read_states = std::move(raft_->read_states());
  raft_->read_states().clear();
  rd.must_sync = !rd.entries.empty() || hs.term != prev_hard_state_.term ||
                 hs.vote != prev_hard_state_.vote || !rd.snapshot.IsEmpty();
  ReadyCursor c;
  if (!rd.entries.empty()) {
    c.last_entry_index = rd.entries.back().index;
    c.last_entry_term = rd.entries.back().term;
  }
  if (!rd.committed_entries.empty()) {
    c.last_committed_index = rd.committed_entries.back().index;
    for (const Entry& e : rd.committed_entries) c.committed_bytes += e.data.size();
  }
  c.snapshot_index = rd.snapshot.metadata.index;
  pending_ready_ = c;
  pending_hard_state_ = rd.hard_state;
  return rd;
}

void RawNode::Advance() {
  RAFTKV_CHECK_MSG(pending_ready_.has_value(), "Advance without GetReady");
  if (!pending_hard_state_.IsEmpty()) prev_hard_state_ = pending_hard_state_;
  raft_->Advance(*pending_ready_);
  pending_ready_.reset();
}

NodeStatus RawNode::GetStatus() const { return raft_->status(); }

}  // namespace raftkv::raft
