// ReadOnly: the leader's queue of ReadIndex requests waiting for a heartbeat
// round to confirm that it is still the leader (the Raft dissertation, 6.4).
//
// Many requests share one round: requests that arrive between two Readies are
// queued, and one heartbeat round, carrying the context of the newest of them,
// is sent when the next Ready is built: to the voters that complete a quorum
// with the leader, those heard from most recently (Raft::FlushReadIndexRound;
// every regular heartbeat, and Raft::ResendReadIndexRound, carry the newest
// pending context to every follower). When a quorum acknowledges a context,
// that request and every request queued before it are answered with the
// commit index recorded when each arrived.
// Invariants: queue_ and pending_ hold the same contexts; queue_ is in arrival
// order; every recorded index is <= the leader's commit index.
// Thread-safety: none; owned by Raft.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/raft/types.h"

namespace raftkv::raft {

struct ReadIndexStatus {
  Message req;
  Index index = 0;
  std::set<NodeId> acks;
};

class ReadOnly {
 public:
  // Queues a request (req.context is its key) read at commit index `index`.
  // A duplicate context is ignored.
  void AddRequest(Index index, Message req, NodeId self);
  // Records that `from` acknowledged a round with `ctx`; returns the set of
  // acknowledgers so far (nullptr if ctx is not pending).
  const std::set<NodeId>* RecvAck(NodeId from, const std::string& ctx);
  // Dequeues and returns every request up to and including ctx.
  std::vector<ReadIndexStatus> Advance(const std::string& ctx);
  // The context of the newest queued request ("" if none).
  std::string LastPendingRequestCtx() const;
  size_t PendingCount() const { return queue_.size(); }

 private:
  std::map<std::string, ReadIndexStatus> pending_;
  std::deque<std::string> queue_;
};

}  // namespace raftkv::raft
