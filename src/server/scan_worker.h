// ScanWorker: one thread that runs the reads that scan a range of keys, so
// that a long scan does not hold up the node's CompletionLoop thread, which
// also runs the node loop (Raft rounds, heartbeats, log writes) and every
// other gRPC call of the node (completion_loop.h). A serializable Range over
// 100,000 keys (a 29 MB answer) takes ~0.2 s; over a few million keys, it
// would outlast the election timeout (1 s by default) and cost the cluster
// its leader. Single-key reads stay on the loop: they are short, and a
// thread hand-off per read would cost more than the read.
//
// Invariants: tasks run in the order posted, one at a time; Stop runs every
// task already posted before it returns; a task posted after Stop began is
// refused (Post returns false) and the caller runs it itself.
// Thread-safety: Post from any thread; Start and Stop from the owner's.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace raftkv::server {

class ScanWorker {
 public:
  ScanWorker() = default;
  ~ScanWorker();  // calls Stop
  ScanWorker(const ScanWorker&) = delete;
  ScanWorker& operator=(const ScanWorker&) = delete;

  void Start();
  // Queues task for the worker thread; false (task not taken) when the
  // worker is not running.
  bool Post(std::function<void()> task);
  // Runs what is queued, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace raftkv::server
