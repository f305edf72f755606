// TransportConfig: every limit of the peer transport, in one place, checked at
// start-up (Validate) before any thread starts.
//
// Invariants (enforced by Validate):
//   batch_bytes_max <= message_bytes_max <= INT32_MAX (gRPC takes an int), so a
//     batch of several messages always fits the gRPC message limit;
//   message_bytes_max <= peer_queue_bytes_max, so the largest message that can
//     be sent at all also fits a peer's queue;
//   0 < backoff_min_ms <= backoff_max_ms;
//   0 <= held_read_max_us <= 60 s.
// Both ends of a stream must agree on message_bytes_max: the sender refuses to
// send more, the receiver (ConfigureServerBuilder) refuses to receive more.
// Thread-safety: a plain value.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace raftkv::transport {

struct TransportConfig {
  // Identity. Both must be non-zero. Batches from another cluster are rejected.
  uint64_t cluster_id = 0;
  uint64_t node_id = 0;

  // Per-peer outbound queue. When either limit would be exceeded, Send drops
  // the newest message (Raft retransmits) and counts it.
  uint64_t peer_queue_messages_max = 4096;
  uint64_t peer_queue_bytes_max = 64ull << 20;

  // A sender packs queued messages into one MessageBatch up to this many
  // encoded bytes (a single larger message travels alone).
  uint64_t batch_bytes_max = 1ull << 20;

  // The gRPC max send/receive message size on both ends. A single message
  // (for now including a snapshot) larger than this minus a small batch
  // overhead cannot be sent: it is dropped, counted and, for a snapshot,
  // reported as failed.
  uint64_t message_bytes_max = 16ull << 20;

  // Reconnect backoff after a stream breaks or cannot be opened: starts at
  // backoff_min_ms, doubles on every failure, capped at backoff_max_ms, back
  // to the minimum after a successful write. Also given to gRPC's channel as
  // its own reconnect backoff, so the two agree.
  int64_t backoff_min_ms = 50;
  int64_t backoff_max_ms = 1000;

  // HTTP/2 keepalive on peer connections, so a peer that vanished without
  // closing its socket is detected (and a blocked write fails) within about
  // keepalive_time_ms + keepalive_timeout_ms.
  int64_t keepalive_time_ms = 10000;
  int64_t keepalive_timeout_ms = 5000;

  // How long a window update may be held back (grpc_transport.h, "Window
  // updates"): a stream's read after a batch of answers, or a peer's socket
  // corked after a request, before it is let go without a send to that
  // peer. 0: reads are never held and sockets never corked.
  int64_t held_read_max_us = 2000;

  // Returns InvalidArgument naming the offending field and the rule.
  absl::Status Validate() const;
};

// Bytes a MessageBatch adds around its messages: the header fields (three
// varints) and each message's tag and length. A message is sendable when its
// encoded size plus kBatchOverheadBytes <= message_bytes_max.
constexpr uint64_t kBatchOverheadBytes = 64;

}  // namespace raftkv::transport
