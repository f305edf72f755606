// FakeNode: an in-process raftkv.v1 KV + Cluster gRPC server on a loopback
// port chosen by the OS, whose answers a test scripts, for exercising the
// client library's leader following and retries without a real cluster.
//
// Every request first goes through the node's Behavior, which may fail it
// (e.g. "not leader" with the leader's address in trailing metadata) or let it
// through; requests let through are served from an in-memory map (Put, Range
// of one key, DeleteRange of one key; Txn answers succeeded=true) with a
// revision counter.
// Threads: gRPC's threads call the handlers; SetBehavior, counters and
// Shutdown may be called from the test's threads at any time.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proto/kv.grpc.pb.h"

namespace raftkv::client::testing {

// Decides the fate of one request: return OK to let it be served, anything
// else to fail it with that status. method is e.g. "Put"; call is the
// 1-based number of requests of any method this node has seen.
using Behavior =
    std::function<grpc::Status(grpc::ServerContext* ctx, const std::string& method, int call)>;

// Lets every request through.
Behavior Serve();
// Answers "not leader", naming leader_address (empty: leader unknown).
Behavior NotLeader(const std::string& leader_address, uint64_t leader_id);
// Answers "not leader, leader unknown" to the first `calls` requests, then
// serves.
Behavior NoLeaderFor(int calls);
// Fails every request with this status.
Behavior FailWith(grpc::StatusCode code, const std::string& message);
// Fails the first `calls` requests with this status, then serves.
Behavior FailFirst(int calls, grpc::StatusCode code, const std::string& message);
// Never answers: holds the request until the client gives up.
Behavior Hang();

class FakeNode {
 public:
  // Starts serving at once on listen ("host:port"; port 0: chosen by the
  // OS); id is reported as member_id, role and leader_id by Status. If the
  // address cannot be bound, address() is empty.
  explicit FakeNode(uint64_t id, raftkv::v1::Role role = raftkv::v1::ROLE_FOLLOWER,
                    const std::string& listen = "127.0.0.1:0", uint64_t leader_id = 0);
  ~FakeNode();

  const std::string& address() const { return address_; }
  void SetBehavior(Behavior behavior);
  // Requests seen, of one method or of all.
  int Calls(const std::string& method) const;
  int TotalCalls() const { return total_calls_.load(); }
  // Stops serving; the port then refuses connections.
  void Shutdown();

 private:
  class KvService;
  class ClusterService;

  // Runs the behavior for one request.
  grpc::Status Admit(grpc::ServerContext* ctx, const std::string& method);

  const uint64_t id_;
  const raftkv::v1::Role role_;
  const uint64_t leader_id_;
  std::string address_;
  std::unique_ptr<KvService> kv_;
  std::unique_ptr<ClusterService> cluster_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  Behavior behavior_;                        // guarded by mu_
  std::map<std::string, int> calls_;         // guarded by mu_
  std::map<std::string, std::string> data_;  // guarded by mu_
  uint64_t revision_ = 0;                    // guarded by mu_
  std::atomic<int> total_calls_{0};
  friend class KvService;
  friend class ClusterService;
};

// A loopback address where nothing listens (a server was started on it and
// stopped), so connecting is refused.
std::string DeadAddress();

}  // namespace raftkv::client::testing
