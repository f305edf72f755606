// CompletionLoop: the one thread that runs a gRPC server's asynchronous
// calls. It drains one grpc::ServerCompletionQueue; every tag put on that
// queue is a CompletionLoop::Handler, whose OnEvent runs on this thread.
//
// Why one thread of ours instead of gRPC's callback API: gRPC 1.51 runs
// callback-API completions on at least two threads of its own, which take
// turns as the poller (epoll1): every batch of events one of them returns
// with wakes the other to poll next, a futex wake and a context switch each
// time. A single thread draining its own queue is its own poller and hands
// nothing off. So a node runs ALL its gRPC on one loop: its server's
// services, in and out, and the transport's outgoing streams. A second
// thread that polls (another loop, or any callback-API call) brings the
// hand-offs back: the client services alone on a loop, with the peer streams
// still on the callback API, measured 3% slower at write-64; everything on
// one loop, against the callback API (interleaved A/B, 3 rounds of 8 s):
// write-64 +45% ops/s and -39% server CPU per write, write-256 +78%,
// linearizable reads +94% (README, Performance).
//
// Life cycle: Create the queue with the server's builder
// (ServerBuilder::AddCompletionQueue), build the server, arm the services'
// calls on the queue, Start. To stop: grpc::Server::Shutdown first (the
// thread keeps draining meanwhile, so calls finishing during it complete),
// then Stop, which marks the loop draining, shuts the queue down, lets the
// handlers see their last events and joins the thread; destroy the server
// only after Stop (gRPC's own tags on the queue refer to it).
// Invariant: once draining() is true no operation may be started on the
// queue; a handler that sees draining() frees itself instead of starting one
// (so nothing may finish calls after Stop begins: stop whatever answers them,
// the node, before).
// Thread-safety: Start and Stop from the owner's thread; cq() and draining()
// from any.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace raftkv::transport {

class CompletionLoop {
 public:
  // What every tag on the queue points to.
  class Handler {
   public:
    // ok: gRPC's success bit for the operation this tag was given to.
    virtual void OnEvent(bool ok) = 0;

   protected:
    ~Handler() = default;
  };

  // thread_name: shown by top and perf (at most 15 characters).
  CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq, std::string thread_name);
  ~CompletionLoop();  // calls Stop
  CompletionLoop(const CompletionLoop&) = delete;
  CompletionLoop& operator=(const CompletionLoop&) = delete;

  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  void Start();
  // Idempotent. Call after the server's Shutdown.
  void Stop();

 private:
  void Run();

  const std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  const std::string thread_name_;
  std::atomic<bool> draining_{false};
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace raftkv::transport
