#include "tests/client/fake_node.h"

#include <chrono>
#include <thread>
#include <utility>

namespace raftkv::client::testing {

namespace v1 = raftkv::v1;

Behavior Serve() {
  return [](grpc::ServerContext*, const std::string&, int) { return grpc::Status::OK; };
}

Behavior NotLeader(const std::string& leader_address, uint64_t leader_id) {
  return [leader_address, leader_id](grpc::ServerContext* ctx, const std::string&, int) {
    v1::NotLeader nl;
    nl.set_leader_id(leader_id);
    nl.set_leader_client_address(leader_address);
    ctx->AddTrailingMetadata("raftkv-leader-bin", nl.SerializeAsString());
    if (!leader_address.empty()) ctx->AddTrailingMetadata("raftkv-leader-addr", leader_address);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not leader");
  };
}

Behavior NoLeaderFor(int calls) {
  Behavior no_leader = NotLeader("", 0);
  return [no_leader, calls](grpc::ServerContext* ctx, const std::string& method, int call) {
    if (call <= calls) return no_leader(ctx, method, call);
    return grpc::Status::OK;
  };
}

Behavior FailWith(grpc::StatusCode code, const std::string& message) {
  return [code, message](grpc::ServerContext*, const std::string&, int) {
    return grpc::Status(code, message);
  };
}

Behavior FailFirst(int calls, grpc::StatusCode code, const std::string& message) {
  return [calls, code, message](grpc::ServerContext*, const std::string&, int call) {
    if (call <= calls) return grpc::Status(code, message);
    return grpc::Status::OK;
  };
}

Behavior Hang() {
  return [](grpc::ServerContext* ctx, const std::string&, int) {
    // Bounded so a broken client cannot hang the test binary forever.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!ctx->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "client gave up");
  };
}

class FakeNode::KvService final : public v1::KV::Service {
 public:
  explicit KvService(FakeNode* node) : node_(node) {}

  grpc::Status Put(grpc::ServerContext* ctx, const v1::PutRequest* request,
                   v1::PutResponse* response) override {
    grpc::Status s = node_->Admit(ctx, "Put");
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(node_->mu_);
    node_->data_[request->key()] = request->value();
    Header(response->mutable_header(), ++node_->revision_);
    return grpc::Status::OK;
  }

  grpc::Status Range(grpc::ServerContext* ctx, const v1::RangeRequest* request,
                     v1::RangeResponse* response) override {
    grpc::Status s = node_->Admit(ctx, "Range");
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(node_->mu_);
    auto it = node_->data_.find(request->key());
    if (it != node_->data_.end()) {
      v1::KeyValue* kv = response->add_kvs();
      kv->set_key(it->first);
      kv->set_value(it->second);
      response->set_count(1);
    }
    Header(response->mutable_header(), node_->revision_);
    return grpc::Status::OK;
  }

  grpc::Status DeleteRange(grpc::ServerContext* ctx, const v1::DeleteRangeRequest* request,
                           v1::DeleteRangeResponse* response) override {
    grpc::Status s = node_->Admit(ctx, "DeleteRange");
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(node_->mu_);
    const bool deleted = node_->data_.erase(request->key()) > 0;
    response->set_deleted(deleted ? 1 : 0);
    Header(response->mutable_header(), deleted ? ++node_->revision_ : node_->revision_);
    return grpc::Status::OK;
  }

  grpc::Status Txn(grpc::ServerContext* ctx, const v1::TxnRequest*,
                   v1::TxnResponse* response) override {
    grpc::Status s = node_->Admit(ctx, "Txn");
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> lock(node_->mu_);
    response->set_succeeded(true);
    Header(response->mutable_header(), node_->revision_);
    return grpc::Status::OK;
  }

 private:
  void Header(v1::ResponseHeader* header, uint64_t revision) {
    header->set_member_id(node_->id_);
    header->set_revision(revision);
    header->set_raft_term(1);
  }
  FakeNode* node_;
};

class FakeNode::ClusterService final : public v1::Cluster::Service {
 public:
  explicit ClusterService(FakeNode* node) : node_(node) {}

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    // Status is answered by any node (no behavior), as the real server does.
    {
      std::lock_guard<std::mutex> lock(node_->mu_);
      ++node_->calls_["Status"];
    }
    response->mutable_header()->set_member_id(node_->id_);
    response->set_member_id(node_->id_);
    response->set_role(node_->role_);
    response->set_leader_id(node_->leader_id_);
    response->set_raft_term(1);
    return grpc::Status::OK;
  }

  grpc::Status MemberList(grpc::ServerContext* ctx, const v1::MemberListRequest*,
                          v1::MemberListResponse* response) override {
    grpc::Status s = node_->Admit(ctx, "MemberList");
    if (!s.ok()) return s;
    v1::Member* m = response->add_members();
    m->set_id(node_->id_);
    m->set_name("fake");
    m->set_client_address(node_->address_);
    return grpc::Status::OK;
  }

 private:
  FakeNode* node_;
};

FakeNode::FakeNode(uint64_t id, v1::Role role, const std::string& listen, uint64_t leader_id)
    : id_(id),
      role_(role),
      leader_id_(leader_id),
      kv_(std::make_unique<KvService>(this)),
      cluster_(std::make_unique<ClusterService>(this)),
      behavior_(Serve()) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(kv_.get());
  builder.RegisterService(cluster_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return;
  }
  address_ = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
}

FakeNode::~FakeNode() { Shutdown(); }

void FakeNode::SetBehavior(Behavior behavior) {
  std::lock_guard<std::mutex> lock(mu_);
  behavior_ = std::move(behavior);
}

int FakeNode::Calls(const std::string& method) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

void FakeNode::Shutdown() {
  if (server_ == nullptr) return;
  // Hanging handlers see their calls cancelled at the deadline.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

grpc::Status FakeNode::Admit(grpc::ServerContext* ctx, const std::string& method) {
  Behavior behavior;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_[method];
    behavior = behavior_;
  }
  const int call = ++total_calls_;
  return behavior(ctx, method, call);
}

std::string DeadAddress() {
  FakeNode node(0);
  std::string address = node.address();
  node.Shutdown();
  return address;
}

}  // namespace raftkv::client::testing
