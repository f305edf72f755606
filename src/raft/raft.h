// Raft: the consensus state machine (roles, terms, votes, replication, commit,
// ReadIndex, leadership transfer, membership, snapshots). RawNode wraps it; use
// RawNode unless you are RawNode.
//
// Modelled on etcd-io/raft: each message is stepped by role (StepLeader,
// StepCandidate, StepFollower) after the term rules common to all roles.
// Output goes to msgs_ and read_states_, which RawNode hands out in a Ready.
//
// Invariants:
//   at most one vote per term (vote_ is reset only when term_ changes);
//   a leader never commits an entry of an older term by counting replicas
//   (RaftLog::MaybeCommit checks the term);
//   a leader counts its own log as matched only for entries the caller will
//   have persisted before the next Step (see raw_node.h's Ready order), or,
//   with Config::report_leader_log_durable, only for entries the caller
//   reported durable in this leader's term;
//   pending_conf_index_ > applied blocks a second conf change.
// Thread-safety: none.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/rng.h"
#include "src/raft/progress.h"
#include "src/raft/raft_log.h"
#include "src/raft/raw_node.h"
#include "src/raft/read_only.h"

namespace raftkv::raft {

class Raft {
 public:
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& c);

  absl::Status Step(Message m);
  void Tick();
  ConfState ApplyConfChange(const ConfChange& cc);
  // Sends one heartbeat round for ReadIndex requests queued since the last
  // round (called when a Ready is built, so concurrent reads share it), to the
  // voters that make a quorum with this leader, most recently heard first.
  void FlushReadIndexRound();
  // Sends the newest pending ReadIndex context to every follower (for a round
  // that a chosen voter has not answered in time). False, sending nothing, if
  // none is pending.
  bool ResendReadIndexRound();
  bool HasUnsentReadIndexRound() const { return read_round_unsent_; }
  // See Config::defer_commit_broadcast.
  bool HasUnbroadcastCommit() const { return commit_unbroadcast_ && state_ == StateRole::kLeader; }
  void BroadcastCommit();
  // See RawNode::ReportLeaderLogDurable.
  void LeaderLogDurable(Term term, Index index);
  // See RawNode::FollowersCanCommit.
  bool FollowersCanCommit() const {
    return state_ == StateRole::kLeader && trk_.QuorumReplicatingWithout(id_);
  }
  // Acknowledges what a Ready handed out.
  void Advance(const ReadyCursor& c);

  SoftState soft_state() const { return SoftState{lead_, state_}; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  NodeStatus status() const;

  NodeId id() const { return id_; }
  Term term() const { return term_; }
  StateRole state() const { return state_; }
  NodeId lead() const { return lead_; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  std::vector<Message>& msgs() { return msgs_; }
  std::vector<ReadState>& read_states() { return read_states_; }

 private:
  Raft(const Config& c, const LogStorage& storage);

  enum class CampaignType { kPreElection, kElection, kTransfer };

  // Role transitions.
  void Reset(Term term);
  void BecomeFollower(Term term, NodeId lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();

  absl::Status StepLeader(Message& m);
  absl::Status StepCandidate(Message& m);
  absl::Status StepFollower(Message& m);

  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  VoteResult Poll(NodeId id, bool granted);
  bool Promotable() const;
  bool HasUnappliedConfChanges() const;

  void Send(Message m);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendAppend(NodeId to) { MaybeSendAppend(to, true); }
  void SendHeartbeat(NodeId to, const std::string& ctx);
  void BroadcastAppend();
  void BroadcastHeartbeat(const std::string& ctx);
  void SendTimeoutNow(NodeId to);
  void AbortLeaderTransfer() { lead_transferee_ = kNoNode; }

  bool AppendEntries(std::vector<Entry>& es);
  bool MaybeCommit();
  // After the commit index advanced: releases held reads and tells the
  // followers (at once, or with the next append under defer_commit_broadcast).
  void OnCommitAdvanced();
  bool CommittedEntryInCurrentTerm() const;
  void HandleAppendEntries(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(const Message& m);
  bool Restore(const Snapshot& s);
  void SwitchToConfig(const ConfState& cs);

  void HandleReadIndex(Message m);
  void ReleasePendingReadIndexMessages();
  void RespondToReadIndex(const Message& req, Index read_index);

  void TickElection();
  void TickHeartbeat();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  void ResetRandomizedElectionTimeout();

  bool IncreaseUncommittedSize(const std::vector<Entry>& es);

  const NodeId id_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  ProgressTracker trk_;
  StateRole state_ = StateRole::kFollower;
  bool is_learner_ = false;
  NodeId lead_ = kNoNode;
  // Invariant: set only on a leader, to a voter other than itself.
  NodeId lead_transferee_ = kNoNode;
  // The index of the newest conf change the leader proposed (or the last index
  // when it became leader); a new one waits until this is applied.
  Index pending_conf_index_ = 0;
  uint64_t uncommitted_size_ = 0;

  ReadOnly read_only_;
  bool read_round_unsent_ = false;
  uint64_t heard_counter_ = 0;  // responses received as leader; see Progress::last_heard
  // Leader with defer_commit_broadcast: the commit index advanced after the
  // last BroadcastAppend (which carries it to every follower not paused).
  bool commit_unbroadcast_ = false;
  // ReadIndex requests held until the leader commits an entry of its term.
  std::vector<Message> pending_read_index_messages_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  const int election_timeout_;
  const int heartbeat_timeout_;
  const bool check_quorum_;
  const bool pre_vote_;
  const ReadOnlyOption read_only_option_;
  const bool disable_proposal_forwarding_;
  const bool defer_commit_broadcast_;
  const bool report_leader_log_durable_;
  const uint64_t max_msg_size_;
  const uint64_t max_uncommitted_size_;
  Rng rng_;

  std::vector<Message> msgs_;
  std::vector<ReadState> read_states_;
};

}  // namespace raftkv::raft
