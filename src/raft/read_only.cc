#include "src/raft/read_only.h"

namespace raftkv::raft {

void ReadOnly::AddRequest(Index index, Message req, NodeId self) {
  std::string ctx = req.context;
  if (pending_.count(ctx) != 0) return;
  ReadIndexStatus st;
  st.req = std::move(req);
  st.index = index;
  st.acks.insert(self);
  pending_.emplace(ctx, std::move(st));
  queue_.push_back(std::move(ctx));
}

const std::set<NodeId>* ReadOnly::RecvAck(NodeId from, const std::string& ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(from);
  return &it->second.acks;
}

std::vector<ReadIndexStatus> ReadOnly::Advance(const std::string& ctx) {
  std::vector<ReadIndexStatus> out;
  if (pending_.count(ctx) == 0) return out;
  while (!queue_.empty()) {
    std::string head = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(head);
    out.push_back(std::move(it->second));
    pending_.erase(it);
    if (head == ctx) break;
  }
  return out;
}

std::string ReadOnly::LastPendingRequestCtx() const {
  return queue_.empty() ? std::string() : queue_.back();
}

}  // namespace raftkv::raft
