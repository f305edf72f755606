// Quorum arithmetic as pure functions over a set of voters: the commit index a
// majority has reached, and the outcome of an election.
//
// Invariant: a majority of n voters is n/2 + 1; an empty voter set commits
// nothing and wins every vote (a node with no configuration cannot lead).
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "src/raft/types.h"

namespace raftkv::raft {

enum class VoteResult : uint8_t { kPending, kLost, kWon };

// The largest index that a majority of voters have (acked_index(id) gives each
// voter's durable match index, nullopt if unknown).
Index CommittedIndex(const std::vector<NodeId>& voters,
                     const std::function<std::optional<Index>(NodeId)>& acked_index);

// votes: voter id -> granted? (missing = not yet answered).
VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

// The size of a majority of n voters.
inline size_t MajorityOf(size_t n) { return n / 2 + 1; }

}  // namespace raftkv::raft
