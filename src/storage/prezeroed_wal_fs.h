// PrezeroedWalFileSystem: the RocksDB file system of a Db. It gives each new
// write-ahead log file (RocksDB's "NNNNNN.log") space that is already written
// with zeros and synced, so that every synced WAL write overwrites allocated
// blocks inside the file instead of growing it.
//
// Why: on ext4, fdatasync after a write that grows a file (or fills space
// that fallocate only reserved) must also make the file's new size and
// extents durable (a journal commit, or on this machine's journal-less ext4
// the block bitmap, extent and inode blocks); after an overwrite it writes
// the data (and at most the inode, for the new mtime).
// Measured here (3,000 synced 300-byte writes): 220 us and 81 us of CPU per
// append + fdatasync, 140 us and 48 us per overwrite + fdatasync. Every
// acknowledged write waits for such syncs (the leader's and a follower's).
// RocksDB's own answer, recycle_log_file_num, is turned off by RocksDB itself
// under the point-in-time WAL recovery the Db uses.
//
// How: a spare file (kSpareName in the data directory), zero-filled to
// file_bytes at idle I/O priority through the page cache (each chunk written
// back at once) and synced, then renamed from kSpareName + ".tmp", so that a
// spare under its final name is always whole. Its zeros stay in the page
// cache: a write that starts inside a page the cache lacks makes the kernel
// read that block from the disk first, inside the log's write (zeros written
// with O_DIRECT cost one synchronous disk read per 4 KiB of log). A new WAL
// takes the spare by renaming it (RocksDB syncs the directory before the
// first synced write to a new WAL); with no spare ready it is an ordinary
// empty file that grows. A background thread prepares the next spare once
// the current WAL holds prepare_after_bytes(), so a database that stays small
// never writes one. A spare left by an earlier run is used if it is whole
// (and read into the cache ahead of the writes).
// When a spare becomes ready while the newest WAL is one that grows (a new
// database's first WAL, or one made while no spare was ready), TakeWalSwitchDue()
// says so, once: the Db then switches RocksDB to a new WAL (a memtable flush),
// which takes the spare, instead of growing the old one until its memtable
// fills (on a new database, for tens of MB of writes).
//
// The trade: writing a spare costs about one memtable's size of disk writes
// per WAL (20 MB with the default 16 MB memtables) and as much page cache.
// Measured against the plain RocksDB WAL (interleaved A/B, when the spare
// still bypassed the cache): write-1 +6.5% ops/s with p99 1.45 -> 1.26 ms,
// write-16 +5%; write-64's p99 rose 13-20%, which was those disk reads.
//
// Invariants:
//   a WAL file's bytes past what RocksDB wrote are zeros, never records of an
//   older WAL: RocksDB's log reader skips zero-filled space without reporting
//   corruption (checked with a zero tail on the newest WAL and on an older
//   one), so recovery reads every record written and nothing else;
//   a WAL that is closed is truncated to the bytes written and synced (tidy,
//   and DiskSizeBytes stays true).
// In power-cut tests (power_cut.h) each WAL file also reports its writes and
// completed syncs there, so that a simulated cut drops what no sync covered.
// Thread-safety: as RocksDB requires of a FileSystem (any thread); the spare is
// guarded by a mutex and prepared by at most one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "rocksdb/file_system.h"

namespace raftkv::storage {

class PrezeroedWalFileSystem : public rocksdb::FileSystemWrapper {
 public:
  static constexpr const char* kSpareName = "raftkv-wal-spare";
  // A spare is written this many bytes at a time.
  static constexpr uint64_t kChunkBytes = 256 << 10;

  // dir: the data directory; file_bytes: the zero-filled size of each WAL,
  // rounded up to a multiple of kChunkBytes (a WAL that outgrows it simply
  // grows).
  PrezeroedWalFileSystem(std::string dir, uint64_t file_bytes);
  // Waits for a spare being prepared to be finished.
  ~PrezeroedWalFileSystem() override;

  static const char* kClassName() { return "PrezeroedWalFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  uint64_t file_bytes() const { return file_bytes_; }
  // A WAL asks for the next spare once it holds this much.
  uint64_t prepare_after_bytes() const { return file_bytes_ / 8; }

  // Starts preparing a spare unless one is ready or being prepared. Called by
  // a WAL file once it holds prepare_after_bytes().
  void PrepareSpareSoon();
  // Waits until no spare is being prepared; true if one is ready (tests).
  bool WaitForSpare();
  // True, once, when a spare became ready while the newest WAL grows; then
  // the caller should make RocksDB start a new WAL. Cheap: one atomic load
  // when there is nothing to do.
  bool TakeWalSwitchDue() {
    return wal_switch_due_.load(std::memory_order_relaxed) && wal_switch_due_.exchange(false);
  }

 private:
  // Zero-fills and syncs the spare; runs on preparer_.
  void PrepareSpare();
  // Takes a whole spare left at spare_path_ by an earlier run, removes any other
  // leftover. Called with mu_ held, before the first WAL is created.
  void AdoptLeftoverSpare();

  const std::string spare_path_;  // dir + "/" + kSpareName
  const uint64_t file_bytes_;
  std::mutex mu_;
  std::condition_variable prepared_;
  bool spare_ready_ = false;        // guarded by mu_: kSpareName is whole
  bool preparing_ = false;          // guarded by mu_
  bool adopted_leftovers_ = false;  // guarded by mu_
  bool newest_wal_grows_ = false;   // guarded by mu_: it was not made from a spare
  // Set when a spare is ready while newest_wal_grows_; cleared by a new WAL.
  std::atomic<bool> wal_switch_due_{false};
  std::thread preparer_;  // joined before the next start and at destruction
};

}  // namespace raftkv::storage
