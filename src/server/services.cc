#include "src/server/services.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "src/common/clock.h"
#include "src/server/client_listener.h"
#include "src/server/response_batch.h"
#include "src/storage/validation.h"

namespace raftkv::server {

namespace {

int64_t NowMicros() {
  static const SteadyClock clock;
  return clock.NowMicros();
}

const char kVersion[] = "raftkv 0.1.0";

// Finishes a call answered by a node thread; inside a ResponseBatch, counts
// it against its connection first, so that the batch's responses leave
// together.
void Answer(grpc::ServerContextBase* ctx, grpc::ServerUnaryReactor* reactor, grpc::Status st) {
  if (ResponseBatch::IsOpen()) ResponseBatch::Cork(ConnectionFd(*ctx));
  reactor->Finish(std::move(st));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& st, grpc::ServerContextBase* ctx) {
  if (st.ok()) return grpc::Status::OK;
  if (ctx != nullptr) {
    if (auto p = st.GetPayload(kNotLeaderPayloadUrl)) {
      std::string bytes(*p);
      ctx->AddTrailingMetadata("raftkv-leader-bin", bytes);
      v1::NotLeader nl;
      if (nl.ParseFromString(bytes) && !nl.leader_client_address().empty()) {
        ctx->AddTrailingMetadata("raftkv-leader-addr", nl.leader_client_address());
      }
    }
  }
  // absl and gRPC status codes share their numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

// ---- KV ------------------------------------------------------------------------------

int64_t KvService::DeadlineMicros(const grpc::CallbackServerContext* ctx) const {
  int64_t now = NowMicros();
  int64_t max_us = int64_t{config_.request_timeout_ms} * 1000;
  auto remaining = ctx->deadline() - std::chrono::system_clock::now();
  int64_t remaining_us = std::chrono::duration_cast<std::chrono::microseconds>(remaining).count();
  return now + std::clamp<int64_t>(remaining_us, 0, max_us);
}

void KvService::FillHeader(v1::ResponseHeader* h, uint64_t revision) const {
  h->set_cluster_id(config_.cluster_id);
  h->set_member_id(config_.id);
  h->set_revision(revision);
  h->set_raft_term(node_->CurrentTerm());
}

void KvService::ProposeAndFinish(grpc::CallbackServerContext* ctx,
                                 grpc::ServerUnaryReactor* reactor, v1::Command cmd,
                                 std::function<void(v1::CommandResult*)> fill) {
  node_->Propose(
      cmd, DeadlineMicros(ctx),
      [this, ctx, reactor, fill = std::move(fill)](absl::StatusOr<v1::CommandResult> result) {
        if (!result.ok()) {
          Answer(ctx, reactor, ToGrpcStatus(result.status(), ctx));
          return;
        }
        fill(&*result);
        Answer(ctx, reactor, grpc::Status::OK);
      });
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const v1::PutRequest* req, v1::PutResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Status st = storage::ValidatePut(*req, config_.limits);
  if (!st.ok()) {
    reactor->Finish(ToGrpcStatus(st, ctx));
    return reactor;
  }
  v1::Command cmd;
  *cmd.mutable_put() = *req;
  ProposeAndFinish(ctx, reactor, std::move(cmd), [this, resp](v1::CommandResult* r) {
    resp->Swap(r->mutable_put());
    FillHeader(resp->mutable_header(), resp->header().revision());
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const v1::DeleteRangeRequest* req,
                                                 v1::DeleteRangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Status st = storage::ValidateDeleteRange(*req, config_.limits);
  if (!st.ok()) {
    reactor->Finish(ToGrpcStatus(st, ctx));
    return reactor;
  }
  v1::Command cmd;
  *cmd.mutable_delete_range() = *req;
  ProposeAndFinish(ctx, reactor, std::move(cmd), [this, resp](v1::CommandResult* r) {
    resp->Swap(r->mutable_delete_range());
    FillHeader(resp->mutable_header(), resp->header().revision());
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const v1::TxnRequest* req, v1::TxnResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Status st = storage::ValidateTxn(*req, config_.limits);
  if (!st.ok()) {
    reactor->Finish(ToGrpcStatus(st, ctx));
    return reactor;
  }
  // Every Txn, read-only ones included, goes through the log: it is then
  // evaluated against one state, atomically, on every replica.
  v1::Command cmd;
  *cmd.mutable_txn() = *req;
  ProposeAndFinish(ctx, reactor, std::move(cmd), [this, resp](v1::CommandResult* r) {
    resp->Swap(r->mutable_txn());
    FillHeader(resp->mutable_header(), resp->header().revision());
  });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const v1::RangeRequest* req, v1::RangeResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::Status st = storage::ValidateRange(*req, config_.limits);
  if (!st.ok()) {
    reactor->Finish(ToGrpcStatus(st, ctx));
    return reactor;
  }
  auto read = [this, ctx, reactor, req, resp](absl::Status barrier) {
    if (!barrier.ok()) {
      Answer(ctx, reactor, ToGrpcStatus(barrier, ctx));
      return;
    }
    absl::StatusOr<v1::RangeResponse> r = kv_->Range(*req);
    if (!r.ok()) {
      Answer(ctx, reactor, ToGrpcStatus(r.status(), ctx));
      return;
    }
    resp->Swap(&*r);
    FillHeader(resp->mutable_header(), resp->header().revision());
    Answer(ctx, reactor, grpc::Status::OK);
  };
  if (req->consistency() == v1::SERIALIZABLE) {
    read(absl::OkStatus());
  } else {
    node_->ReadBarrier(DeadlineMicros(ctx), std::move(read));
  }
  return reactor;
}

// ---- Cluster --------------------------------------------------------------------------

grpc::ServerUnaryReactor* ClusterService::Status(grpc::CallbackServerContext* ctx,
                                                 const v1::StatusRequest*,
                                                 v1::StatusResponse* resp) {
  NodeInfo info = node_->GetInfo();
  v1::Role role = v1::ROLE_UNKNOWN;
  switch (info.role) {
    case raft::StateRole::kFollower:
      role = v1::ROLE_FOLLOWER;
      break;
    case raft::StateRole::kCandidate:
      role = v1::ROLE_CANDIDATE;
      break;
    case raft::StateRole::kPreCandidate:
      role = v1::ROLE_PRE_CANDIDATE;
      break;
    case raft::StateRole::kLeader:
      role = v1::ROLE_LEADER;
      break;
  }
  if (std::binary_search(info.conf_state.learners.begin(), info.conf_state.learners.end(),
                         config_.id)) {
    role = v1::ROLE_LEARNER;
  }
  uint64_t revision = kv_->Revision();
  auto* h = resp->mutable_header();
  h->set_cluster_id(config_.cluster_id);
  h->set_member_id(config_.id);
  h->set_revision(revision);
  h->set_raft_term(info.term);
  resp->set_member_id(config_.id);
  resp->set_role(role);
  resp->set_leader_id(info.leader);
  resp->set_raft_term(info.term);
  resp->set_commit_index(info.commit);
  resp->set_applied_index(kv_->AppliedIndex());
  resp->set_revision(revision);
  resp->set_db_size_bytes(db_->DiskSizeBytes());
  resp->set_raft_index(info.last_index);
  resp->set_version(kVersion);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const v1::MemberListRequest*,
                                                     v1::MemberListResponse* resp) {
  NodeInfo info = node_->GetInfo();
  auto* h = resp->mutable_header();
  h->set_cluster_id(config_.cluster_id);
  h->set_member_id(config_.id);
  h->set_revision(kv_->Revision());
  h->set_raft_term(info.term);
  auto add = [&](raft::NodeId id, bool learner) {
    v1::Member* m = resp->add_members();
    m->set_id(id);
    m->set_name(absl::StrCat("node", id));
    m->set_is_learner(learner);
    auto it = config_.initial_cluster.find(id);
    if (it != config_.initial_cluster.end()) {
      m->set_peer_address(it->second.peer);
      m->set_client_address(it->second.client);
    }
  };
  for (raft::NodeId id : info.conf_state.voters) add(id, false);
  for (raft::NodeId id : info.conf_state.learners) add(id, true);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace raftkv::server
