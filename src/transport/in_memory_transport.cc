#include "src/transport/in_memory_transport.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/raft/codec.h"

namespace raftkv::transport {

// ---------------------------------------------------------------------------
// InMemoryHub

void InMemoryHub::Cut(NodeId a, NodeId b) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.insert({std::min(a, b), std::max(a, b)});
}

void InMemoryHub::Heal(NodeId a, NodeId b) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.erase({std::min(a, b), std::max(a, b)});
}

void InMemoryHub::Isolate(NodeId id) {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.insert(id);
}

void InMemoryHub::Rejoin(NodeId id) {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.erase(id);
}

void InMemoryHub::HealAll() {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.clear();
  isolated_.clear();
  drop_ = nullptr;
}

void InMemoryHub::SetDropFilter(std::function<bool(const raft::Message&)> drop) {
  std::lock_guard<std::mutex> lock(mu_);
  drop_ = std::move(drop);
}

uint64_t InMemoryHub::filtered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return filtered_;
}

bool InMemoryHub::LinkUpLocked(NodeId a, NodeId b) const {
  return isolated_.count(a) == 0 && isolated_.count(b) == 0 &&
         cuts_.count({std::min(a, b), std::max(a, b)}) == 0;
}

// ---------------------------------------------------------------------------
// InMemoryTransport

InMemoryTransport::InMemoryTransport(InMemoryHub* hub, NodeId id) : hub_(hub), id_(id) {
  std::lock_guard<std::mutex> lock(hub_->mu_);
  RAFTKV_CHECK_MSG(id != raft::kNoNode, "in-memory transport needs a non-zero node id");
  bool inserted = hub_->nodes_.emplace(id, this).second;
  RAFTKV_CHECK_MSG(inserted, absl::StrCat("node ", id, " is already on the hub"));
}

InMemoryTransport::~InMemoryTransport() {
  Stop();
  std::lock_guard<std::mutex> lock(hub_->mu_);
  hub_->nodes_.erase(id_);
}

absl::Status InMemoryTransport::Start(TransportHandlers handlers) {
  if (!handlers.on_message) {
    return absl::InvalidArgumentError("transport: Start needs an on_message handler");
  }
  std::lock_guard<std::mutex> lock(hub_->mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("transport: Start may be called once, before Stop");
  }
  handlers_ = std::move(handlers);
  state_ = State::kRunning;
  return absl::OkStatus();
}

void InMemoryTransport::Stop() {
  std::unique_lock<std::mutex> lock(hub_->mu_);
  state_ = State::kStopped;
  hub_->deliveries_done_.wait(lock, [&] { return in_flight_ == 0; });
}

absl::Status InMemoryTransport::AddPeer(NodeId id, std::string address) {
  if (id == raft::kNoNode || id == id_) {
    return absl::InvalidArgumentError(absl::StrCat("transport: AddPeer(", id, ") on node ", id_,
                                                   ": a peer needs a non-zero id other than "
                                                   "this node's"));
  }
  std::lock_guard<std::mutex> lock(hub_->mu_);
  peers_[id].address = std::move(address);
  return absl::OkStatus();
}

void InMemoryTransport::RemovePeer(NodeId id) {
  std::lock_guard<std::mutex> lock(hub_->mu_);
  peers_.erase(id);
  unreachable_reported_.erase(id);
}

void InMemoryTransport::Send(std::vector<raft::Message> msgs) {
  std::vector<Delivery> deliveries;
  std::vector<NodeId> newly_unreachable;
  {
    std::lock_guard<std::mutex> lock(hub_->mu_);
    if (state_ != State::kRunning) {
      counters_.dropped_not_running += msgs.size();
      return;
    }
    ++in_flight_;  // this node's own handlers may run below; Stop waits for them
    for (raft::Message& m : msgs) {
      auto peer = peers_.find(m.to);
      if (peer == peers_.end()) {
        ++counters_.dropped_unknown_peer;
        continue;
      }
      auto node = hub_->nodes_.find(m.to);
      InMemoryTransport* to = nullptr;
      if (node != hub_->nodes_.end() && node->second->state_ == State::kRunning &&
          hub_->LinkUpLocked(id_, m.to)) {
        to = node->second;
      }
      if (to != nullptr && hub_->drop_ && hub_->drop_(m)) {
        ++hub_->filtered_;
        continue;
      }
      PeerStats& stats = peer->second;
      if (to == nullptr) {
        ++stats.dropped_unreachable;
        stats.connected = false;
        if (unreachable_reported_.insert(m.to).second) {
          ++stats.unreachable_reports;
          newly_unreachable.push_back(m.to);
        }
      } else {
        ++stats.sent_messages;
        ++stats.sent_batches;
        stats.connected = true;
        unreachable_reported_.erase(m.to);
        ++to->in_flight_;
      }
      deliveries.push_back(Delivery{std::move(m), to});
    }
  }
  for (Delivery& d : deliveries) {
    const bool snap = d.message.type == raft::MessageType::kSnap;
    if (d.to == nullptr) {
      if (snap && handlers_.on_snapshot_status) handlers_.on_snapshot_status(d.message.to, true);
      continue;
    }
    // What a peer would receive: the message after encoding and decoding.
    raftpb::Message wire;
    raft::ToProto(d.message, &wire);
    absl::StatusOr<raft::Message> received = raft::FromProto(wire);
    RAFTKV_CHECK_MSG(received.ok(), received.status().ToString());
    const NodeId to_id = d.message.to;
    d.to->handlers_.on_message(std::move(*received));
    {
      std::lock_guard<std::mutex> lock(hub_->mu_);
      ++d.to->counters_.received_messages;
      ++d.to->counters_.received_batches;
      if (--d.to->in_flight_ == 0) hub_->deliveries_done_.notify_all();
    }
    if (snap && handlers_.on_snapshot_status) handlers_.on_snapshot_status(to_id, false);
  }
  if (handlers_.on_unreachable) {
    for (NodeId id : newly_unreachable) handlers_.on_unreachable(id);
  }
  std::lock_guard<std::mutex> lock(hub_->mu_);
  if (--in_flight_ == 0) hub_->deliveries_done_.notify_all();
}

TransportStats InMemoryTransport::Stats() const {
  std::lock_guard<std::mutex> lock(hub_->mu_);
  TransportStats stats = counters_;
  stats.peers = peers_;
  return stats;
}

}  // namespace raftkv::transport
