// Per-follower replication progress, as the leader sees it, and the tracker
// that holds the configuration, every peer's progress and the votes of an
// election.
//
// Progress states:
//   kProbe:     the leader does not know where the follower's log matches; it
//               sends one kApp per heartbeat interval and backs off on rejects.
//   kReplicate: entries stream optimistically; next advances as they are sent,
//               bounded by an in-flight window of unacknowledged kApps.
//   kSnapshot:  a snapshot is on its way; nothing else is sent until it is
//               reported done or failed.
// Invariants: match < next; in kReplicate, inflights holds the last index of
// each unacknowledged kApp, in increasing order.
// Thread-safety: none; owned by Raft.
#pragma once

#include <deque>
#include <map>
#include <vector>

#include "src/raft/quorum.h"
#include "src/raft/raw_node.h"
#include "src/raft/types.h"

namespace raftkv::raft {

// A bounded window of in-flight kApp messages (by their last entry index).
class Inflights {
 public:
  explicit Inflights(size_t capacity) : capacity_(capacity) {}
  void Add(Index last) { window_.push_back(last); }
  // Frees every message whose last index is <= to.
  void FreeLE(Index to) {
    while (!window_.empty() && window_.front() <= to) window_.pop_front();
  }
  void FreeFirstOne() {
    if (!window_.empty()) window_.pop_front();
  }
  bool Full() const { return window_.size() >= capacity_; }
  size_t Count() const { return window_.size(); }
  void Reset() { window_.clear(); }

 private:
  size_t capacity_;
  std::deque<Index> window_;
};

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  // In kSnapshot: the index of the snapshot being sent.
  Index pending_snapshot = 0;
  // Heard from since the last check-quorum round.
  bool recent_active = false;
  // The leader's response counter when this follower last answered (a kApp or
  // kHeartbeat response): followers heard from more recently have larger
  // values. A ReadIndex round goes to the most recently heard voters.
  uint64_t last_heard = 0;
  // In kProbe: a kApp was sent and no answer came since the last heartbeat.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(Index snapshot_index);
  // The follower acknowledged up to n; returns false if that is old news.
  bool MaybeUpdate(Index n);
  // A kApp ending at last was sent (optimistic in kReplicate).
  void SentEntries(Index last);
  // The follower rejected a kApp at rejected, hinting match_hint; returns false
  // if the rejection is stale.
  bool MaybeDecrTo(Index rejected, Index match_hint);
  // True when the leader should not send more entries now.
  bool IsPaused() const;
};

// Membership plus progress. Invariant: progress has exactly one entry for each
// voter and learner of config.
class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  const ConfState& config() const { return config_; }
  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
  bool IsMember(NodeId id) const { return IsVoter(id) || IsLearner(id); }
  // True when this node alone is the whole voter set.
  bool IsSingleton(NodeId id) const {
    return config_.voters.size() == 1 && config_.voters[0] == id;
  }

  // Replaces the membership; new members start with (match 0, next next_index);
  // existing members keep their progress.
  void ApplyConfig(const ConfState& cs, Index next_index);

  Progress* Get(NodeId id);
  const Progress* Get(NodeId id) const;
  std::map<NodeId, Progress>& progress() { return progress_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  // Resets every peer's progress (on becoming leader or follower).
  void ResetAll(Index last_index, NodeId self);

  // The index a majority of voters have.
  Index Committed() const;
  // True if a majority of voters (counting self) were recently active.
  bool QuorumActive(NodeId self) const;
  // True if the voters other than self that are replicating (kReplicate) and
  // were recently active form a majority: they can commit without self's copy.
  bool QuorumReplicatingWithout(NodeId self) const;

  void ResetVotes() { votes_.clear(); }
  void RecordVote(NodeId id, bool granted) { votes_.emplace(id, granted); }
  VoteResult TallyVotes(size_t* granted, size_t* rejected) const;

 private:
  size_t max_inflight_;
  ConfState config_;
  std::map<NodeId, Progress> progress_;
  std::map<NodeId, bool> votes_;
};

}  // namespace raftkv::raft
