// power_cut: simulated power cuts, for fault tests (raftkv
// --test-power-cut-signal, the chaos harness's "powercut" fault).
//
// Why: a process killed with kill -9 loses nothing it had handed to the
// kernel, so a crash test cannot tell a synced Raft log from an unsynced one
// (a replica that acknowledged unsynced entries passes it). A power cut loses
// what was only in the page cache. This module makes a process lose exactly
// that from its Raft log, so that tests can check that every acknowledged
// write was on a majority's disk.
//
// How: once Enable() has been called (before the Db opens), every write-ahead
// log file of PrezeroedWalFileSystem gets a WalTracker, which records the
// bytes written and the bytes covered by a completed sync. Cut() then
// overwrites, in every WAL still open, everything past its last completed
// sync with zeros (RocksDB's recovery reads zeros as the log's end, as it does
// in a zero-filled WAL) and ends the process at once with kExitCode.
//
// Model and limits: only the WALs lose data. RocksDB syncs its other files
// (tables, MANIFEST, CURRENT) before it depends on them, and the state's
// writes skip the WAL and are rebuilt from the Raft log after any crash. A
// sync still running when the cut comes counts as not done.
//
// Invariants (while enabled): a WAL write runs under the module's lock, so no
// write lands after the cut has begun; a sync's coverage (the bytes written
// when it began) is recorded only after the sync returned, under the same
// lock, so Cut never keeps bytes that no completed sync covered; Cut holds the
// lock until the process ends, so no write or sync completes after it.
// Disabled (the default), nothing is tracked and nothing is locked.
// Thread-safety: everything may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace raftkv::storage::power_cut {

// The exit status of a process that Cut() ended.
constexpr int kExitCode = 86;

// Turns tracking on for every WAL opened from now on. Call before the Db opens.
void Enable();
bool Enabled();

// Simulates a power cut (see above) and ends the process. Never returns.
[[noreturn]] void Cut();

// What one open WAL file has written and synced.
class WalTracker {
 public:
  // A tracker for the WAL open as fd at path (it keeps a duplicate of fd), or
  // null when not enabled.
  static std::unique_ptr<WalTracker> IfEnabled(int fd, std::string path);
  // The file is closed with bytes no sync covered: the tracker lives on (with
  // its own descriptor) so that a cut still drops them.
  static void Retire(std::unique_ptr<WalTracker> tracker);
  ~WalTracker();  // no longer cut
  WalTracker(const WalTracker&) = delete;
  WalTracker& operator=(const WalTracker&) = delete;

  // Runs write (which writes the file up to byte end and returns true on
  // success) under the lock, so that a cut never falls inside it.
  template <typename WriteFn>
  bool Write(uint64_t end, WriteFn&& write) {
    Lock();
    bool ok = write();
    if (ok) written_ = end;
    Unlock();
    return ok;
  }
  // Before a sync: the bytes it will cover. After it succeeded: EndSync.
  uint64_t BeginSync();
  void EndSync(uint64_t covered);
  // The file was truncated to size bytes (and, if synced, made durable so).
  void Truncated(uint64_t size, bool synced);
  // True when every byte written is covered by a completed sync.
  bool AllSynced();

 private:
  WalTracker(int fd, std::string path);
  static void Lock();
  static void Unlock();
  friend void Cut();

  const int fd_;
  const std::string path_;
  uint64_t written_ = 0;  // guarded by the module's lock
  uint64_t synced_ = 0;   // guarded by the module's lock
};

}  // namespace raftkv::storage::power_cut
