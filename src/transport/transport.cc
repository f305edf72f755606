#include "src/transport/transport.h"

namespace raftkv::transport {

uint64_t EstimatedBytes(const raft::Message& m) {
  // 64 covers the scalar fields and framing; each entry's ByteSize includes
  // its own header allowance; a snapshot's membership costs ~10 bytes a node.
  uint64_t bytes = 64 + m.context.size();
  for (const raft::Entry& e : m.entries) bytes += e.ByteSize();
  if (m.type == raft::MessageType::kSnap) {
    bytes += 32 + m.snapshot.data.size() +
             10 * (m.snapshot.metadata.conf_state.voters.size() +
                   m.snapshot.metadata.conf_state.learners.size());
  }
  return bytes;
}

}  // namespace raftkv::transport
