#include "src/raft/quorum.h"

#include <algorithm>

namespace raftkv::raft {

Index CommittedIndex(const std::vector<NodeId>& voters,
                     const std::function<std::optional<Index>(NodeId)>& acked_index) {
  if (voters.empty()) return kNoLimit;  // joint-consensus convention: no constraint
  // Small, stack-friendly: clusters have a handful of voters.
  Index buf[16];
  std::vector<Index> heap;
  Index* idx = buf;
  if (voters.size() > 16) {
    heap.resize(voters.size());
    idx = heap.data();
  }
  for (size_t i = 0; i < voters.size(); ++i) idx[i] = acked_index(voters[i]).value_or(0);
  std::sort(idx, idx + voters.size());
  // Sorted ascending: the element at n - majority is the highest index that at
  // least a majority have reached.
  return idx[voters.size() - MajorityOf(voters.size())];
}

VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  size_t granted = 0, missing = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    }
  }
  size_t q = MajorityOf(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (granted + missing >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

}  // namespace raftkv::raft
