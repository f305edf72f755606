// Transport: how a node's Raft messages reach its peers, and theirs reach it.
//
// The node loop hands every outgoing message of a Ready to Send, which routes
// it by m.to and returns at once: a slow or dead peer never blocks the caller.
// Delivery is best effort, at most once, and in order per peer among
// requests and among answers (raft::IsResponseMessage), but an answer and a
// request to the same peer may overtake each other (GrpcTransport sends
// answers back on the stream the peer opened; Raft, built for networks that
// reorder, does not rely on that order). Messages may be dropped (full
// queue, broken connection, unknown peer) and Raft retransmits.
// Every drop is counted in TransportStats, and a peer whose messages were lost
// is reported through TransportHandlers::on_unreachable so the node can call
// RawNode::ReportUnreachable; a MsgSnap's fate is reported through
// on_snapshot_status so the node can call RawNode::ReportSnapshot.
//
// Inbound messages are decoded, validated (addressed to this node, sent by the
// peer named in the batch, not a local message type such as kHup) and passed
// to TransportHandlers::on_message, which should push them onto the node
// loop's bounded inbound queue.
//
// Lifecycle: construct, AddPeer (any time), Start(handlers) once, Send, Stop
// once (idempotent; no restart). After Stop returns no handler runs again.
//
// Thread-safety: every method may be called from any thread. Handlers are
// called from transport-owned threads (and, for InMemoryTransport, from the
// thread that called another node's Send); they must be thread-safe, must not
// block, and must not call the transport's Stop or RemovePeer (which wait for
// handlers and open streams). GrpcTransport calls them on its
// CompletionLoop's thread, never from inside Send, AddPeer or RemovePeer.
// Pushing onto the node loop's queue is the intended use.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/raft/types.h"

namespace raftkv::transport {

using NodeId = raft::NodeId;

struct TransportHandlers {
  // Required. A validated message from a peer: m.to is this node.
  std::function<void(raft::Message)> on_message;
  // Optional. Messages to `peer` were lost because it could not be reached (a
  // stream broke or could not be opened, or its queue overflowed). Called at
  // most once between two successful deliveries to that peer, so an outage
  // produces one report, not one per message. GrpcTransport makes reports
  // when a write of the peer's stream completes or fails, so while a stream
  // to a hung peer is stuck opening, a report waits for the attempt to time
  // out (about max(1 s, backoff_max_ms)); a write blocked on a hung peer ends
  // with the keepalive timeout.
  std::function<void(NodeId peer)> on_unreachable;
  // Optional. A MsgSnap to `peer` was handed to the connection (failed =
  // false) or lost (failed = true).
  std::function<void(NodeId peer, bool failed)> on_snapshot_status;
};

// Counters for one peer. Monotonic except the queue and connection fields.
struct PeerStats {
  std::string address;
  bool connected = false;        // a stream is open (its last write succeeded)
  uint64_t queued_messages = 0;  // waiting in the outbound queue now
  uint64_t queued_bytes = 0;     // their estimated size
  uint64_t sent_messages = 0;    // written to a stream
  uint64_t sent_batches = 0;
  uint64_t dropped_queue_full = 0;   // refused by Send: queue at its limit
  uint64_t dropped_too_large = 0;    // larger than message_bytes_max allows
  uint64_t dropped_unreachable = 0;  // lost with a broken stream or a failed connect
  uint64_t stream_failures = 0;      // streams that broke or could not be opened
  uint64_t unreachable_reports = 0;  // on_unreachable calls
  std::string last_error;            // the last stream failure, for operators
};

struct TransportStats {
  uint64_t dropped_not_running = 0;   // Send before Start or after Stop
  uint64_t dropped_unknown_peer = 0;  // m.to not added with AddPeer
  uint64_t received_messages = 0;     // delivered to on_message
  uint64_t received_batches = 0;
  uint64_t rejected_streams = 0;          // wrong cluster id or node id
  uint64_t invalid_messages = 0;          // failed to decode or validate; dropped
  uint64_t held_reads = 0;                // reads of a stream held back after an answer
  uint64_t held_reads_timed_out = 0;      // of those, resumed by the time bound
  uint64_t corked_answers = 0;            // a peer's socket corked from a request to its answer
  uint64_t corked_answers_timed_out = 0;  // of those, uncorked by the time bound
  uint64_t returned_answers = 0;          // answers queued on the stream from their peer
  uint64_t returned_answers_dropped = 0;  // of those, lost: queue full or stream broke
  std::map<NodeId, PeerStats> peers;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Starts delivering. handlers.on_message is required. FailedPrecondition if
  // already started or stopped.
  virtual absl::Status Start(TransportHandlers handlers) = 0;

  // Stops every sender and inbound stream and waits for handlers in progress
  // to return. Idempotent. Must not be called from a handler.
  virtual void Stop() = 0;

  // Adds a peer, or changes the address of a known one (its connection is then
  // re-opened). InvalidArgument for id 0, this node's own id, or an empty
  // address.
  virtual absl::Status AddPeer(NodeId id, std::string address) = 0;

  // Forgets a peer; its queued messages are dropped. No-op if unknown.
  virtual void RemovePeer(NodeId id) = 0;

  // Queues each message for the peer m.to and returns without waiting for the
  // network. Messages to unknown peers, or sent before Start / after Stop, are
  // dropped and counted.
  virtual void Send(std::vector<raft::Message> msgs) = 0;

  virtual TransportStats Stats() const = 0;
};

// The size a message is counted as against queue and batch byte limits: its
// payloads plus a fixed allowance for headers. Close to, not exactly, its
// encoded size.
uint64_t EstimatedBytes(const raft::Message& m);

}  // namespace raftkv::transport
