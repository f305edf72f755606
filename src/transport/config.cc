#include "src/transport/config.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace raftkv::transport {

absl::Status TransportConfig::Validate() const {
  auto invalid = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("transport config: ", parts...));
  };
  if (cluster_id == 0) return invalid("cluster_id must be non-zero");
  if (node_id == 0) return invalid("node_id must be non-zero");
  if (peer_queue_messages_max == 0) return invalid("peer_queue_messages_max must be at least 1");
  if (message_bytes_max <= kBatchOverheadBytes) {
    return invalid("message_bytes_max (", message_bytes_max, ") must exceed ", kBatchOverheadBytes);
  }
  if (message_bytes_max > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return invalid("message_bytes_max (", message_bytes_max,
                   ") must fit gRPC's int limit (at most 2147483647)");
  }
  if (batch_bytes_max == 0 || batch_bytes_max > message_bytes_max) {
    return invalid("batch_bytes_max (", batch_bytes_max,
                   ") must be in [1, message_bytes_max = ", message_bytes_max, "]");
  }
  if (peer_queue_bytes_max < message_bytes_max) {
    return invalid("peer_queue_bytes_max (", peer_queue_bytes_max,
                   ") must be at least message_bytes_max (", message_bytes_max,
                   ") so that the largest sendable message fits the queue");
  }
  if (backoff_min_ms <= 0 || backoff_max_ms < backoff_min_ms) {
    return invalid("backoff must satisfy 0 < backoff_min_ms (", backoff_min_ms,
                   ") <= backoff_max_ms (", backoff_max_ms, ")");
  }
  if (keepalive_time_ms < 1000 || keepalive_timeout_ms < 100) {
    return invalid("keepalive_time_ms (", keepalive_time_ms, ") must be >= 1000 and ",
                   "keepalive_timeout_ms (", keepalive_timeout_ms, ") >= 100");
  }
  if (held_read_max_us < 0 || held_read_max_us > 60'000'000) {
    return invalid("held_read_max_us (", held_read_max_us, ") must be in [0, 60000000]");
  }
  return absl::OkStatus();
}

}  // namespace raftkv::transport
