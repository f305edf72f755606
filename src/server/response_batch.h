// ResponseBatch: the responses one thread finishes together leave in one TCP
// segment per client connection instead of one segment each.
//
// Why: gRPC 1.51's C++ server writes every call finished from an
// application thread with its own sendmsg, at once. On loopback each send
// runs the receiver's TCP stack and wakes the client for that one response;
// the client then sends one new request, which wakes the server's
// completion-queue thread. Answering a batch of 13 writes so costs 13 such round
// trips of wake-ups (grpc-go, etcd's stack, coalesces the responses of a
// connection instead). Corking the connection while the batch is answered
// sends its responses together.
//
// How: the node opens a ResponseBatch on its thread around answering a
// batch of waiters; a service, before finishing a call in it, calls
// ResponseBatch::Cork with the call's socket (connection_listener.h), which
// corks it (TCP_CORK) at its first response in the batch; the batch's end
// uncorks every socket it corked, which sends what was queued. A batch of
// fewer than two responses is inert: a lone response costs no system call
// more (single-client latency is unchanged).
//
// Invariants: a socket is corked only while a batch is open on the thread
// that corked it, and closing the batch uncorks every socket it corked (and
// Linux itself sends corked data after 200 ms at most). Batches do not nest:
// a batch opened inside another is inert. Cork outside a batch, or with
// fd < 0, does nothing; a setsockopt on a socket gRPC has meanwhile closed
// fails harmlessly.
// Thread-safety: a batch belongs to the thread that opened it.
#pragma once

#include <cstddef>
#include <vector>

namespace raftkv::server {

class ResponseBatch {
 public:
  // responses: how many calls the batch will answer (an upper bound will
  // do); below two the batch is inert.
  explicit ResponseBatch(size_t responses);
  ~ResponseBatch();
  ResponseBatch(const ResponseBatch&) = delete;
  ResponseBatch& operator=(const ResponseBatch&) = delete;

  // Whether a batch is open on this thread.
  static bool IsOpen();
  // Corks socket fd, a response being about to be finished on it, until
  // the open batch ends. No-op without an open (active) batch.
  static void Cork(int fd);

 private:
  bool active_;  // false for a nested or too small batch
  std::vector<int> corked_;
};

}  // namespace raftkv::server
