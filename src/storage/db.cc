#include "src/storage/db.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "src/common/status_macros.h"
#include "src/storage/keys.h"
#include "src/storage/rocks_status.h"

namespace raftkv::storage {

namespace {

namespace fs = std::filesystem;

// In CfIndex order; "default" is RocksDB's own and stays empty.
constexpr const char* kCfNames[] = {"default", "raft_log", "raft_meta", "kv", "sessions"};

// Makes sure dir exists and is a readable, writable directory.
absl::Status PrepareDir(const std::string& dir) {
  if (dir.empty()) {
    return absl::InvalidArgumentError("no data directory given; set --data-dir");
  }
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return absl::FailedPreconditionError(absl::StrCat("cannot access data directory ", dir, ": ",
                                                      ec.message(),
                                                      "; check the path and its permissions"));
  }
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create data directory ", dir, ": ", ec.message(),
                       "; check the path and the permissions of its parent"));
    }
    return absl::OkStatus();
  }
  if (!fs::is_directory(st)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir, " exists but is not a directory; point --data-dir at a directory"));
  }
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir, " is not readable and writable: ", std::strerror(errno),
        "; fix its permissions or owner"));
  }
  return absl::OkStatus();
}

rocksdb::ColumnFamilyOptions CfOptions(const DbOptions& o,
                                       const std::shared_ptr<rocksdb::Cache>& cache, bool bloom) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = o.write_buffer_bytes;
  cf.max_write_buffer_number = 3;
  cf.level_compaction_dynamic_level_bytes = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = 16 << 10;
  if (bloom) table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

std::string IdentityMismatch(const std::string& dir, uint64_t have_cluster, uint64_t have_node,
                             uint64_t want_cluster, uint64_t want_node) {
  return absl::StrCat("data directory ", dir, " belongs to cluster ", have_cluster, " node ",
                      have_node, ", but this server is node ", want_node, " of cluster ",
                      want_cluster,
                      "; point --data-dir at an empty directory or at this node's own");
}

// Decodes a stored 8-byte number; false if absent or malformed.
bool DecodeStored(const std::optional<std::string>& stored, uint64_t* out) {
  if (!stored || stored->size() != 8) return false;
  *out = DecodeUint64(*stored).value_or(0);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& dir, uint64_t cluster_id,
                                             uint64_t node_id, const DbOptions& options) {
  if (cluster_id == 0 || node_id == 0) {
    return absl::InvalidArgumentError(absl::StrCat("cluster id (", cluster_id, ") and node id (",
                                                   node_id, ") must both be non-zero"));
  }
  RETURN_IF_ERROR(PrepareDir(dir));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = options.max_background_jobs;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = 4 * options.write_buffer_bytes;
  db_options.keep_log_file_num = 4;
  db_options.max_log_file_size = 16 << 20;  // RocksDB's info log ("LOG")
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // State-machine writes skip the WAL (see db.h): a flush must persist every
  // column family at one point, or a crash could keep raft_meta's conf_state
  // from a later point than the kv family's applied index.
  db_options.atomic_flush = true;

  // Refuse directories holding some other RocksDB database.
  std::vector<std::string> existing;
  rocksdb::Status list = rocksdb::DB::ListColumnFamilies(db_options, dir, &existing);
  if (list.ok()) {
    std::set<std::string> known(std::begin(kCfNames), std::end(kCfNames));
    for (const std::string& name : existing) {
      if (known.count(name) == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("data directory ", dir,
                         " holds a database that is not raftkv's (column "
                         "family '",
                         name, "'); point --data-dir at an empty directory"));
      }
    }
  } else if (list.IsCorruption()) {
    return FromRocks(list, absl::StrCat("reading the database in ", dir));
  }

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int i = 0; i < kNumCfs; ++i) {
    // The log is only scanned, never probed for absent keys: no bloom filter.
    bool bloom = i == kKv || i == kSessions || i == kRaftMeta;
    cfs.emplace_back(kCfNames[i], CfOptions(options, cache, bloom));
  }

  auto db = std::unique_ptr<Db>(new Db());
  db->dir_ = dir;
  // RocksDB starts a new WAL when it switches memtables, so a WAL holds about
  // one memtable of the log (whose records are a little smaller): zero-fill
  // that much and a quarter more (prezeroed_wal_fs.h).
  db->fs_ = std::make_shared<PrezeroedWalFileSystem>(dir, options.write_buffer_bytes * 5 / 4);
  db->env_ = rocksdb::NewCompositeEnv(db->fs_);
  db_options.env = db->env_.get();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &db->handles_, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && std::string(s.ToString()).find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", dir,
                       " is locked by another process (is another raftkv "
                       "server running with this --data-dir?): ",
                       s.ToString()));
    }
    if (s.IsIOError()) {
      return absl::FailedPreconditionError(absl::StrCat("cannot open the database in ", dir, ": ",
                                                        s.ToString(),
                                                        "; check the directory and the disk"));
    }
    return FromRocks(s, absl::StrCat("opening the database in ", dir));
  }
  db->db_.reset(raw);
  RAFTKV_CHECK(db->handles_.size() == kNumCfs);
  RETURN_IF_ERROR(db->CheckIdentity(cluster_id, node_id));
  return db;
}

absl::Status Db::CheckIdentity(uint64_t cluster_id, uint64_t node_id) {
  constexpr absl::string_view kCtx = "reading the data directory's identity";
  ASSIGN_OR_RETURN(auto version, Get(raft_meta(), kMetaFormatVersion, kCtx));
  ASSIGN_OR_RETURN(auto cluster, Get(raft_meta(), kMetaClusterId, kCtx));
  ASSIGN_OR_RETURN(auto node, Get(raft_meta(), kMetaNodeId, kCtx));

  if (!version && !cluster && !node) {
    // A fresh directory, unless it already holds data (then the identity was lost).
    for (rocksdb::ColumnFamilyHandle* cf : {raft_log(), kv(), raft_meta()}) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
      it->SeekToFirst();
      RETURN_IF_ERROR(FromRocks(it->status(), "checking for existing data"));
      if (it->Valid()) {
        return absl::DataLossError(
            absl::StrCat("data directory ", dir_,
                         " holds raft data but no cluster and node identity; "
                         "restore it from a backup or start this node from an empty directory"));
      }
    }
    rocksdb::WriteBatch batch;
    batch.Put(raft_meta(), std::string(kMetaFormatVersion), EncodeUint64(kFormatVersion));
    batch.Put(raft_meta(), std::string(kMetaClusterId), EncodeUint64(cluster_id));
    batch.Put(raft_meta(), std::string(kMetaNodeId), EncodeUint64(node_id));
    RETURN_IF_ERROR(Write(&batch, /*sync=*/true, "recording the node's identity"));
    cluster_id_ = cluster_id;
    node_id_ = node_id;
    return absl::OkStatus();
  }

  uint64_t v = 0, c = 0, n = 0;
  if (!DecodeStored(version, &v) || !DecodeStored(cluster, &c) || !DecodeStored(node, &n)) {
    return absl::DataLossError(absl::StrCat("data directory ", dir_,
                                            " has a damaged identity record; restore it from a "
                                            "backup or start this node from an empty directory"));
  }
  if (v != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory ", dir_, " has format version ", v, " but this server reads ",
                     "version ", kFormatVersion, "; run a matching raftkv version"));
  }
  if (c != cluster_id || n != node_id) {
    return absl::FailedPreconditionError(IdentityMismatch(dir_, c, n, cluster_id, node_id));
  }
  cluster_id_ = cluster_id;
  node_id_ = node_id;
  return absl::OkStatus();
}

Db::~Db() {
  absl::Status s = Close();
  if (!s.ok()) std::fprintf(stderr, "raftkv: closing %s: %s\n", dir_.c_str(), s.ToString().c_str());
}

absl::Status Db::Close() {
  if (!db_) return absl::OkStatus();
  absl::Status result;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    absl::Status s = FromRocks(db_->DestroyColumnFamilyHandle(h), "closing a column family");
    if (result.ok()) result = s;
  }
  handles_.clear();
  absl::Status s = FromRocks(db_->Close(), absl::StrCat("closing the database in ", dir_));
  if (result.ok()) result = s;
  db_.reset();
  return result;
}

absl::Status Db::Write(rocksdb::WriteBatch* batch, bool sync, absl::string_view context) {
  RAFTKV_CHECK_MSG(db_ != nullptr, "write to a closed Db");
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, batch), context));
  if (sync) wal_syncs_.fetch_add(1, std::memory_order_relaxed);
  if (fs_->TakeWalSwitchDue()) SwitchToTheSpareWal();
  return absl::OkStatus();
}

absl::Status Db::SyncWal() {
  RAFTKV_CHECK_MSG(db_ != nullptr, "sync of a closed Db");
  RETURN_IF_ERROR(FromRocks(db_->SyncWAL(), "syncing the write-ahead log"));
  wal_syncs_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

void Db::SwitchToTheSpareWal() {
  // A flush starts a new WAL (taking the spare) at once; the flush itself
  // runs in the background. Atomic flush: every family flushes together.
  rocksdb::FlushOptions flush;
  flush.wait = false;
  flush.allow_write_stall = true;
  rocksdb::Status s = db_->Flush(flush, handles_);
  if (!s.ok()) {
    spdlog::warn(
        "cannot switch {} to a zero-filled WAL: {}; its WAL keeps growing until the "
        "next memtable flush",
        dir_, s.ToString());
  }
}

absl::Status Db::WriteUnlogged(rocksdb::WriteBatch* batch, absl::string_view context) {
  RAFTKV_CHECK_MSG(db_ != nullptr, "write to a closed Db");
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  return FromRocks(db_->Write(wo, batch), context);
}

absl::StatusOr<std::optional<std::string>> Db::Get(rocksdb::ColumnFamilyHandle* cf,
                                                   absl::string_view key,
                                                   absl::string_view context) const {
  RAFTKV_CHECK_MSG(db_ != nullptr, "read from a closed Db");
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, context));
  return std::optional<std::string>(std::move(value));
}

uint64_t Db::DiskSizeBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      uint64_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

}  // namespace raftkv::storage
