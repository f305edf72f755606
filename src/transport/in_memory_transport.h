// InMemoryTransport and InMemoryHub: the Transport for tests that run several
// nodes in one process, with network faults on demand.
//
// A hub connects any number of InMemoryTransports by node id (the addresses
// given to AddPeer are ignored; a peer must still be added to be reachable).
// Send delivers synchronously: each message is round-tripped through the
// proto codec (so it arrives as a peer would see it) and passed to the
// destination's on_message on the calling thread. A message is instead
//   - dropped and reported like a broken connection (on_unreachable, a failed
//     snapshot status, dropped_unreachable) when the destination is not
//     running or the two nodes are cut apart (Cut, Isolate);
//   - dropped silently, as by a lossy network, when the drop filter says so.
// Nothing is queued, so there are no queue limits and no reconnects.
//
// Thread-safety: every method of both classes may be called from any thread.
// Handlers run on the thread that called Send (the sender's own handlers for
// unreachable and snapshot reports, the destination's for messages), with no
// hub lock held, so a handler may call Send; like GrpcTransport's, they must
// not block. Stop waits for deliveries in progress to the stopping node. The
// hub must outlive its transports.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "src/transport/transport.h"

namespace raftkv::transport {

class InMemoryTransport;

class InMemoryHub {
 public:
  InMemoryHub() = default;
  InMemoryHub(const InMemoryHub&) = delete;
  InMemoryHub& operator=(const InMemoryHub&) = delete;

  // Cuts (or heals) the link between a and b, in both directions.
  void Cut(NodeId a, NodeId b);
  void Heal(NodeId a, NodeId b);
  // Cuts (or heals) id from every other node, present and future.
  void Isolate(NodeId id);
  void Rejoin(NodeId id);
  // Removes every cut, isolation and the drop filter.
  void HealAll();
  // Messages for which drop returns true vanish silently. Called with the hub
  // lock held: it must not call into the hub or a transport. Empty = none.
  void SetDropFilter(std::function<bool(const raft::Message&)> drop);
  // Messages removed by the drop filter so far.
  uint64_t filtered() const;

 private:
  friend class InMemoryTransport;

  bool LinkUpLocked(NodeId a, NodeId b) const;

  mutable std::mutex mu_;                    // guards everything below and every transport's state
  std::condition_variable deliveries_done_;  // signalled when an in_flight_ count drops
  std::map<NodeId, InMemoryTransport*> nodes_;
  std::set<std::pair<NodeId, NodeId>> cuts_;  // Invariant: first < second
  std::set<NodeId> isolated_;
  std::function<bool(const raft::Message&)> drop_;
  uint64_t filtered_ = 0;
};

class InMemoryTransport final : public Transport {
 public:
  // Registers as node id on the hub. Crashes if the id is 0 or taken.
  InMemoryTransport(InMemoryHub* hub, NodeId id);
  ~InMemoryTransport() override;  // Stop, then unregister

  InMemoryTransport(const InMemoryTransport&) = delete;
  InMemoryTransport& operator=(const InMemoryTransport&) = delete;

  absl::Status Start(TransportHandlers handlers) override;
  void Stop() override;
  absl::Status AddPeer(NodeId id, std::string address) override;
  void RemovePeer(NodeId id) override;
  void Send(std::vector<raft::Message> msgs) override;
  TransportStats Stats() const override;

 private:
  enum class State { kNew, kRunning, kStopped };

  // One message's fate, decided under the hub lock, acted on without it.
  struct Delivery {
    raft::Message message;
    InMemoryTransport* to = nullptr;  // null: lost (report unreachable)
  };

  InMemoryHub* const hub_;
  const NodeId id_;
  TransportHandlers handlers_;  // set by Start; then immutable

  // Guarded by hub_->mu_.
  State state_ = State::kNew;
  // Calls of this node's handlers in progress outside the lock (deliveries to
  // it, and its own Sends' reports). Stop waits for zero.
  int in_flight_ = 0;
  std::map<NodeId, PeerStats> peers_;
  std::set<NodeId> unreachable_reported_;  // peers reported since their last delivery
  TransportStats counters_;                // everything but peers
};

}  // namespace raftkv::transport
