// LogSyncer: the thread that makes a leader's Raft log writes durable, so
// that the node loop does not wait for them (dissertation 10.2.1: a leader
// writes its log in parallel with replicating it; raft::Config::
// report_leader_log_durable).
//
// The node loop saves a leader's entries without a sync and calls
// Request(term, index); this thread runs `sync` (RaftLogStore::Sync) and then
// calls on_durable(term, index) with the newest pair requested before that
// sync began. Requests made while a sync runs wait for the next one, which
// covers them all: one sync per batch of rounds, never one per round queued.
//
// Invariants: on_durable(t, i) runs only after a sync that began after
// Request(t, i) returned, so every save that returned before that request is
// on disk; reports come in request order and never repeat a pair; a failed
// sync crashes the process (a replica that cannot persist its log must not
// count its copy).
// Thread-safety: Request from any thread (the node loop); on_durable runs on
// the syncer's thread and must not block; Stop (and the destructor) from the
// owner's thread, after which on_durable is never called.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "src/raft/types.h"

namespace raftkv::server {

class LogSyncer {
 public:
  using SyncFn = std::function<absl::Status()>;
  using DurableFn = std::function<void(raft::Term, raft::Index)>;

  // Starts the thread.
  LogSyncer(SyncFn sync, DurableFn on_durable);
  ~LogSyncer();
  LogSyncer(const LogSyncer&) = delete;
  LogSyncer& operator=(const LogSyncer&) = delete;

  // Everything saved before this call, up to index of term, is to be synced.
  void Request(raft::Term term, raft::Index index);
  // Finishes the sync in progress (without reporting it) and joins the
  // thread; later requests are ignored. Idempotent.
  void Stop();

 private:
  void Run();

  const SyncFn sync_;
  const DurableFn on_durable_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::pair<raft::Term, raft::Index>> requested_;  // newest not yet synced
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace raftkv::server
