// CompletionLoop: the one thread that runs a gRPC server's asynchronous
// calls and, when given a Driver, the rounds of the work that reacts to them
// (the node loop: Raft, its log writes, its answers). It drains one
// grpc::ServerCompletionQueue; every tag on that queue is a
// CompletionLoop::Handler, whose OnEvent runs on this thread.
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
// Why the Driver shares the thread: the events' handlers only queue work
// (a client's write, a peer's message) for the node loop; on a thread of its
// own that loop had to be woken for them, a futex wake and a context switch
// per batch. Here the thread first takes every event that is ready (at most
// kMaxEventsBetweenRounds), then runs a round when one is due, so a round
// sees all the work that arrived meanwhile, including during its own log
// sync, and nothing is handed between threads.
//
// A loop may have more than one Driver (the node, and the transport's held
// reads, grpc_transport.h): when several are due, they run in the order they
// were added, and the loop waits until the earliest is due.
//
// Life cycle: Create the queue with the server's builder
// (ServerBuilder::AddCompletionQueue), build the server, arm the services'
// calls on the queue, AddDriver if any, Start. To stop: DetachDriver (its
// owner then stops it), grpc::Server::Shutdown (the thread keeps draining
// meanwhile, so calls finishing during it complete), then Stop, which marks
// the loop draining, shuts the queue down, lets the handlers see their last
// events and joins the thread; destroy the server only after Stop (gRPC's own
// tags on the queue refer to it).
// Invariants: once draining() is true no operation may be started on the
// queue; a handler that sees draining() frees itself instead of starting one
// (so nothing may finish calls after Stop begins: stop whatever answers them,
// the node, before). Driver calls run on the loop's thread only, never inside
// a handler, and never after DetachDriver returns.
// Thread-safety: Start and Stop from the owner's thread; AddDriver and
// DetachDriver from any thread but the loop's; cq(), draining() and Wake from
// any.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

  // Work run in rounds on the loop's thread, between events.
  class Driver {
   public:
    // When the next round is due, in SteadyClock microseconds (src/common/
    // clock.h); at or before now when work is waiting. Read before every
    // wait, so a handler that queues work needs no wake-up.
    virtual int64_t NextRoundAtUs() = 0;
    virtual void RunRound() = 0;

   protected:
    ~Driver() = default;
  };

  // How many events are taken, when more keep coming, before a due round
  // runs anyway.
  static constexpr int kMaxEventsBetweenRounds = 256;

  // thread_name: shown by top and perf (at most 15 characters).
  CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq, std::string thread_name);
  ~CompletionLoop();  // calls Stop
  CompletionLoop(const CompletionLoop&) = delete;
  CompletionLoop& operator=(const CompletionLoop&) = delete;

  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  // driver must stay valid until DetachDriver(driver) (or Stop).
  void AddDriver(Driver* driver);
  void Start();
  // Returns once no round of driver runs and none will run again.
  void DetachDriver(Driver* driver);
  // Makes the loop look at its driver soon: for work queued from another
  // thread (work queued by a handler is seen anyway). Cheap on the loop's
  // thread (nothing to do) and when a wake-up is already on its way.
  void Wake();
  // Idempotent. Call after the server's Shutdown.
  void Stop();

 private:
  // The tag of the wake-up alarm.
  class WakeHandler final : public Handler {
   public:
    explicit WakeHandler(CompletionLoop* loop) : loop_(loop) {}
    void OnEvent(bool ok) override;

   private:
    CompletionLoop* const loop_;
  };

  void Run();
  // Runs the rounds that are due if (unless too many events came first) no
  // event was ready at the last look; returns the wait deadline for the next
  // look at the queue.
  gpr_timespec RunDueRounds(bool queue_empty, int* events_since_round);

  const std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  const std::string thread_name_;
  std::atomic<bool> draining_{false};
  bool stopped_ = false;
  std::thread thread_;

  std::mutex driver_mu_;          // held by the loop while it calls the drivers
  std::vector<Driver*> drivers_;  // guarded by driver_mu_
  std::vector<int64_t> due_at_;   // RunDueRounds' scratch; at least drivers_.size()

  std::mutex wake_mu_;  // orders Wake's Set against Stop's queue shutdown
  std::atomic<bool> wake_pending_{false};
  grpc::Alarm wake_alarm_;
  WakeHandler wake_handler_{this};
};

}  // namespace raftkv::transport
