#include "src/raft/progress.h"

#include <algorithm>

namespace raftkv::raft {

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

void Progress::BecomeProbe() {
  if (state == ProgressState::kSnapshot) {
    // Resume right after the snapshot (or after match, whichever is later).
    Index pending = pending_snapshot;
    state = ProgressState::kProbe;
    next = std::max(match + 1, pending + 1);
  } else {
    state = ProgressState::kProbe;
    next = match + 1;
  }
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeSnapshot(Index snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

void Progress::SentEntries(Index last) {
  if (state == ProgressState::kReplicate) {
    next = last + 1;
    inflights.Add(last);
  } else if (state == ProgressState::kProbe) {
    probe_sent = true;
  }
}

bool Progress::MaybeDecrTo(Index rejected, Index match_hint) {
  if (state == ProgressState::kReplicate) {
    // A rejection below match is stale: the follower has more now.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe, only the rejection of the kApp at next-1 is current.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

bool ProgressTracker::IsVoter(NodeId id) const {
  return std::binary_search(config_.voters.begin(), config_.voters.end(), id);
}

bool ProgressTracker::IsLearner(NodeId id) const {
  return std::binary_search(config_.learners.begin(), config_.learners.end(), id);
}

void ProgressTracker::ApplyConfig(const ConfState& cs, Index next_index) {
  config_ = cs;
  std::sort(config_.voters.begin(), config_.voters.end());
  std::sort(config_.learners.begin(), config_.learners.end());
  std::map<NodeId, Progress> next;
  auto carry = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it != progress_.end()) {
      Progress p = std::move(it->second);
      p.is_learner = learner;
      next.emplace(id, std::move(p));
    } else {
      Progress p(max_inflight_);
      p.next = std::max<Index>(next_index, 1);
      p.is_learner = learner;
      // A new member counts as active so that adding it cannot trip check-quorum
      // before it had a chance to answer.
      p.recent_active = true;
      next.emplace(id, std::move(p));
    }
  };
  for (NodeId id : config_.voters) carry(id, false);
  for (NodeId id : config_.learners) carry(id, true);
  progress_ = std::move(next);
}

Progress* ProgressTracker::Get(NodeId id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(NodeId id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

void ProgressTracker::ResetAll(Index last_index, NodeId self) {
  for (auto& [id, p] : progress_) {
    bool learner = p.is_learner;
    p = Progress(max_inflight_);
    p.is_learner = learner;
    p.next = last_index + 1;
    if (id == self) p.match = last_index;
  }
}

Index ProgressTracker::Committed() const {
  return CommittedIndex(config_.voters, [this](NodeId id) -> std::optional<Index> {
    const Progress* p = Get(id);
    if (p == nullptr) return std::nullopt;
    return p->match;
  });
}

bool ProgressTracker::QuorumActive(NodeId self) const {
  size_t active = 0;
  for (NodeId id : config_.voters) {
    const Progress* p = Get(id);
    if (id == self || (p != nullptr && p->recent_active)) ++active;
  }
  return active >= MajorityOf(config_.voters.size());
}

bool ProgressTracker::QuorumReplicatingWithout(NodeId self) const {
  size_t replicating = 0;
  for (NodeId id : config_.voters) {
    const Progress* p = Get(id);
    if (id != self && p != nullptr && p->recent_active && p->state == ProgressState::kReplicate) {
      ++replicating;
    }
  }
  return replicating >= MajorityOf(config_.voters.size());
}

VoteResult ProgressTracker::TallyVotes(size_t* granted, size_t* rejected) const {
  *granted = 0;
  *rejected = 0;
  for (NodeId id : config_.voters) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    if (it->second) {
      ++*granted;
    } else {
      ++*rejected;
    }
  }
  return raft::TallyVotes(config_.voters, votes_);
}

}  // namespace raftkv::raft
