#include "src/server/services.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include "absl/strings/str_cat.h"
#include "src/common/clock.h"
#include "src/server/response_batch.h"
#include "src/storage/validation.h"
#include "src/transport/connection_listener.h"

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
template <class Call>
void Answer(Call* call, const grpc::Status& st) {
  if (ResponseBatch::IsOpen()) {
    ResponseBatch::Cork(transport::HandedConnectionOf(*call->context()).fd);
  }
  call->Finish(st);
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

namespace {

// Calls armed per method at once (each waits for one incoming call).
constexpr int kArmedCallsPerMethod = 4;

template <class Call>
void ArmCalls(const typename Call::Method* method) {
  for (int i = 0; i < kArmedCallsPerMethod; ++i) Call::Arm(method);
}

// The node's one gRPC server also listens on the peer address (main.cc).
// A client call that came in there, not through the client address's
// ConnectionListener, is refused (true), with the address to use instead.
template <class Call>
bool RefusedOffClientPort(const ServerConfig& config, Call* call) {
  if (transport::HandedConnectionOf(*call->context()).On(transport::NodePort::kClient)) {
    return false;
  }
  call->Finish(grpc::Status(
      grpc::StatusCode::FAILED_PRECONDITION,
      absl::StrCat(config.listen_peer, " is node ", config.id,
                   "'s peer address, for Raft traffic only; clients connect to its client address ",
                   config.listen_client)));
  return true;
}

// The Method::serve that refuses calls off the client port and hands the
// rest to serve.
template <class Call, class Serve>
auto OnClientPort(const ServerConfig& config, Serve serve) {
  return [&config, serve](Call* call) {
    if (!RefusedOffClientPort(config, call)) serve(call);
  };
}

}  // namespace

// The Method::request that asks service for the next call of one method
// (request_fn, a generated AsyncService::RequestX) on the loop's queue.
template <class Service, class Base, class Request, class Response>
auto Requester(Service* service,
               void (Base::*request_fn)(grpc::ServerContext*, Request*,
                                        grpc::ServerAsyncResponseWriter<Response>*,
                                        grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                        void*)) {
  return [service, request_fn](grpc::ServerContext* ctx, Request* req,
                               grpc::ServerAsyncResponseWriter<Response>* writer,
                               grpc::ServerCompletionQueue* cq, void* tag) {
    (service->*request_fn)(ctx, req, writer, cq, cq, tag);
  };
}

void KvService::Start(transport::CompletionLoop* loop) {
  auto* s = &service_;
  put_ = {loop, Requester(s, &v1::KV::AsyncService::RequestPut),
          OnClientPort<PutCall>(config_, [this](PutCall* c) { Put(c); })};
  range_ = {loop, Requester(s, &v1::KV::AsyncService::RequestRange),
            OnClientPort<RangeCall>(config_, [this](RangeCall* c) { Range(c); })};
  delete_range_ = {
      loop, Requester(s, &v1::KV::AsyncService::RequestDeleteRange),
      OnClientPort<DeleteRangeCall>(config_, [this](DeleteRangeCall* c) { DeleteRange(c); })};
  txn_ = {loop, Requester(s, &v1::KV::AsyncService::RequestTxn),
          OnClientPort<TxnCall>(config_, [this](TxnCall* c) { Txn(c); })};
  scans_.Start();
  ArmCalls<PutCall>(&put_);
  ArmCalls<RangeCall>(&range_);
  ArmCalls<DeleteRangeCall>(&delete_range_);
  ArmCalls<TxnCall>(&txn_);
}

int64_t KvService::DeadlineMicros(const grpc::ServerContext& ctx) const {
  int64_t now = NowMicros();
  int64_t max_us = int64_t{config_.request_timeout_ms} * 1000;
  auto remaining = ctx.deadline() - std::chrono::system_clock::now();
  int64_t remaining_us = std::chrono::duration_cast<std::chrono::microseconds>(remaining).count();
  return now + std::clamp<int64_t>(remaining_us, 0, max_us);
}

void KvService::FillHeader(v1::ResponseHeader* h, uint64_t revision) const {
  h->set_cluster_id(config_.cluster_id);
  h->set_member_id(config_.id);
  h->set_revision(revision);
  h->set_raft_term(node_->CurrentTerm());
}

template <class Call, class Take>
void KvService::ProposeAndFinish(Call* call, v1::Command cmd, Take take) {
  node_->Propose(cmd, DeadlineMicros(*call->context()),
                 [this, call, take](absl::StatusOr<v1::CommandResult> result) {
                   if (!result.ok()) {
                     Answer(call, ToGrpcStatus(result.status(), call->context()));
                     return;
                   }
                   auto* resp = call->response();
                   take(&*result, resp);
                   FillHeader(resp->mutable_header(), resp->header().revision());
                   Answer(call, grpc::Status::OK);
                 });
}

void KvService::Put(PutCall* call) {
  absl::Status st = storage::ValidatePut(call->request(), config_.limits);
  if (!st.ok()) {
    call->Finish(ToGrpcStatus(st, call->context()));
    return;
  }
  v1::Command cmd;
  *cmd.mutable_put() = call->request();
  ProposeAndFinish(call, std::move(cmd), [](v1::CommandResult* r, v1::PutResponse* resp) {
    resp->Swap(r->mutable_put());
  });
}

void KvService::DeleteRange(DeleteRangeCall* call) {
  absl::Status st = storage::ValidateDeleteRange(call->request(), config_.limits);
  if (!st.ok()) {
    call->Finish(ToGrpcStatus(st, call->context()));
    return;
  }
  v1::Command cmd;
  *cmd.mutable_delete_range() = call->request();
  ProposeAndFinish(call, std::move(cmd), [](v1::CommandResult* r, v1::DeleteRangeResponse* resp) {
    resp->Swap(r->mutable_delete_range());
  });
}

void KvService::Txn(TxnCall* call) {
  absl::Status st = storage::ValidateTxn(call->request(), config_.limits);
  if (!st.ok()) {
    call->Finish(ToGrpcStatus(st, call->context()));
    return;
  }
  // Every Txn, read-only ones included, goes through the log: it is then
  // evaluated against one state, atomically, on every replica.
  v1::Command cmd;
  *cmd.mutable_txn() = call->request();
  ProposeAndFinish(call, std::move(cmd), [](v1::CommandResult* r, v1::TxnResponse* resp) {
    resp->Swap(r->mutable_txn());
  });
}

void KvService::Range(RangeCall* call) {
  absl::Status st = storage::ValidateRange(call->request(), config_.limits);
  if (!st.ok()) {
    call->Finish(ToGrpcStatus(st, call->context()));
    return;
  }
  auto read = [this, call](absl::Status barrier) {
    if (!barrier.ok()) {
      Answer(call, ToGrpcStatus(barrier, call->context()));
      return;
    }
    absl::StatusOr<v1::RangeResponse> r = kv_->Range(call->request());
    if (!r.ok()) {
      Answer(call, ToGrpcStatus(r.status(), call->context()));
      return;
    }
    v1::RangeResponse* resp = call->response();
    resp->Swap(&*r);
    FillHeader(resp->mutable_header(), resp->header().revision());
    Answer(call, grpc::Status::OK);
  };
  std::function<void(absl::Status)> serve = std::move(read);
  if (!call->request().range_end().empty() || call->request().prefix()) {
    // A scan: on the scan worker, not on the thread that runs Raft.
    serve = [this, read = std::move(serve)](absl::Status barrier) {
      std::function<void()> task = [read, barrier] { read(barrier); };
      if (!scans_.Post(task)) task();  // shutting down: here
    };
  }
  if (call->request().consistency() == v1::SERIALIZABLE) {
    serve(absl::OkStatus());
  } else {
    node_->ReadBarrier(DeadlineMicros(*call->context()), std::move(serve));
  }
}

// ---- Cluster --------------------------------------------------------------------------

void ClusterService::Start(transport::CompletionLoop* loop) {
  auto* s = &service_;
  status_ = {loop, Requester(s, &v1::Cluster::AsyncService::RequestStatus),
             OnClientPort<StatusCall>(config_, [this](StatusCall* c) { Status(c); })};
  member_list_ = {
      loop, Requester(s, &v1::Cluster::AsyncService::RequestMemberList),
      OnClientPort<MemberListCall>(config_, [this](MemberListCall* c) { MemberList(c); })};
  ArmCalls<StatusCall>(&status_);
  ArmCalls<MemberListCall>(&member_list_);
}

void ClusterService::Status(StatusCall* call) {
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
  v1::StatusResponse* resp = call->response();
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
  resp->set_log_syncs(db_->WalSyncs());
  call->Finish(grpc::Status::OK);
}

void ClusterService::MemberList(MemberListCall* call) {
  NodeInfo info = node_->GetInfo();
  v1::MemberListResponse* resp = call->response();
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
  call->Finish(grpc::Status::OK);
}

}  // namespace raftkv::server
