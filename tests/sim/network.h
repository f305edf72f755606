// SimNetwork: the simulator's message network. Messages in flight wait in a
// queue ordered by (delivery time, send sequence); a message's delivery time is
// its send time plus a random delay, so random delays reorder messages. The
// network may also drop a message when it is sent, duplicate it (the copy gets
// its own delay), or block it at delivery time because of a partition.
//
// Time is an abstract counter owned by the simulator (it advances by one per
// node tick). Partitions are a matrix of blocked (from, to) links, so they may
// be asymmetric.
//
// Invariant: every message is delivered at most once per copy, never before its
// delivery time. Thread-safety: none; owned by one simulator.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "src/common/rng.h"
#include "src/raft/types.h"

namespace raftkv::sim {

struct NetworkFaults {
  double drop = 0;         // probability a sent message is lost
  double duplicate = 0;    // probability a sent message is delivered twice
  uint64_t max_delay = 0;  // delays are uniform in [0, max_delay] time units
  double reorder = 0;      // probability a delivery takes a random due message
};

class SimNetwork {
 public:
  explicit SimNetwork(Rng* rng) : rng_(rng) {}

  void set_faults(const NetworkFaults& f) { faults_ = f; }
  const NetworkFaults& faults() const { return faults_; }

  // Queues m at time now (unless dropped). Returns the copies queued (0-2).
  int Send(raft::Message m, uint64_t now);

  // True when some message's delivery time is <= now.
  bool HasDue(uint64_t now) const;
  // Removes and returns a due message (the earliest, or with probability
  // faults.reorder one of the first few due ones). Requires HasDue(now).
  // *lost is set for a snapshot the network lost: snapshots are never dropped
  // silently, their loss surfaces at delivery time so the sender's transport
  // can report it (RawNode::ReportSnapshot), as a real one would.
  raft::Message PopDue(uint64_t now, bool* lost);

  // Blocks messages from -> to (checked at delivery).
  void Block(raft::NodeId from, raft::NodeId to) { blocked_.insert({from, to}); }
  bool Blocked(raft::NodeId from, raft::NodeId to) const { return blocked_.count({from, to}) > 0; }
  // Cuts every link to and from id; Rejoin(id) restores them.
  void Isolate(raft::NodeId id, const std::vector<raft::NodeId>& peers) {
    for (raft::NodeId p : peers) {
      if (p == id) continue;
      Block(id, p);
      Block(p, id);
    }
  }
  void Rejoin(raft::NodeId id) {
    for (auto it = blocked_.begin(); it != blocked_.end();) {
      it = it->first == id || it->second == id ? blocked_.erase(it) : std::next(it);
    }
  }
  bool Partitioned() const { return !blocked_.empty(); }
  void HealPartitions() { blocked_.clear(); }

  size_t InFlight() const { return queue_.size(); }

 private:
  Rng* rng_;  // not owned
  NetworkFaults faults_;
  uint64_t seq_ = 0;
  struct Queued {
    raft::Message msg;
    bool lost = false;
  };
  // (delivery time, sequence) -> message.
  std::map<std::pair<uint64_t, uint64_t>, Queued> queue_;
  std::set<std::pair<raft::NodeId, raft::NodeId>> blocked_;
};

}  // namespace raftkv::sim
