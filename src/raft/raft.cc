#include "src/raft/raft.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/raft/codec.h"
#include "src/raft/confchange.h"

namespace raftkv::raft {

namespace {

constexpr char kCampaignTransfer[] = "CampaignTransfer";

absl::Status ProposalDropped(const char* why) {
  return absl::UnavailableError(absl::StrCat("proposal dropped: ", why));
}

MessageType VoteRespType(MessageType t) {
  return t == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
}

}  // namespace

bool IsProposalDropped(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable &&
         absl::StartsWith(s.message(), "proposal dropped");
}

absl::Status Config::Validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("raft config: id must not be 0");
  if (heartbeat_tick <= 0) {
    return absl::InvalidArgumentError("raft config: heartbeat_tick must be greater than 0");
  }
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError(
        "raft config: election_tick must be greater than heartbeat_tick");
  }
  if (storage == nullptr) return absl::InvalidArgumentError("raft config: storage must be set");
  if (max_inflight_msgs <= 0) {
    return absl::InvalidArgumentError("raft config: max_inflight_msgs must be greater than 0");
  }
  if (max_size_per_msg == 0) {
    return absl::InvalidArgumentError("raft config: max_size_per_msg must be greater than 0");
  }
  if (max_committed_size_per_ready == 0) {
    return absl::InvalidArgumentError(
        "raft config: max_committed_size_per_ready must be greater than 0");
  }
  if (read_only_option == ReadOnlyOption::kLeaseBased && !check_quorum) {
    return absl::InvalidArgumentError(
        "raft config: lease-based reads need check_quorum (a leader must know when its lease "
        "is lost)");
  }
  return absl::OkStatus();
}

Raft::Raft(const Config& c, const LogStorage& storage)
    : id_(c.id),
      log_(storage, c.max_committed_size_per_ready),
      trk_(static_cast<size_t>(c.max_inflight_msgs)),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      read_only_option_(c.read_only_option),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      defer_commit_broadcast_(c.defer_commit_broadcast),
      report_leader_log_durable_(c.report_leader_log_durable),
      max_msg_size_(c.max_size_per_msg),
      max_uncommitted_size_(c.max_uncommitted_entries_size),
      rng_(c.seed ^ (c.id * 0x9e3779b97f4a7c15ULL)) {}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& c) {
  RETURN_IF_ERROR(c.Validate());
  ASSIGN_OR_RETURN(InitialState init, c.storage->GetInitialState());
  std::unique_ptr<Raft> r(new Raft(c, *c.storage));
  r->SwitchToConfig(init.conf_state);
  const HardState& hs = init.hard_state;
  if (!hs.IsEmpty()) {
    if (hs.commit < r->log_.committed() || hs.commit > r->log_.LastIndex()) {
      return absl::DataLossError(absl::StrCat(
          "raft state is inconsistent: hard state commit ", hs.commit, " is outside the log [",
          r->log_.committed(), ", ", r->log_.LastIndex(), "]; the log was truncated or lost"));
    }
    r->log_.CommitTo(hs.commit);
    r->term_ = hs.term;
    r->vote_ = hs.vote;
  }
  if (c.applied > 0) {
    if (c.applied > r->log_.committed()) {
      return absl::DataLossError(absl::StrCat("applied index ", c.applied,
                                              " is past the commit index ", r->log_.committed(),
                                              "; the state machine is ahead of the log"));
    }
    if (c.applied >= r->log_.applied()) r->log_.AppliedTo(c.applied);
  }
  r->BecomeFollower(r->term_, kNoNode);
  return r;
}

// ---- role transitions ------------------------------------------------------

void Raft::Reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  trk_.ResetVotes();
  trk_.ResetAll(log_.LastIndex(), id_);
  pending_conf_index_ = 0;
  commit_unbroadcast_ = false;
  uncommitted_size_ = 0;
  read_only_ = ReadOnly();
  read_round_unsent_ = false;
  pending_read_index_messages_.clear();
}

void Raft::BecomeFollower(Term term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  state_ = StateRole::kFollower;
}

void Raft::BecomePreCandidate() {
  RAFTKV_CHECK_MSG(state_ != StateRole::kLeader, "leader cannot become pre-candidate");
  // A pre-candidate changes neither its term nor its vote.
  trk_.ResetVotes();
  lead_ = kNoNode;
  state_ = StateRole::kPreCandidate;
}

void Raft::BecomeCandidate() {
  RAFTKV_CHECK_MSG(state_ != StateRole::kLeader, "leader cannot become candidate");
  Reset(term_ + 1);
  vote_ = id_;
  state_ = StateRole::kCandidate;
}

void Raft::BecomeLeader() {
  RAFTKV_CHECK_MSG(state_ != StateRole::kFollower, "follower cannot become leader directly");
  Reset(term_);
  lead_ = id_;
  state_ = StateRole::kLeader;
  if (Progress* self = trk_.Get(id_)) self->BecomeReplicate();
  // Conf changes in the log but not yet applied block new ones.
  pending_conf_index_ = log_.LastIndex();
  // The no-op of the new term: committing it commits everything before it.
  std::vector<Entry> noop(1);
  RAFTKV_CHECK(AppendEntries(noop));
  // The no-op does not count against the uncommitted-size guard.
  uncommitted_size_ = 0;
}

// ---- elections ---------------------------------------------------------------

bool Raft::Promotable() const {
  const Progress* self = trk_.Get(id_);
  return self != nullptr && !self->is_learner && !log_.UnstableSnapshot().has_value();
}

bool Raft::HasUnappliedConfChanges() const {
  if (log_.applied() >= log_.committed()) return false;
  absl::StatusOr<std::vector<Entry>> ents =
      log_.Slice(std::max(log_.applied() + 1, log_.FirstIndex()), log_.committed() + 1, kNoLimit);
  if (!ents.ok()) return false;
  for (const Entry& e : *ents) {
    if (e.type == EntryType::kConfChange) return true;
  }
  return false;
}

void Raft::Hup(CampaignType t) {
  if (state_ == StateRole::kLeader) return;
  if (!Promotable()) return;
  // A committed conf change not yet applied may remove this node; wait for it.
  if (HasUnappliedConfChanges()) return;
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  if (!Promotable()) return;
  Term term;
  MessageType vote_type;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_type = MessageType::kPreVote;
    term = term_ + 1;  // the term it would campaign at; not adopted yet
  } else {
    BecomeCandidate();
    vote_type = MessageType::kVote;
    term = term_;
  }
  if (Poll(id_, true) == VoteResult::kWon) {
    // A single-voter group wins at once.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId id : trk_.config().voters) {
    if (id == id_) continue;
    Message m;
    m.type = vote_type;
    m.to = id;
    m.term = term;
    m.index = log_.LastIndex();
    m.log_term = log_.LastTerm();
    if (t == CampaignType::kTransfer) m.context = kCampaignTransfer;
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(NodeId id, bool granted) {
  trk_.RecordVote(id, granted);
  size_t g, r;
  return trk_.TallyVotes(&g, &r);
}

// ---- sending -----------------------------------------------------------------

void Raft::Send(Message m) {
  if (m.from == kNoNode) m.from = id_;
  if (m.type == MessageType::kVote || m.type == MessageType::kVoteResp ||
      m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResp) {
    RAFTKV_CHECK_MSG(m.term != 0, absl::StrCat("term unset on ", MessageTypeName(m.type)));
  } else {
    RAFTKV_CHECK_MSG(m.term == 0, absl::StrCat("term set on ", MessageTypeName(m.type)));
    // Proposals and read requests are forwarded as local messages (term 0).
    if (m.type != MessageType::kProp && m.type != MessageType::kReadIndex) m.term = term_;
  }
  msgs_.push_back(std::move(m));
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress* pr = trk_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  Message m;
  m.to = to;
  absl::StatusOr<Term> term = log_.TermAt(pr->next - 1);
  absl::StatusOr<std::vector<Entry>> ents = log_.EntriesFrom(pr->next, max_msg_size_);
  if (ents.ok() && ents->empty() && !send_if_empty) return false;
  if (!term.ok() || !ents.ok()) {
    // The entries the follower needs are compacted: send a snapshot instead.
    if (!pr->recent_active) return false;
    absl::StatusOr<Snapshot> snap = log_.GetSnapshot();
    if (!snap.ok()) {
      RAFTKV_CHECK_MSG(IsSnapshotTemporarilyUnavailable(snap.status()),
                       absl::StrCat("storage snapshot: ", snap.status().ToString()));
      return false;
    }
    RAFTKV_CHECK_MSG(!snap->IsEmpty(), "entries are compacted but the snapshot is empty");
    m.type = MessageType::kSnap;
    pr->BecomeSnapshot(snap->metadata.index);
    m.snapshot = std::move(*snap);
  } else {
    m.type = MessageType::kApp;
    m.index = pr->next - 1;
    m.log_term = *term;
    m.commit = log_.committed();
    m.entries = std::move(*ents);
    if (!m.entries.empty()) pr->SentEntries(m.entries.back().index);
  }
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(NodeId to, const std::string& ctx) {
  const Progress* pr = trk_.Get(to);
  // Never tell a follower to commit past what it is known to match: its log
  // beyond that may differ from ours.
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.commit = std::min(pr->match, log_.committed());
  m.context = ctx;
  Send(std::move(m));
}

void Raft::BroadcastAppend() {
  commit_unbroadcast_ = false;
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BroadcastCommit() {
  if (HasUnbroadcastCommit()) BroadcastAppend();
}

void Raft::BroadcastHeartbeat(const std::string& ctx) {
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

void Raft::SendTimeoutNow(NodeId to) {
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  Send(std::move(m));
}

// ---- the log -------------------------------------------------------------------

bool Raft::AppendEntries(std::vector<Entry>& es) {
  Index li = log_.LastIndex();
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].term = term_;
    es[i].index = li + 1 + i;
  }
  if (!IncreaseUncommittedSize(es)) return false;
  li = log_.Append(es);
  // With report_leader_log_durable the leader's copy counts when the caller
  // reports it on disk (LeaderLogDurable), not now.
#ifndef RAFTKV_FAULT_LEADER_COUNTS_UNSYNCED
  if (report_leader_log_durable_) return true;
#endif
  // (PLANTED FAULT in test builds with RAFTKV_FAULT_LEADER_COUNTS_UNSYNCED:
  // the leader counts its copy at append even when it is written unsynced.)
  if (Progress* self = trk_.Get(id_)) self->MaybeUpdate(li);
  MaybeCommit();
  return true;
}

void Raft::LeaderLogDurable(Term term, Index index) {
  // In its own term a leader's log only grows, so "up to index" still names
  // the entries that were written; in any other term it may not.
  if (!report_leader_log_durable_ || state_ != StateRole::kLeader || term != term_) return;
  Progress* self = trk_.Get(id_);
  if (self == nullptr || !self->MaybeUpdate(std::min(index, log_.LastIndex()))) return;
  if (MaybeCommit()) OnCommitAdvanced();
}

void Raft::OnCommitAdvanced() {
  ReleasePendingReadIndexMessages();
  if (defer_commit_broadcast_) {
    // Followers learn it from the next append or from BroadcastCommit.
    commit_unbroadcast_ = true;
  } else {
    BroadcastAppend();
  }
}

bool Raft::MaybeCommit() {
  Index mci = trk_.Committed();
#ifdef RAFTKV_FAULT_COMMIT_OLD_TERM
  // PLANTED FAULT (test builds only): commit by counting replicas whatever the
  // entry's term, which the paper's figure 8 shows to be unsafe.
  if (mci != kNoLimit && mci > log_.committed() && mci <= log_.LastIndex()) {
    log_.CommitTo(mci);
    return true;
  }
  return false;
#else
  if (mci == kNoLimit) return false;
  return log_.MaybeCommit(mci, term_);
#endif
}

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.ZeroTermOnCompacted(log_.committed()) == term_;
}

bool Raft::IncreaseUncommittedSize(const std::vector<Entry>& es) {
  if (max_uncommitted_size_ == 0) return true;
  uint64_t s = 0;
  for (const Entry& e : es) s += e.data.size();
  // Always admit something when nothing is outstanding, so a large entry can
  // still make progress.
  if (uncommitted_size_ > 0 && s > 0 && uncommitted_size_ + s > max_uncommitted_size_) {
    return false;
  }
  uncommitted_size_ += s;
  return true;
}

// ---- ticks ---------------------------------------------------------------------

void Raft::Tick() {
  if (state_ == StateRole::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    Message m;
    m.type = MessageType::kHup;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      Message m;
      m.type = MessageType::kCheckQuorum;
      m.from = id_;
      (void)Step(std::move(m));
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (state_ == StateRole::kLeader) AbortLeaderTransfer();
  }
  if (state_ != StateRole::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    Message m;
    m.type = MessageType::kBeat;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(rng_.Uniform(static_cast<uint64_t>(election_timeout_)));
}

// ---- Step ------------------------------------------------------------------------

absl::Status Raft::Step(Message m) {
  if (m.term == 0) {
    // A local message (or a forwarded proposal or read request).
  } else if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      bool force = m.context == kCampaignTransfer;
      bool in_lease = check_quorum_ && lead_ != kNoNode && election_elapsed_ < election_timeout_;
      // Within its lease a follower ignores vote requests: a node that merely
      // lost touch with the leader must not depose it.
      if (!force && in_lease) return absl::OkStatus();
    }
    if (m.type == MessageType::kPreVote) {
      // Never change term in response to a pre-vote.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // Pre-votes are requested at a future term; granted ones are tallied below.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnap) {
      BecomeFollower(m.term, m.from);
    } else {
      BecomeFollower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp)) {
      // A stale leader (e.g. just back from a partition) learns the new term
      // from this response and steps down.
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      Send(std::move(resp));
    } else if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
      // Rejected at our term, which the candidate then adopts (the paper's
      // RequestVote reply carries currentTerm). Without this, a candidate
      // that only this node can elect (e.g. it alone holds the newest
      // membership) may trail this node's term forever: found by raft_sim
      // seed 645.
      Message resp;
      resp.type = VoteRespType(m.type);
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  switch (m.type) {
    case MessageType::kHup:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return absl::OkStatus();
    case MessageType::kVote:
    case MessageType::kPreVote: {
      bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                      (m.type == MessageType::kPreVote && m.term > term_);
#ifdef RAFTKV_FAULT_VOTE_IGNORES_LOG
      // PLANTED FAULT (test builds only): grant votes without checking that the
      // candidate's log is at least as up to date.
      bool up_to_date = true;
#else
      bool up_to_date = log_.IsUpToDate(m.index, m.log_term);
#endif
      Message resp;
      resp.type = VoteRespType(m.type);
      resp.to = m.from;
      if (can_vote && up_to_date) {
        // A granted pre-vote answers at the requested term; the voter's term
        // does not change.
        resp.term = m.term;
        if (m.type == MessageType::kVote) {
          election_elapsed_ = 0;
          vote_ = m.from;
        }
      } else {
        resp.term = term_;
        resp.reject = true;
      }
      Send(std::move(resp));
      return absl::OkStatus();
    }
    default:
      break;
  }
  switch (state_) {
    case StateRole::kLeader:
      return StepLeader(m);
    case StateRole::kCandidate:
    case StateRole::kPreCandidate:
      return StepCandidate(m);
    case StateRole::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

absl::Status Raft::StepLeader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      BroadcastHeartbeat(read_only_.LastPendingRequestCtx());
      return absl::OkStatus();
    case MessageType::kCheckQuorum:
      if (!trk_.QuorumActive(id_)) {
        BecomeFollower(term_, kNoNode);
        return absl::OkStatus();
      }
      for (auto& [id, pr] : trk_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
      return absl::OkStatus();
    case MessageType::kProp: {
      RAFTKV_CHECK_MSG(!m.entries.empty(), "empty proposal");
      if (trk_.Get(id_) == nullptr) return ProposalDropped("this node was removed from the group");
      if (lead_transferee_ != kNoNode) {
        return ProposalDropped("leadership is being transferred");
      }
      for (size_t i = 0; i < m.entries.size(); ++i) {
        Entry& e = m.entries[i];
        if (e.type != EntryType::kConfChange) continue;
        if (pending_conf_index_ > log_.applied()) {
          // Only one conf change may be in flight: this one becomes a no-op
          // (its place in the log is kept so indexes stay as proposed).
          e.type = EntryType::kNormal;
          e.data = Payload();
          if (m.from == id_ && m.entries.size() == 1) {
            return ProposalDropped("another membership change is pending");
          }
        } else {
          pending_conf_index_ = log_.LastIndex() + i + 1;
        }
      }
      if (!AppendEntries(m.entries)) return ProposalDropped("too many uncommitted entries");
      BroadcastAppend();
      return absl::OkStatus();
    }
    case MessageType::kReadIndex:
      HandleReadIndex(std::move(m));
      return absl::OkStatus();
    default:
      break;
  }

  Progress* pr = trk_.Get(m.from);
  if (pr == nullptr) return absl::OkStatus();  // not a member (any more)
  switch (m.type) {
    case MessageType::kAppResp: {
      pr->recent_active = true;
      pr->last_heard = ++heard_counter_;
      if (m.reject) {
        // Fast backtracking: jump to the follower's hint, refined by our own
        // log when the follower told us the term at its hint.
        Index next_probe = m.reject_hint;
        if (m.log_term > 0) next_probe = log_.FindConflictByTerm(m.reject_hint, m.log_term).first;
        if (pr->MaybeDecrTo(m.index, next_probe)) {
          if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
          SendAppend(m.from);
        }
        return absl::OkStatus();
      }
      bool was_paused = pr->IsPaused();
      if (!pr->MaybeUpdate(m.index)) return absl::OkStatus();
      if (pr->state == ProgressState::kProbe) {
        pr->BecomeReplicate();
      } else if (pr->state == ProgressState::kSnapshot && pr->match >= pr->pending_snapshot) {
        pr->BecomeProbe();
        pr->BecomeReplicate();
      } else if (pr->state == ProgressState::kReplicate) {
        pr->inflights.FreeLE(m.index);
      }
      if (MaybeCommit()) {
        OnCommitAdvanced();
        // Under defer_commit_broadcast a paused follower still needs its
        // append now (it carries the new commit too).
        if (defer_commit_broadcast_ && was_paused) SendAppend(m.from);
      } else if (was_paused) {
        SendAppend(m.from);
      }
      // The window may have opened for several messages at once.
      while (MaybeSendAppend(m.from, false)) {
      }
      if (m.from == lead_transferee_ && pr->match == log_.LastIndex()) SendTimeoutNow(m.from);
      return absl::OkStatus();
    }
    case MessageType::kHeartbeatResp: {
      pr->recent_active = true;
      pr->last_heard = ++heard_counter_;
      pr->probe_sent = false;
      // Free one slot of a full window so a follower that lost kApps recovers.
      if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) {
        pr->inflights.FreeFirstOne();
      }
      if (pr->match < log_.LastIndex()) SendAppend(m.from);
      if (read_only_option_ != ReadOnlyOption::kSafe || m.context.empty()) return absl::OkStatus();
      const std::set<NodeId>* acks = read_only_.RecvAck(m.from, m.context);
      if (acks == nullptr) return absl::OkStatus();
      std::map<NodeId, bool> votes;
      for (NodeId id : *acks) votes[id] = true;
      if (TallyVotes(trk_.config().voters, votes) != VoteResult::kWon) return absl::OkStatus();
      for (ReadIndexStatus& rs : read_only_.Advance(m.context))
        RespondToReadIndex(rs.req, rs.index);
      return absl::OkStatus();
    }
    case MessageType::kSnapStatus:
      if (pr->state != ProgressState::kSnapshot) return absl::OkStatus();
      if (m.reject) pr->pending_snapshot = 0;
      pr->BecomeProbe();
      // Wait for a heartbeat response before probing: the follower needs time
      // to apply the snapshot.
      pr->probe_sent = true;
      return absl::OkStatus();
    case MessageType::kUnreachable:
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      return absl::OkStatus();
    case MessageType::kTransferLeader: {
      if (pr->is_learner) return absl::OkStatus();
      NodeId transferee = m.from;
      if (lead_transferee_ != kNoNode) {
        if (lead_transferee_ == transferee) return absl::OkStatus();
        AbortLeaderTransfer();
      }
      if (transferee == id_) return absl::OkStatus();
      election_elapsed_ = 0;
      lead_transferee_ = transferee;
      if (pr->match == log_.LastIndex()) {
        SendTimeoutNow(transferee);
      } else {
        SendAppend(transferee);
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status Raft::StepCandidate(Message& m) {
  MessageType my_resp =
      state_ == StateRole::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kProp:
      return ProposalDropped("no leader (election in progress)");
    case MessageType::kApp:
      BecomeFollower(m.term, m.from);
      HandleAppendEntries(m);
      return absl::OkStatus();
    case MessageType::kHeartbeat:
      BecomeFollower(m.term, m.from);
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnap:
      BecomeFollower(m.term, m.from);
      HandleSnapshot(m);
      return absl::OkStatus();
    default:
      break;
  }
  if (m.type == my_resp) {
    VoteResult res = Poll(m.from, !m.reject);
    if (res == VoteResult::kWon) {
      if (state_ == StateRole::kPreCandidate) {
        Campaign(CampaignType::kElection);
      } else {
        BecomeLeader();
        BroadcastAppend();
      }
    } else if (res == VoteResult::kLost) {
      // A rejected pre-vote at a higher term already made us a follower above.
      BecomeFollower(term_, kNoNode);
    }
  }
  return absl::OkStatus();
}

absl::Status Raft::StepFollower(Message& m) {
  switch (m.type) {
    case MessageType::kProp:
      if (lead_ == kNoNode) return ProposalDropped("no leader");
      if (disable_proposal_forwarding_) return ProposalDropped("not the leader");
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      return absl::OkStatus();
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kTransferLeader:
    case MessageType::kReadIndex:
      if (lead_ == kNoNode) return absl::OkStatus();
      m.to = lead_;
      Send(std::move(m));
      return absl::OkStatus();
    case MessageType::kTimeoutNow:
      // The leader asks us to take over: campaign at once, skipping pre-vote
      // (the leader is handing over, so the lease check is bypassed too).
      Hup(CampaignType::kTransfer);
      return absl::OkStatus();
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

// ---- follower handlers ---------------------------------------------------------

void Raft::HandleAppendEntries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  }
  if (std::optional<Index> last = log_.MaybeAppend(m.index, m.log_term, m.commit, m.entries)) {
    resp.index = *last;
    Send(std::move(resp));
    return;
  }
  // Mismatch: hint the largest index whose term is <= the leader's log_term,
  // so the leader can skip a whole term of conflicting entries per round trip.
  Index hint_index = std::min(m.index, log_.LastIndex());
  auto [idx, term] = log_.FindConflictByTerm(hint_index, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = idx;
  resp.log_term = term;
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const Message& m) {
  log_.CommitTo(std::min(m.commit, log_.LastIndex()));
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  resp.context = m.context;
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  resp.index = Restore(m.snapshot) ? log_.LastIndex() : log_.committed();
  Send(std::move(resp));
}

bool Raft::Restore(const Snapshot& s) {
  if (s.metadata.index <= log_.committed()) return false;
  if (state_ != StateRole::kFollower) {
    // Only a follower restores; anything else is a broken sender.
    BecomeFollower(term_ + 1, kNoNode);
    return false;
  }
  // A snapshot whose membership does not include this node is still
  // accepted: a node added after the leader's latest snapshot can only catch
  // up from it, and becomes a member when it applies the conf change that
  // added it (until then it is not promotable and counts in no quorum).
  const ConfState& cs = s.metadata.conf_state;
  if (log_.MatchTerm(s.metadata.index, s.metadata.term)) {
    // We already have the snapshot's last entry: just fast-forward commit.
    log_.CommitTo(s.metadata.index);
    return false;
  }
  log_.Restore(s);
  SwitchToConfig(cs);
  return true;
}

// ---- membership ------------------------------------------------------------------

ConfState Raft::ApplyConfChange(const ConfChange& cc) {
  absl::StatusOr<ConfState> next = ApplySimpleChange(trk_.config(), cc);
  // An invalid change (e.g. removing the last voter) is applied as a no-op on
  // every node alike, so replicas stay identical.
  if (next.ok()) SwitchToConfig(*next);
  return trk_.config();
}

void Raft::SwitchToConfig(const ConfState& cs) {
  trk_.ApplyConfig(cs, log_.LastIndex() + 1);
  const Progress* self = trk_.Get(id_);
  is_learner_ = self != nullptr && self->is_learner;
  if (state_ != StateRole::kLeader) return;
  if (self == nullptr || is_learner_) {
    // The leader was removed or demoted, and the change is committed: step
    // down so the remaining voters elect a leader among themselves.
    BecomeFollower(term_, kNoNode);
    return;
  }
  if (trk_.config().voters.empty()) return;
  if (MaybeCommit()) {
    BroadcastAppend();
  } else {
    for (auto& [id, pr] : trk_.progress()) {
      if (id != id_) MaybeSendAppend(id, false);
    }
  }
  if (lead_transferee_ != kNoNode && !trk_.IsVoter(lead_transferee_)) AbortLeaderTransfer();
}

// ---- reads -------------------------------------------------------------------------

void Raft::HandleReadIndex(Message m) {
  if (trk_.IsSingleton(id_)) {
    RespondToReadIndex(m, log_.committed());
    return;
  }
  // Until the leader has committed an entry of its own term it does not know
  // the commit index of the cluster (dissertation 6.4, step 1).
  if (!CommittedEntryInCurrentTerm()) {
    pending_read_index_messages_.push_back(std::move(m));
    return;
  }
  if (read_only_option_ == ReadOnlyOption::kLeaseBased) {
    RespondToReadIndex(m, log_.committed());
    return;
  }
  read_only_.AddRequest(log_.committed(), std::move(m), id_);
  read_round_unsent_ = true;
}

void Raft::FlushReadIndexRound() {
  if (!read_round_unsent_) return;
  read_round_unsent_ = false;
  if (state_ != StateRole::kLeader) return;
  const std::string ctx = read_only_.LastPendingRequestCtx();
  // A quorum is this leader and the (majority - 1) other voters heard from
  // most recently: the round goes to them only (one heartbeat instead of two
  // in a three-node cluster). If one of them stays silent, the round's
  // context reaches everyone with the next regular heartbeat, or sooner with
  // ResendReadIndexRound.
  const std::vector<NodeId>& voters = trk_.config().voters;
  if (!trk_.IsVoter(id_)) {
    BroadcastHeartbeat(ctx);
    return;
  }
  std::vector<std::pair<uint64_t, NodeId>> others;  // (last_heard, id)
  for (NodeId v : voters) {
    if (v != id_) others.emplace_back(trk_.Get(v)->last_heard, v);
  }
  const size_t need = MajorityOf(voters.size()) - 1;
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < need && i < others.size(); ++i) SendHeartbeat(others[i].second, ctx);
}

bool Raft::ResendReadIndexRound() {
  if (state_ != StateRole::kLeader || read_only_.PendingCount() == 0) return false;
  BroadcastHeartbeat(read_only_.LastPendingRequestCtx());
  return true;
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_messages_.empty() || !CommittedEntryInCurrentTerm()) return;
  std::vector<Message> msgs = std::move(pending_read_index_messages_);
  pending_read_index_messages_.clear();
  for (Message& m : msgs) HandleReadIndex(std::move(m));
}

void Raft::RespondToReadIndex(const Message& req, Index read_index) {
  if (req.from == kNoNode || req.from == id_) {
    read_states_.push_back(ReadState{read_index, req.context});
    return;
  }
  Message resp;
  resp.type = MessageType::kReadIndexResp;
  resp.to = req.from;
  resp.index = read_index;
  resp.context = req.context;
  Send(std::move(resp));
}

// ---- Ready bookkeeping ---------------------------------------------------------------

void Raft::Advance(const ReadyCursor& c) {
  if (max_uncommitted_size_ != 0) {
    uncommitted_size_ =
        c.committed_bytes > uncommitted_size_ ? 0 : uncommitted_size_ - c.committed_bytes;
  }
  if (c.last_committed_index != 0) {
    log_.AppliedTo(c.last_committed_index);
  } else if (c.snapshot_index > log_.applied()) {
    log_.AppliedTo(c.snapshot_index);
  }
  if (c.last_entry_index != 0) log_.StableTo(c.last_entry_index, c.last_entry_term);
  if (c.snapshot_index != 0) log_.StableSnapTo(c.snapshot_index);
}

NodeStatus Raft::status() const {
  NodeStatus s;
  s.id = id_;
  s.hard_state = hard_state();
  s.soft_state = soft_state();
  s.applied = log_.applied();
  s.lead_transferee = lead_transferee_;
  s.conf_state = trk_.config();
  if (state_ == StateRole::kLeader) {
    for (const auto& [id, pr] : trk_.progress()) {
      s.progress[id] = ProgressStatus{pr.match, pr.next, pr.state, pr.recent_active, pr.is_learner};
    }
  }
  return s;
}

}  // namespace raftkv::raft
