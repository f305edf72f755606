// InvariantChecker: the simulator's model of what a correct Raft cluster may
// do, fed with every observable change (a node's status after each input, each
// persisted Ready, each applied entry, each read answer) and failing on the
// first change that breaks Raft's safety properties.
//
// Checks are incremental, so running them after every step stays cheap:
//   election-safety: a (term -> leader) map; a second leader for a term fails.
//   log-matching: each (index, term) ever persisted maps to one entry and one
//     predecessor term. If two logs hold (i, t) they then hold the same entry
//     and agree on the term at i-1, hence (by induction) on everything before:
//     this is Log Matching, checked one appended entry at a time.
//     FullLogCheck() also compares the storages pairwise, as a second opinion.
//   leader-completeness: each commit index, when first seen, is stamped with
//     the highest term any node had then; a leader of a higher term must hold
//     the entry (terms are learnt when the entry is first applied). Stamping
//     with the highest term (not the commit's term) keeps the check sound when
//     commits are observed late or a stale leader lingers.
//   state-machine-safety: the first node to apply index i fixes the entry and
//     the state-machine digest at i; every later apply and installed snapshot
//     must match.
//   monotonic-commit / monotonic-applied: per node incarnation for the
//     in-memory values; across incarnations for the persisted commit (and the
//     persisted term; the persisted vote may not change within a term).
//   read-index: a ReadIndex answer must be >= the highest commit index known
//     anywhere when the request was made (linearizable reads).
//   durable-commit (reported by the simulator, which knows what part of each
//     storage is synced): an entry a leader applies is on a majority's disk.
//   durability: a crash that loses unsynced writes never loses a term or vote.
//
// Invariant: once failed() is true the first violation is kept; later reports
// are ignored. Thread-safety: none; owned by one simulator.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "src/raft/raw_node.h"
#include "src/raft/storage.h"
#include "src/raft/types.h"

namespace raftkv::sim {

class InvariantChecker {
 public:
  bool failed() const { return !invariant_.empty(); }
  const std::string& invariant() const { return invariant_; }
  const std::string& detail() const { return detail_; }
  void Fail(const std::string& invariant, const std::string& detail);

  // After any input to node `id` (incarnation `inc`), with its status.
  // Returns true when the node is a leader of a term not seen leading before.
  bool ObserveStatus(raft::NodeId id, uint64_t inc, const raft::NodeStatus& st);
  // The node crashed: its in-memory monotonic trackers start over.
  void OnCrash(raft::NodeId id) { volatile_.erase(id); }

  // After a Ready's entries were appended to `storage`.
  void OnPersistEntries(raft::NodeId id, const raft::MemoryStorage& storage,
                        const std::vector<raft::Entry>& entries);
  // A crash lost node `id`'s unsynced writes (a leader's, with
  // report_leader_log_durable): its persisted state is back to `hs`, whose
  // term and vote must be the same (they are always synced); its commit may
  // be lower.
  void OnUnsyncedWritesLost(raft::NodeId id, const raft::HardState& hs);
  // After a Ready's hard state was persisted.
  void OnPersistHardState(raft::NodeId id, const raft::MemoryStorage& storage,
                          const raft::HardState& hs);
  // After a snapshot was installed; `digest` is the state it carries.
  void OnSnapshotInstalled(raft::NodeId id, const raft::SnapshotMetadata& meta, uint64_t digest);
  // After node `id` applied `e`, its state-machine digest becoming `digest`.
  void OnApply(raft::NodeId id, const raft::Entry& e, uint64_t digest);
  // A node became leader of `term` (its Ready said so, after persisting).
  void CheckLeaderCompleteness(raft::NodeId id, raft::Term term,
                               const raft::MemoryStorage& storage);

  // The read index any answer to a read requested now must reach.
  raft::Index RequiredReadIndex() const { return global_commit_; }
  void OnReadState(raft::NodeId id, const raft::ReadState& rs, raft::Index required);

  // Compares every pair of logs entry by entry (log matching, brute force).
  void FullLogCheck(const std::map<raft::NodeId, const raft::MemoryStorage*>& logs);

  raft::Index global_commit() const { return global_commit_; }
  int64_t leaders_seen() const { return static_cast<int64_t>(leaders_.size()); }
  // The entry first applied at index i, or nullptr.
  const raft::Entry* AppliedEntry(raft::Index i) const;

 private:
  struct LogRecord {
    raft::Entry entry;
    bool prev_known = false;
    raft::Term prev_term = 0;
    raft::NodeId node = 0;
  };
  struct AppliedRecord {
    raft::Entry entry;
    uint64_t digest = 0;
    raft::NodeId node = 0;
  };
  struct CommitRecord {
    raft::Term max_term_when_seen = 0;  // no leader of a later term may lack it
  };
  struct VolatileMarks {
    uint64_t incarnation = 0;
    raft::Index commit = 0;
    raft::Index applied = 0;
  };
  struct PersistedMarks {
    raft::HardState hs;
  };

  std::string invariant_;
  std::string detail_;

  std::map<raft::Term, raft::NodeId> leaders_;
  std::map<std::pair<raft::Index, raft::Term>, LogRecord> log_records_;
  std::map<raft::Index, AppliedRecord> applied_;
  // commits_[i - 1] describes commit index i.
  std::vector<CommitRecord> commits_;
  raft::Index global_commit_ = 0;
  raft::Term max_term_ = 0;
  std::map<raft::NodeId, VolatileMarks> volatile_;
  std::map<raft::NodeId, PersistedMarks> persisted_;
};

}  // namespace raftkv::sim
