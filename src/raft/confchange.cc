#include "src/raft/confchange.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace raftkv::raft {

namespace {
void Erase(std::vector<NodeId>* v, NodeId id) {
  v->erase(std::remove(v->begin(), v->end(), id), v->end());
}
void Insert(std::vector<NodeId>* v, NodeId id) {
  auto it = std::lower_bound(v->begin(), v->end(), id);
  if (it == v->end() || *it != id) v->insert(it, id);
}
}  // namespace

absl::StatusOr<ConfState> ApplySimpleChange(const ConfState& cs, const ConfChange& cc) {
  if (cc.node_id == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  ConfState out = cs;
  std::sort(out.voters.begin(), out.voters.end());
  std::sort(out.learners.begin(), out.learners.end());
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      Erase(&out.learners, cc.node_id);
      Insert(&out.voters, cc.node_id);
      break;
    case ConfChangeType::kAddLearnerNode:
      Erase(&out.voters, cc.node_id);
      Insert(&out.learners, cc.node_id);
      break;
    case ConfChangeType::kRemoveNode:
      Erase(&out.voters, cc.node_id);
      Erase(&out.learners, cc.node_id);
      break;
  }
  if (out.voters.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("removing node ", cc.node_id, " would leave the group with no voters"));
  }
  return out;
}

}  // namespace raftkv::raft
