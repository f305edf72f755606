#include "tests/sim/network.h"

#include <iterator>

namespace raftkv::sim {

int SimNetwork::Send(raft::Message m, uint64_t now) {
  bool lost = rng_->Chance(faults_.drop);
  if (lost && m.type != raft::MessageType::kSnap) return 0;
  int copies = !lost && rng_->Chance(faults_.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = faults_.max_delay == 0 ? 0 : rng_->Uniform(faults_.max_delay + 1);
    if (i + 1 < copies) {
      queue_.emplace(std::make_pair(now + delay, seq_++), Queued{m, lost});
    } else {
      queue_.emplace(std::make_pair(now + delay, seq_++), Queued{std::move(m), lost});
    }
  }
  return lost ? 0 : copies;
}

bool SimNetwork::HasDue(uint64_t now) const {
  return !queue_.empty() && queue_.begin()->first.first <= now;
}

raft::Message SimNetwork::PopDue(uint64_t now, bool* lost) {
  auto it = queue_.begin();
  if (rng_->Chance(faults_.reorder)) {
    // Pick one of the first (up to) 8 due messages.
    size_t due = 0;
    for (auto j = queue_.begin(); j != queue_.end() && due < 8 && j->first.first <= now; ++j) {
      ++due;
    }
    std::advance(it, rng_->Uniform(due));
  }
  raft::Message m = std::move(it->second.msg);
  *lost = it->second.lost;
  queue_.erase(it);
  return m;
}

}  // namespace raftkv::sim
