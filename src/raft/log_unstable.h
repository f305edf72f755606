// Unstable: the tail of the Raft log that the core has accepted but the caller
// has not yet persisted (handed out in Ready::entries / Ready::snapshot and
// acknowledged by Advance()).
//
// Invariants:
//   entries_[i].index == offset_ + i;
//   if snapshot_ is set, offset_ == snapshot_->metadata.index + 1.
// Thread-safety: none; owned by RaftLog.
#pragma once

#include <optional>
#include <vector>

#include "src/raft/types.h"

namespace raftkv::raft {

class Unstable {
 public:
  explicit Unstable(Index offset) : offset_(offset) {}

  // The first index, if the unstable part starts with a snapshot.
  std::optional<Index> MaybeFirstIndex() const;
  // The last index, if there are unstable entries or a snapshot.
  std::optional<Index> MaybeLastIndex() const;
  std::optional<Term> MaybeTerm(Index i) const;

  // Entries up to (i, t) were persisted; drop them if they are still ours.
  void StableTo(Index i, Term t);
  void StableSnapTo(Index i);
  void Restore(const Snapshot& s);
  // Appends ents, replacing any suffix from ents[0].index on.
  void TruncateAndAppend(const std::vector<Entry>& ents);
  // Entries [lo, hi); lo >= offset_ and hi <= offset_ + entries_.size().
  void Slice(Index lo, Index hi, std::vector<Entry>* out) const;

  const std::vector<Entry>& entries() const { return entries_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  Index offset() const { return offset_; }

 private:
  std::optional<Snapshot> snapshot_;
  std::vector<Entry> entries_;
  Index offset_;
};

}  // namespace raftkv::raft
