// The two APIs kvbench drives, as adapters with the same shape, so that one
// load loop (load.cc, a template over the adapter) serves both: only the
// message and stub types and three small functions differ.
//
//   RaftkvApi  raftkv.v1.KV (proto/kv.proto), leader from Cluster.Status;
//              a follower answers writes with UNAVAILABLE and trailing
//              metadata "raftkv-leader-addr", which LeaderHint reads.
//   EtcdApi    etcdserverpb.KV (bench/etcd/etcd_kv.proto), leader from
//              Maintenance.Status (header.member_id vs leader); etcd's
//              followers forward writes, so there is no hint.
//
// Both: Range of one key; SetSerializable picks the read path (raftkv:
// consistency SERIALIZABLE; etcd: serializable = true).
// Threads: stateless; the stubs they create are thread-safe (gRPC).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/etcd/etcd_kv.grpc.pb.h"
#include "proto/kv.grpc.pb.h"

namespace raftkv::kvbench {

// What one endpoint says about itself and the leader.
struct NodeInfo {
  uint64_t member_id = 0;
  // 0 if the node knows no leader.
  uint64_t leader_id = 0;
};

inline absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

inline std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

struct RaftkvApi {
  using KvStub = v1::KV::Stub;
  using PutRequest = v1::PutRequest;
  using PutResponse = v1::PutResponse;
  using RangeRequest = v1::RangeRequest;
  using RangeResponse = v1::RangeResponse;

  static std::unique_ptr<KvStub> NewKvStub(const std::shared_ptr<grpc::Channel>& channel) {
    return v1::KV::NewStub(channel);
  }

  static void SetSerializable(RangeRequest* req, bool serializable) {
    req->set_consistency(serializable ? v1::SERIALIZABLE : v1::LINEARIZABLE);
  }

  static absl::StatusOr<NodeInfo> GetNodeInfo(const std::shared_ptr<grpc::Channel>& channel,
                                              double timeout_s) {
    std::unique_ptr<v1::Cluster::Stub> stub = v1::Cluster::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_s));
    v1::StatusResponse resp;
    grpc::Status s = stub->Status(&ctx, v1::StatusRequest(), &resp);
    if (!s.ok()) return FromGrpc(s, "Cluster.Status");
    return NodeInfo{resp.member_id(), resp.leader_id()};
  }

  // The leader's address named by a "not leader" answer; empty if none.
  static std::string LeaderHint(const grpc::ClientContext& ctx) {
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find("raftkv-leader-addr");
    if (it == trailers.end()) return "";
    return std::string(it->second.data(), it->second.size());
  }
};

struct EtcdApi {
  using KvStub = etcdserverpb::KV::Stub;
  using PutRequest = etcdserverpb::PutRequest;
  using PutResponse = etcdserverpb::PutResponse;
  using RangeRequest = etcdserverpb::RangeRequest;
  using RangeResponse = etcdserverpb::RangeResponse;

  static std::unique_ptr<KvStub> NewKvStub(const std::shared_ptr<grpc::Channel>& channel) {
    return etcdserverpb::KV::NewStub(channel);
  }

  static void SetSerializable(RangeRequest* req, bool serializable) {
    req->set_serializable(serializable);
  }

  static absl::StatusOr<NodeInfo> GetNodeInfo(const std::shared_ptr<grpc::Channel>& channel,
                                              double timeout_s) {
    std::unique_ptr<etcdserverpb::Maintenance::Stub> stub =
        etcdserverpb::Maintenance::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_s));
    etcdserverpb::StatusResponse resp;
    grpc::Status s = stub->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
    if (!s.ok()) return FromGrpc(s, "Maintenance.Status");
    return NodeInfo{resp.header().member_id(), resp.leader()};
  }

  static std::string LeaderHint(const grpc::ClientContext&) { return ""; }
};

}  // namespace raftkv::kvbench
