// The client-facing gRPC services of a node: raftkv.v1.KV and
// raftkv.v1.Cluster (proto/kv.proto), on gRPC's callback API so that no
// server thread blocks while a write replicates or a read waits.
//
// Every request is validated first (INVALID_ARGUMENT naming the limit; nothing
// is proposed). Writes and Txns become Commands proposed through the Node;
// linearizable Ranges wait on Node::ReadBarrier, then read the state machine;
// serializable Ranges read it at once. A non-leader answers requests that need
// the leader with UNAVAILABLE "not leader" plus trailing metadata
// raftkv-leader-bin / raftkv-leader-addr. absl codes map to gRPC codes one to
// one, in ToGrpcStatus, the one place that does it.
// Calls answered from a node thread are finished through Answer, which
// counts each in the thread's open ResponseBatch (its connection's socket
// comes from ClientListener), so a batch's responses leave together.
// Thread-safety: called on gRPC threads; completions run on node threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include "proto/kv.grpc.pb.h"
#include "src/server/config.h"
#include "src/server/node.h"
#include "src/storage/db.h"

namespace raftkv::server {

// absl -> gRPC status; attaches NotLeader trailing metadata to ctx if present.
grpc::Status ToGrpcStatus(const absl::Status& st, grpc::ServerContextBase* ctx);

class KvService final : public v1::KV::CallbackService {
 public:
  KvService(const ServerConfig& config, Node* node, storage::KvStateMachine* kv)
      : config_(config), node_(node), kv_(kv) {}

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const v1::PutRequest* req,
                                v1::PutResponse* resp) override;
  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const v1::RangeRequest* req,
                                  v1::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteRangeRequest* req,
                                        v1::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const v1::TxnRequest* req,
                                v1::TxnResponse* resp) override;

 private:
  int64_t DeadlineMicros(const grpc::CallbackServerContext* ctx) const;
  void FillHeader(v1::ResponseHeader* h, uint64_t revision) const;
  // Proposes cmd; on success hands the result to fill, then finishes.
  void ProposeAndFinish(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                        v1::Command cmd, std::function<void(v1::CommandResult*)> fill);

  const ServerConfig& config_;
  Node* const node_;
  storage::KvStateMachine* const kv_;
};

class ClusterService final : public v1::Cluster::CallbackService {
 public:
  ClusterService(const ServerConfig& config, Node* node, storage::KvStateMachine* kv,
                 storage::Db* db)
      : config_(config), node_(node), kv_(kv), db_(db) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest* req,
                                   v1::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const v1::MemberListRequest* req,
                                       v1::MemberListResponse* resp) override;

 private:
  const ServerConfig& config_;
  Node* const node_;
  storage::KvStateMachine* const kv_;
  storage::Db* const db_;
};

}  // namespace raftkv::server
