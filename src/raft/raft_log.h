// RaftLog: the node's view of the whole log: the persisted part (LogStorage,
// read-only here) followed by the unstable tail, plus the commit and applied
// indexes.
//
// Invariants:
//   applied <= committed <= LastIndex();
//   FirstIndex() - 1 <= applied (nothing below the snapshot is applied again);
//   the unstable tail starts right after storage's last index or replaces a
//   suffix of it.
// Reading storage fails only for compacted indexes (handled by callers);
// any other storage error is a broken invariant and crashes the node.
// Thread-safety: none; owned by Raft.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/raft/log_unstable.h"
#include "src/raft/storage.h"

namespace raftkv::raft {

class RaftLog {
 public:
  RaftLog(const LogStorage& storage, uint64_t max_applying_bytes);

  // Appends ents from a leader's kApp after (index, log_term) if they match;
  // returns the new last index of the appended entries, or nullopt on mismatch.
  std::optional<Index> MaybeAppend(Index index, Term log_term, Index committed,
                                   const std::vector<Entry>& ents);
  Index Append(const std::vector<Entry>& ents);
  // The first index of ents that conflicts with (or is missing from) the log;
  // 0 if all are present.
  Index FindConflict(const std::vector<Entry>& ents) const;
  // The largest (index', term') with index' <= index and term' <= term in the
  // log: the follower's hint for fast backtracking.
  std::pair<Index, Term> FindConflictByTerm(Index index, Term term) const;

  std::vector<Entry> UnstableEntries() const { return unstable_.entries(); }
  bool HasUnstableEntries() const { return !unstable_.entries().empty(); }
  // Committed entries not yet handed out for applying, at most max_applying_bytes.
  std::vector<Entry> NextCommittedEntries() const;
  bool HasNextCommittedEntries() const;
  // The snapshot waiting to be persisted, if any.
  const std::optional<Snapshot>& UnstableSnapshot() const { return unstable_.snapshot(); }
  absl::StatusOr<Snapshot> GetSnapshot() const;

  Index FirstIndex() const;
  Index LastIndex() const;
  Term LastTerm() const;
  // The term of entry i; 0 if i is past the last index or before the dummy
  // entry; CompactedError() if it was compacted.
  absl::StatusOr<Term> TermAt(Index i) const;
  // TermAt, with a compacted index reported as term 0 (callers for which "no
  // match" is the right answer).
  Term ZeroTermOnCompacted(Index i) const;
  bool MatchTerm(Index i, Term t) const;
  // Entries from i on, at most max_bytes (at least one).
  absl::StatusOr<std::vector<Entry>> EntriesFrom(Index i, uint64_t max_bytes) const;
  // Entries [lo, hi), at most max_bytes (at least one).
  absl::StatusOr<std::vector<Entry>> Slice(Index lo, Index hi, uint64_t max_bytes) const;

  // True if a candidate's log (last_index, last_term) is at least as up to date.
  bool IsUpToDate(Index last_index, Term last_term) const;

  void CommitTo(Index to);
  // Commits max_index if it is of term (the current term) and above commit.
  bool MaybeCommit(Index max_index, Term term);
  void AppliedTo(Index i);
  void StableTo(Index i, Term t) { unstable_.StableTo(i, t); }
  void StableSnapTo(Index i) { unstable_.StableSnapTo(i); }
  void Restore(const Snapshot& s);

  Index committed() const { return committed_; }
  Index applied() const { return applied_; }

 private:
  const LogStorage& storage_;
  Unstable unstable_;
  Index committed_ = 0;
  // Highest index handed out to the application for applying.
  Index applied_ = 0;
  uint64_t max_applying_bytes_;
};

}  // namespace raftkv::raft
