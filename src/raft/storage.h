// LogStorage: the read-only view of the durable Raft log that the core reads,
// and MemoryStorage, an in-memory implementation for tests and simulation.
//
// The core never writes storage: the caller persists what Ready hands it
// (entries, hard state, snapshot) and only then calls Advance. Storage holds a
// snapshot (possibly empty, index 0) followed by the entries after it:
//   FirstIndex() == snapshot.index + 1, LastIndex() >= snapshot.index.
// A fresh cluster is bootstrapped by storage whose snapshot metadata at index 0
// carries the initial ConfState (see MemoryStorage::Bootstrap).
// GetInitialState().conf_state must be the membership as of the applied index
// the node restarts with (Config::applied): conf changes are not re-applied.
//
// Errors: entries or terms below FirstIndex()-1 (term) or FirstIndex()
// (entries) return CompactedError(); asking past LastIndex() is a caller bug.
// Thread-safety: MemoryStorage is guarded by a mutex, so a test may append from
// one thread while the core reads from another.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "src/raft/types.h"

namespace raftkv::raft {

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

// The requested index is older than the log's first index (it was compacted).
absl::Status CompactedError();
bool IsCompacted(const absl::Status& s);
// The snapshot is being produced; try again later.
absl::Status SnapshotTemporarilyUnavailableError();
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s);

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;
  // Entries in [lo, hi), at most max_bytes in total but always at least one
  // entry when lo < hi.
  virtual absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi,
                                                     uint64_t max_bytes) const = 0;
  // The term of entry i, for i in [FirstIndex()-1, LastIndex()].
  virtual absl::StatusOr<Term> TermAt(Index i) const = 0;
  virtual absl::StatusOr<Index> FirstIndex() const = 0;
  virtual absl::StatusOr<Index> LastIndex() const = 0;
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;
};

class MemoryStorage final : public LogStorage {
 public:
  MemoryStorage();

  // Sets the initial membership of a new cluster (snapshot at index 0).
  void Bootstrap(const ConfState& cs);

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> TermAt(Index i) const override;
  absl::StatusOr<Index> FirstIndex() const override;
  absl::StatusOr<Index> LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  // Writers, called by the owner when it handles a Ready.
  void SetHardState(const HardState& hs);
  // Appends entries; entries that conflict with existing ones replace them and
  // everything after. Entries must be contiguous with the log (no gap).
  absl::Status Append(const std::vector<Entry>& entries);
  // Replaces the log with a snapshot. Returns FailedPrecondition if it is older
  // than the current one.
  absl::Status ApplySnapshot(const Snapshot& snap);
  // Makes a snapshot at index i (<= last index) with the given state.
  absl::StatusOr<Snapshot> CreateSnapshot(Index i, const ConfState* cs, Payload data);
  // Discards entries before index compact_index (which stays as the dummy).
  absl::Status Compact(Index compact_index);
  // A copy of everything stored (for simulators that model a crash losing
  // writes made since the last sync).
  std::unique_ptr<MemoryStorage> Clone() const;

 private:
  Index FirstIndexLocked() const { return ents_[0].index + 1; }
  Index LastIndexLocked() const { return ents_[0].index + ents_.size() - 1; }

  mutable std::mutex mu_;
  HardState hard_state_;
  Snapshot snapshot_;
  // Invariant: ents_[0] is a dummy entry with the snapshot's index and term.
  std::vector<Entry> ents_;
};

}  // namespace raftkv::raft
