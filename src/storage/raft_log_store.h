// RaftLogStore: the durable Raft log and hard state of one node, in RocksDB
// (column families raft_log and raft_meta of a Db; format in db.h).
//
// It is the core's LogStorage (read side) plus the writers the node loop calls
// while handling a Ready: Save (entries + hard state in one WriteBatch,
// synced: one fsync per Ready, i.e. group commit; or, for a leader, unsynced
// and made durable by a later Sync on the log syncer's thread), and for snapshots and log
// compaction CreateSnapshot, ApplySnapshot and Compact. It behaves exactly like
// raft::MemoryStorage, so the core's tests of one describe the other.
//
// Layout of the log: a "dummy" entry (log_start: index and term, kept in
// raft_meta) followed by the entries [FirstIndex(), LastIndex()] in raft_log,
// FirstIndex() == log_start.index + 1. The snapshot metadata is recorded
// separately (the latest snapshot taken or installed).
//
// Invariants (checked at Open; a violation is DATA_LOSS):
//   raft_log holds exactly the keys [FirstIndex(), LastIndex()], each entry
//   stored under its own index; terms never decrease along the log;
//   hard_state.commit <= LastIndex().
// In memory it caches the hard state, first/last index and the term of every
// entry (as runs of equal terms, so a few words for a whole log), so that
// TermAt, FirstIndex and LastIndex never touch the disk. It also keeps the
// log's most recent entries (its tail, up to tail_cache_bytes; payloads are
// shared, not copied), so that Entries of just-saved entries (committed
// entries to apply, appends to followers that keep up) skips a RocksDB read
// and parse; older entries are read from RocksDB.
// Tail invariant: tail_ holds exactly the stored entries
// [tail_.front().index, LastIndex()], contiguous, or is empty; every write
// (Save, Compact, ApplySnapshot) keeps it so after its RocksDB write succeeds.
//
// Errors: indexes below the first index return raft::CompactedError();
// asking past LastIndex() is a caller bug and crashes (as MemoryStorage).
// A failed write returns the error; the node must then crash (a replica that
// cannot persist its log must not vote or acknowledge).
//
// Thread-safety: every method is safe from any thread (one mutex guards the
// cache and orders writers against readers). Typically the node loop is the
// only caller.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "src/raft/storage.h"
#include "src/raft/types.h"
#include "src/storage/db.h"

namespace raftkv::storage {

class RaftLogStore final : public raft::LogStorage {
 public:
  static constexpr uint64_t kDefaultTailCacheBytes = 4ull << 20;

  // Recovers the log from db (which must outlive the store). Keeps up to
  // tail_cache_bytes of the newest entries in memory (0: none).
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(
      Db* db, uint64_t tail_cache_bytes = kDefaultTailCacheBytes);

  // raft::LogStorage. GetInitialState's conf state is the latest recorded one
  // (by Bootstrap, ApplySnapshot or KvStateMachine::ApplyConfChange).
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::Index i) const override;
  absl::StatusOr<raft::Index> FirstIndex() const override;
  absl::StatusOr<raft::Index> LastIndex() const override;
  // The latest snapshot's metadata. The state-machine image itself is not
  // stored here (data is empty): it is a consistent view of the kv column
  // family, streamed by the snapshot sender.
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override;

  // True if nothing was ever written: no hard state, no entries, no snapshot,
  // no membership. A fresh node bootstraps only then.
  bool IsEmpty() const;

  // Records the initial membership of a new cluster (a snapshot at index 0),
  // like MemoryStorage::Bootstrap. FAILED_PRECONDITION unless IsEmpty().
  absl::Status Bootstrap(const raft::ConfState& cs);

  // Persists a Ready: appends entries (which must be contiguous and start at
  // most at LastIndex()+1; entries at or below the compacted prefix are
  // skipped; an entry that overwrites an existing index replaces it and
  // deletes everything after the new last entry) and the hard state (unless
  // hs.IsEmpty(), meaning unchanged), in one WriteBatch. With sync (the
  // default, and what Raft requires) the batch is on disk when this returns.
  absl::Status Save(const raft::HardState& hs, const std::vector<raft::Entry>& entries,
                    bool sync = true);
  // Makes every Save that returned before this call durable (those saved
  // without sync: a leader's, see server/log_syncer.h). May run on another
  // thread while the node loop saves.
  absl::Status Sync();

  // Records a snapshot at index i (FirstIndex()-1 <= i <= LastIndex()) with
  // membership *cs (or the latest recorded one if cs is null). Returns its
  // metadata. FAILED_PRECONDITION if i is not newer than the current one.
  absl::StatusOr<raft::Snapshot> CreateSnapshot(raft::Index i, const raft::ConfState* cs);

  // Installs a snapshot received from the leader: discards the whole log,
  // which now starts after snap's index; records its metadata and membership.
  // FAILED_PRECONDITION if it is older than the current snapshot. Synced.
  absl::Status ApplySnapshot(const raft::Snapshot& snap);

  // Discards the entries up to and including compact_index (which becomes the
  // dummy entry). CompactedError() if already compacted. The caller compacts
  // only below a snapshot, so that lagging followers can still catch up, and
  // only below the state machine's last FLUSHED applied index: its writes
  // skip the WAL (db.h), so a crash brings it back to that index and the
  // entries after it are re-applied from this log.
  absl::Status Compact(raft::Index compact_index);

  raft::HardState hard_state() const;

 private:
  // A run of entries with the same term, from index `first` to the start of
  // the next run (or LastIndex()).
  struct TermRun {
    raft::Index first;
    raft::Term term;
  };

  RaftLogStore(Db* db, uint64_t tail_cache_bytes) : db_(db), tail_cache_bytes_(tail_cache_bytes) {}
  absl::Status Recover();
  absl::StatusOr<raft::ConfState> ReadConfState() const;
  raft::Term TermAtLocked(raft::Index i) const;
  // Forgets the cached terms of entries >= from (from > log_start_index_).
  void TruncateRunsFrom(raft::Index from);
  // Records the term of entry index, the new last entry. Crashes if the term
  // decreases (the caller broke Raft's log invariant).
  void AppendRun(raft::Index index, raft::Term term);
  // Tail cache upkeep after a successful append of entries (contiguous,
  // from their first index, which is at most LastIndex()+1 of before).
  void CacheAppended(const std::vector<raft::Entry>& entries, size_t skip);
  void DropCachedBelowOrAt(raft::Index index);

  Db* const db_;
  const uint64_t tail_cache_bytes_;
  mutable std::mutex mu_;
  raft::HardState hard_state_;
  raft::SnapshotMetadata snapshot_;
  // The dummy entry before the first one kept.
  raft::Index log_start_index_ = 0;
  raft::Term log_start_term_ = 0;
  // Invariant: last_index_ >= log_start_index_.
  raft::Index last_index_ = 0;
  // Invariant: non-empty; runs_[0].first == log_start_index_; firsts strictly
  // increase and are <= last_index_; terms strictly increase.
  std::vector<TermRun> runs_;
  // The tail cache (see the tail invariant above) and its entries' ByteSize.
  std::deque<raft::Entry> tail_;
  uint64_t tail_bytes_ = 0;
};

}  // namespace raftkv::storage
