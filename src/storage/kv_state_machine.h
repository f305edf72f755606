// KvStateMachine: the replicated key-value state, in the kv column family of a
// Db (format in db.h), with etcd-style revisions.
//
// Apply takes committed log entries in index order and applies each
// deterministically. ApplyBatch applies a run of entries as ONE WriteBatch:
// their data changes, the new revision and the new applied index (and term)
// are written together, so a crash never leaves them apart, and a batch costs
// one RocksDB write however many entries it holds (each entry still sees the
// effects of the entries before it, through the batch's index). The batch
// skips RocksDB's WAL (Db::WriteUnlogged): the Raft log is the source of
// truth, the state reaches the disk at memtable flushes or Close, and after a
// crash, back at its last flush, the node re-applies from AppliedIndex() + 1.
//
// A Put without prev_kv takes the key's create revision and version from an
// in-memory KeyMetaCache of recently written keys when it can, instead of
// reading the key back (see key_meta_cache.h for why that stays exact).
//
// Revisions: a command that changes something (a Put; a DeleteRange that
// deleted a key; a Txn whose executed ops changed something) takes revision
// Revision() + 1, once per command; anything else keeps the revision. Per key:
// create_revision (of the last creation), mod_revision (of the last change),
// version (writes since creation; a delete forgets the key).
//
// Invariants: within a process AppliedIndex() only grows, to the last entry of
// each batch, and the revision never decreases; the data, the applied index,
// the revision and the recorded conf state are persisted together, so a clean
// restart finds all of them and a crash finds all of them as of one earlier
// batch (tests/storage/kv_crash_test.cc).
// Apply is a pure function of (state, entry): no clock, no randomness, no
// node configuration (requests are checked with Limits::Structural() only).
//
// Thread-safety: Apply* must be called from one thread at a time (the apply
// thread). Range, AppliedIndex, Revision and ApproximateSizeBytes may be
// called from any thread concurrently with Apply; Range reads a consistent
// RocksDB snapshot and reports the revision of exactly that state.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/kv.pb.h"
#include "src/raft/types.h"
#include "src/storage/db.h"
#include "src/storage/key_meta_cache.h"

namespace raftkv::storage {

class KvWriter;  // one command's pending writes (kv_state_machine.cc)

// What applying one log entry produced.
struct ApplyOutcome {
  // The entry's index was <= AppliedIndex(): nothing was done (a replay).
  bool already_applied = false;
  // The command's own outcome, for the client: OK, or e.g. INVALID_ARGUMENT
  // for a command that does not decode. The entry counts as applied either
  // way (every replica reaches the same verdict).
  absl::Status status;
  // The response, when status is OK and !already_applied. header.revision is
  // the revision after the command; the server fills the rest of the header.
  v1::CommandResult result;
};

class KvStateMachine {
 public:
  // Metadata of this many recently written keys is kept in memory
  // (KeyMetaCache): about 100 bytes each with 16-byte keys.
  static constexpr size_t kDefaultCachedKeys = size_t{1} << 20;

  // Recovers applied index and revision from db (which must outlive this).
  // cached_keys bounds the KeyMetaCache (0: none; tests compare both).
  static absl::StatusOr<std::unique_ptr<KvStateMachine>> Open(
      Db* db, size_t cached_keys = kDefaultCachedKeys);

  // Applies committed entries (ascending, contiguous from AppliedIndex() + 1;
  // entries at or below AppliedIndex() are skipped as already_applied) in one
  // atomic batch, returning one outcome per entry. conf_states holds, for
  // conf-change entries, the membership that results (recorded like
  // ApplyConfChange does). A non-OK status is a storage failure (the node must
  // crash) or an index that skips ahead (FAILED_PRECONDITION).
  absl::StatusOr<std::vector<ApplyOutcome>> ApplyBatch(
      const std::vector<raft::Entry>& entries,
      const std::map<raft::Index, raft::ConfState>& conf_states);

  // Applies the command of entry (index, term). The returned status is not OK
  // only for storage failures (the node must crash) and for an index that
  // skips ahead (index > AppliedIndex() + 1: a caller bug, FAILED_PRECONDITION).
  absl::StatusOr<ApplyOutcome> Apply(raft::Index index, raft::Term term, const v1::Command& cmd);

  // Applies a committed Raft entry: a normal entry with empty data is the
  // leader's no-op; other normal entries are decoded as a Command (one that
  // does not decode yields status INVALID_ARGUMENT); a conf-change entry only
  // advances the applied index (prefer ApplyConfChange, which also records the
  // resulting membership).
  absl::StatusOr<ApplyOutcome> ApplyEntry(const raft::Entry& entry);

  // Advances the applied index over an entry that changes no data.
  absl::StatusOr<ApplyOutcome> ApplyNoop(raft::Index index, raft::Term term);

  // Advances the applied index over a conf-change entry and records the
  // membership cs that results from it (raft_meta "conf_state") in the same
  // batch, so that a restart resumes with the membership of the applied state.
  absl::StatusOr<ApplyOutcome> ApplyConfChange(raft::Index index, raft::Term term,
                                               const raft::ConfState& cs);

  // A read of the current applied state (serializable; the server adds
  // ReadIndex for linearizable reads). header.revision is the revision read.
  absl::StatusOr<v1::RangeResponse> Range(const v1::RangeRequest& req) const;

  raft::Index AppliedIndex() const { return applied_index_.load(std::memory_order_acquire); }
  raft::Term AppliedTerm() const { return applied_term_.load(std::memory_order_acquire); }
  uint64_t Revision() const { return revision_.load(std::memory_order_acquire); }

  // Approximate size of the key-value data (files and memtables), in bytes.
  uint64_t ApproximateSizeBytes() const;

 private:
  KvStateMachine(Db* db, size_t cached_keys) : db_(db), meta_cache_(cached_keys) {}
  absl::Status Recover();
  // Checks index against the applied index; fills outcome->already_applied.
  absl::Status CheckIndex(raft::Index index, ApplyOutcome* outcome) const;
  // Applies one entry as a batch of one.
  absl::StatusOr<ApplyOutcome> ApplyOne(raft::Entry entry, const raft::ConfState* cs);
  // Validates cmd and runs it into writer, filling outcome (status for an
  // invalid command, else the result with its revisions); an error is a
  // storage failure.
  absl::Status Stage(const v1::Command& cmd, KvWriter* writer, ApplyOutcome* outcome);
  // Runs a valid cmd into writer; an error is a storage failure.
  absl::Status Execute(const v1::Command& cmd, KvWriter* writer, v1::CommandResult* result);
  absl::Status Commit(raft::Index index, raft::Term term, KvWriter* writer,
                      const raft::ConfState* cs);

  Db* const db_;
  // Apply* only (one thread at a time); see key_meta_cache.h.
  KeyMetaCache meta_cache_;
  // Written only by the apply thread, after the batch is in RocksDB.
  std::atomic<raft::Index> applied_index_{0};
  std::atomic<raft::Term> applied_term_{0};
  std::atomic<uint64_t> revision_{0};
};

}  // namespace raftkv::storage
