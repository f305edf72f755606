// Db: the node's one RocksDB instance, its column families and its identity.
//
// On-disk format (data directory = one RocksDB database):
//   column family raft_log   key: entry index, 8 bytes big-endian
//                            value: raftpb::Entry (proto/raft.proto), serialized
//                            Invariant: the keys present are exactly the
//                            contiguous range [first index, last index].
//   column family raft_meta  "format_version"  8 bytes BE (kFormatVersion)
//                            "cluster_id"      8 bytes BE
//                            "node_id"         8 bytes BE
//                            "hard_state"      raftpb::HardState
//                            "conf_state"      raftpb::ConfState, the latest
//                                              applied membership
//                            "snapshot"        raftpb::SnapshotMetadata of the
//                                              latest snapshot
//                            "log_start"       index, term (8+8 bytes BE) of the
//                                              entry just before the first one
//                                              kept (the "dummy" entry)
//   column family kv         'd' + user key -> raftkv.v1.KeyValue with key
//                                              cleared (value, create_revision,
//                                              mod_revision, version)
//                            "m/applied"       index, term (8+8 bytes BE) of the
//                                              last applied entry
//                            "m/revision"      8 bytes BE, the store revision
//   column family sessions   reserved for client sessions.
// Keys absent from a fresh directory read as zero / empty. Everything a write
// changes goes in one WriteBatch, so a crash leaves either all or none of it.
//
// Durability: Raft log writes (raft_log, raft_meta) go through RocksDB's
// write-ahead log and are synced (a leader's entries by a later SyncWal, so
// the state machine may apply an entry before the leader's own copy of it is
// synced: RocksDB syncs every closed WAL before a flush writes its tables,
// in atomic flushes too, so a flushed state never runs ahead of the log
// after a crash). The WAL files come zero-filled from
// PrezeroedWalFileSystem (prezeroed_wal_fs.h), so a sync overwrites and
// writes no block-allocation metadata; its spare file ("raftkv-wal-spare", about one
// memtable's size) lives in the data directory too. A WAL that grows (a new
// database's first) is left, by a memtable flush, as soon as a spare is ready. State-machine writes
// (kv, and the applied conf_state in raft_meta) skip the WAL
// (WriteUnlogged): they reach the disk only when RocksDB flushes the
// memtables, or at Close. After a crash the
// state machine is therefore back at its last flush, never torn: flushes are
// atomic across column families (atomic_flush), and each applied batch
// carries its applied index, so the node re-applies the Raft log from
// "m/applied" + 1. Consequence for log compaction: entries above the
// state's last flushed applied index must be kept.
//
// Identity: the first Open of a directory records its cluster id and node id;
// every later Open must name the same ones, else FAILED_PRECONDITION, so a
// node can never join the wrong cluster with another node's log.
//
// Thread-safety: Db is safe to use from any thread once open (RocksDB is);
// Close and the destructor must not race with any other call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "src/storage/prezeroed_wal_fs.h"

namespace raftkv::storage {

struct DbOptions {
  // Shared LRU block cache for all column families.
  uint64_t block_cache_bytes = 64ull << 20;
  // Memtable size of each column family. A trade, measured (README,
  // Performance): applying a write inserts its key into the state's memtable
  // skip list, and a random key's insert costs a cache miss per node visited
  // once the list outgrows the CPU's caches (at write-64 over 10,000 keys a
  // follower spent 19% of its CPU there with 32 MB memtables, 12% with 16 MB,
  // 7% with 4 MB); but every flush of a large key space is followed, sooner
  // the smaller the memtables, by a compaction that rewrites the bottom
  // level, and with 4-8 MB the p99 of 256 clients writing 1,000,000 keys rose
  // by a quarter or more. 16 MB was even with 32 MB there.
  uint64_t write_buffer_bytes = 16ull << 20;
  // Flush and compaction threads (the machine has few cores; keep it small).
  int max_background_jobs = 2;
};

class Db {
 public:
  // Opens (creating if needed) the database in `dir` for node `node_id` of
  // cluster `cluster_id` (both non-zero). Errors:
  //   INVALID_ARGUMENT     an id is 0;
  //   FAILED_PRECONDITION  dir is not a usable directory, is locked by another
  //                        process, is not a raftkv directory, or belongs to
  //                        another cluster or node;
  //   DATA_LOSS            the database is corrupt.
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& dir, uint64_t cluster_id,
                                                  uint64_t node_id,
                                                  const DbOptions& options = DbOptions());

  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Closes the database; later calls are errors. Idempotent.
  absl::Status Close();

  const std::string& dir() const { return dir_; }
  uint64_t cluster_id() const { return cluster_id_; }
  uint64_t node_id() const { return node_id_; }

  rocksdb::DB* rocks() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* raft_log() const { return handles_[kRaftLog]; }
  rocksdb::ColumnFamilyHandle* raft_meta() const { return handles_[kRaftMeta]; }
  rocksdb::ColumnFamilyHandle* kv() const { return handles_[kKv]; }
  rocksdb::ColumnFamilyHandle* sessions() const { return handles_[kSessions]; }

  // Applies batch atomically through the WAL; sync makes it durable before
  // returning.
  absl::Status Write(rocksdb::WriteBatch* batch, bool sync, absl::string_view context);
  // Makes every Write that returned before this call durable, synced or not
  // (RocksDB SyncWAL). Safe while other threads write.
  absl::Status SyncWal();
  // How many syncs of the WAL (synced Writes and SyncWals) this Db has made
  // since it was opened (Status: log_syncs). Any thread.
  uint64_t WalSyncs() const { return wal_syncs_.load(std::memory_order_relaxed); }
  // Applies batch atomically without the WAL: it is durable only after the
  // next flush (or Close), and a crash before then loses it whole, with every
  // unlogged batch after it. For state the Raft log can rebuild, only.
  absl::Status WriteUnlogged(rocksdb::WriteBatch* batch, absl::string_view context);
  // Reads one key; nullopt if absent.
  absl::StatusOr<std::optional<std::string>> Get(rocksdb::ColumnFamilyHandle* cf,
                                                 absl::string_view key,
                                                 absl::string_view context) const;

  // Total size of the files in the data directory, in bytes (for Status).
  uint64_t DiskSizeBytes() const;

 private:
  enum CfIndex { kDefault = 0, kRaftLog, kRaftMeta, kKv, kSessions, kNumCfs };

  Db() = default;
  absl::Status CheckIdentity(uint64_t cluster_id, uint64_t node_id);
  // Makes RocksDB start a new WAL, which takes the spare that has just become
  // ready (PrezeroedWalFileSystem::TakeWalSwitchDue); a failure only logs.
  void SwitchToTheSpareWal();

  std::string dir_;
  std::atomic<uint64_t> wal_syncs_{0};
  uint64_t cluster_id_ = 0;
  uint64_t node_id_ = 0;
  // RocksDB's file system and Env; they outlive db_ (declared before it).
  std::shared_ptr<PrezeroedWalFileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  // Invariant: while db_ is open, handles_ has kNumCfs entries in CfIndex order.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace raftkv::storage
