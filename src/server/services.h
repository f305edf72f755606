// The client-facing gRPC services of a node: raftkv.v1.KV and
// raftkv.v1.Cluster (proto/kv.proto), on gRPC's asynchronous API, all run
// by the node's one CompletionLoop thread (transport/completion_loop.h),
// which no call blocks: a write waits for its entry to apply, and a
// linearizable read for its barrier, without a thread.
//
// A call that came in on the peer port (the node's one gRPC server listens
// there too) is refused with FAILED_PRECONDITION naming the client address.
// Every other request is validated first (INVALID_ARGUMENT naming the limit;
// nothing is proposed). Writes and Txns become Commands proposed through the
// Node; linearizable Ranges wait on Node::ReadBarrier, then read the state
// machine; serializable Ranges read it at once. A Range over more than one
// key (a range_end or a prefix) is read on the ScanWorker (scan_worker.h),
// so that a long scan does not hold up the loop's thread, which runs Raft
// too; single-key reads are read where they are. A non-leader answers
// requests that need the leader with UNAVAILABLE "not leader" plus trailing
// metadata raftkv-leader-bin / raftkv-leader-addr. absl codes map to gRPC
// codes one to one, in ToGrpcStatus, the one place that does it.
// Calls answered from a node thread are finished through Answer, which
// counts each in the thread's open ResponseBatch (its connection's socket
// comes from a ConnectionListener), so a batch's responses leave together.
// Thread-safety: calls are served on the loop's thread; those that wait are
// answered from node threads, and scans from the scan worker's.
#pragma once

#include <grpcpp/grpcpp.h>

#include "proto/kv.grpc.pb.h"
#include "src/server/config.h"
#include "src/server/node.h"
#include "src/server/scan_worker.h"
#include "src/server/unary_call.h"
#include "src/storage/db.h"
#include "src/transport/completion_loop.h"

namespace raftkv::server {

// absl -> gRPC status; attaches NotLeader trailing metadata to ctx if present.
grpc::Status ToGrpcStatus(const absl::Status& st, grpc::ServerContextBase* ctx);

// Wiring: Register both on the server's builder, build the server, then
// Start them with the loop made from that builder's queue, before the loop's
// own Start.

// raftkv.v1.KV.
class KvService {
 public:
  KvService(const ServerConfig& config, Node* node, storage::KvStateMachine* kv)
      : config_(config), node_(node), kv_(kv) {}

  void Register(grpc::ServerBuilder* builder) { builder->RegisterService(&service_); }
  // Arms every method's calls on loop and starts the scan worker; *this and
  // *loop must outlive the server.
  void Start(transport::CompletionLoop* loop);
  // Answers the scans already taken; a later one is read on the thread that
  // would have handed it over. Call before the server's Shutdown.
  void StopScans() { scans_.Stop(); }

 private:
  using PutCall = UnaryCall<v1::PutRequest, v1::PutResponse>;
  using RangeCall = UnaryCall<v1::RangeRequest, v1::RangeResponse>;
  using DeleteRangeCall = UnaryCall<v1::DeleteRangeRequest, v1::DeleteRangeResponse>;
  using TxnCall = UnaryCall<v1::TxnRequest, v1::TxnResponse>;

  void Put(PutCall* call);
  void Range(RangeCall* call);
  void DeleteRange(DeleteRangeCall* call);
  void Txn(TxnCall* call);

  int64_t DeadlineMicros(const grpc::ServerContext& ctx) const;
  void FillHeader(v1::ResponseHeader* h, uint64_t revision) const;
  // Proposes cmd; once it is applied, take(result, call->response()) moves
  // the result into the response, then the header is filled and the call
  // finished.
  template <class Call, class Take>
  void ProposeAndFinish(Call* call, v1::Command cmd, Take take);

  const ServerConfig& config_;
  Node* const node_;
  storage::KvStateMachine* const kv_;
  v1::KV::AsyncService service_;
  PutCall::Method put_;
  RangeCall::Method range_;
  DeleteRangeCall::Method delete_range_;
  TxnCall::Method txn_;
  ScanWorker scans_;
};

// raftkv.v1.Cluster.
class ClusterService {
 public:
  ClusterService(const ServerConfig& config, Node* node, storage::KvStateMachine* kv,
                 storage::Db* db)
      : config_(config), node_(node), kv_(kv), db_(db) {}

  void Register(grpc::ServerBuilder* builder) { builder->RegisterService(&service_); }
  void Start(transport::CompletionLoop* loop);

 private:
  using StatusCall = UnaryCall<v1::StatusRequest, v1::StatusResponse>;
  using MemberListCall = UnaryCall<v1::MemberListRequest, v1::MemberListResponse>;

  void Status(StatusCall* call);
  void MemberList(MemberListCall* call);

  const ServerConfig& config_;
  Node* const node_;
  storage::KvStateMachine* const kv_;
  storage::Db* const db_;
  v1::Cluster::AsyncService service_;
  StatusCall::Method status_;
  MemberListCall::Method member_list_;
};

}  // namespace raftkv::server
