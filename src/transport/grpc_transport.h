// GrpcTransport: the Transport over gRPC (proto/transport.proto), and
// RaftPeerService, its receiving half, registered on the node's peer server.
//
// Sending: one PeerSender per peer, each with one bounded queue and one
// long-lived client stream (RaftPeer.Send) on gRPC's callback API. Send
// queues (dropping the newest message when the queue is at its message or
// byte limit) and, unless a write is in flight, encodes what is queued (up to
// batch_bytes_max) into one MessageBatch and starts writing it, on the
// caller's thread, without blocking; the write's completion starts the next.
// No thread of ours sits between the node loop and the socket. When a stream
// breaks or cannot be opened, the messages in flight and in the queue are
// dropped (Raft retransmits; stale heartbeats are worthless), the peer is
// reported unreachable, and no stream is opened for backoff_min_ms doubling
// up to backoff_max_ms (a per-peer retry thread, asleep otherwise, reopens it
// when the time is up and messages wait).
//
// Receiving: RaftPeerService is a callback (reactor) service: each inbound
// stream is an InboundStream whose read completions run on gRPC's callback
// threads (the pollers) and hand the decoded messages straight to on_message:
// no thread of ours per stream and one thread wake-up less per batch than
// gRPC's synchronous API (measured: about a third fewer context switches per
// write). It rejects streams of another cluster or addressed to another node
// with FAILED_PRECONDITION (logged), drops and logs messages that fail to
// decode or validate, and passes the rest to on_message. Stop cancels every
// inbound stream and waits until each is done, so a grpc::Server::Shutdown
// that follows does not wait on long-lived streams.
//
// Wiring, by the owner of the peer grpc::Server:
//   ASSIGN_OR_RETURN(auto transport, GrpcTransport::Create(config));
//   grpc::ServerBuilder builder;
//   ConfigureServerBuilder(config, &builder);   // message size, keepalive
//   builder.RegisterService(transport->service());
//   builder.AddListeningPort(address, creds, &port);
//   auto server = builder.BuildAndStart();
//   RETURN_IF_ERROR(transport->Start(handlers));
//   ...
//   transport->Stop(); server->Shutdown(); server.reset(); transport.reset();
// The transport must outlive the server (the server holds its service).
//
// Thread-safety: all public methods of GrpcTransport may be called from any
// thread; see transport.h for the handler contract. Handlers are never called
// from inside Send, AddPeer or RemovePeer.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/transport.grpc.pb.h"
#include "src/transport/config.h"
#include "src/transport/transport.h"

namespace raftkv::transport {

// Sets the options the peer server needs to match config: the maximum
// receive message size (message_bytes_max) and keepalive ping permissions.
// Note that they apply to every service registered on that builder.
void ConfigureServerBuilder(const TransportConfig& config, grpc::ServerBuilder* builder);

// The receiving half. Owned by GrpcTransport (see GrpcTransport::service()).
// Thread-safety: Send and the streams' callbacks run on gRPC threads;
// Start/Stop/AddStats on any thread but gRPC's callback threads.
class RaftPeerService final : public RaftPeer::CallbackService {
 public:
  explicit RaftPeerService(const TransportConfig& config);
  ~RaftPeerService() override;

  // Starts accepting streams; *handlers must stay valid until Stop returns.
  // Before Start and after Stop, streams are refused with UNAVAILABLE.
  void Start(const TransportHandlers* handlers);
  // Cancels every open inbound stream and waits until their handlers return.
  void Stop();

  grpc::ServerReadReactor<MessageBatch>* Send(grpc::CallbackServerContext* context,
                                              SendAck* ack) override;

  // Adds the receive-side counters to *stats.
  void AddStats(TransportStats* stats) const;

 private:
  class InboundStream;  // one inbound stream's reactor; grpc_transport.cc

  // Checks one batch of a stream and delivers its valid messages to
  // handlers. *stream_from is the stream's sender (kNoNode before its first
  // batch). A non-OK status ends the stream with it.
  grpc::Status ServeBatch(const MessageBatch& batch, const grpc::CallbackServerContext& context,
                          const TransportHandlers& handlers, NodeId* stream_from);
  // Called by a stream when it is done (it deletes itself after).
  void StreamDone(InboundStream* stream);
  // Checks one message of a batch from `from`; an error names what was wrong.
  absl::Status Validate(const raft::Message& m, NodeId from) const;

  const TransportConfig config_;

  mutable std::mutex mu_;
  std::condition_variable streams_done_;         // signalled when streams_ becomes empty
  const TransportHandlers* handlers_ = nullptr;  // guarded by mu_; set by Start
  bool running_ = false;                         // guarded by mu_
  // Every inbound stream not yet done. Invariant: each pointer is valid while
  // it is in the set (a stream removes itself in OnDone before deleting
  // itself).
  std::set<InboundStream*> streams_;  // guarded by mu_

  std::atomic<uint64_t> received_messages_{0};
  std::atomic<uint64_t> received_batches_{0};
  std::atomic<uint64_t> rejected_streams_{0};
  std::atomic<uint64_t> invalid_messages_{0};
};

class PeerSender;  // one peer's queue, thread and stream; grpc_transport.cc

class GrpcTransport final : public Transport {
 public:
  // InvalidArgument if config does not validate.
  static absl::StatusOr<std::unique_ptr<GrpcTransport>> Create(const TransportConfig& config);
  ~GrpcTransport() override;  // calls Stop

  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  // The service to register on the peer grpc::Server.
  RaftPeerService* service() { return &service_; }
  const TransportConfig& config() const { return config_; }

  absl::Status Start(TransportHandlers handlers) override;
  void Stop() override;
  absl::Status AddPeer(NodeId id, std::string address) override;
  void RemovePeer(NodeId id) override;
  void Send(std::vector<raft::Message> msgs) override;
  TransportStats Stats() const override;

 private:
  explicit GrpcTransport(const TransportConfig& config);

  enum class State { kNew, kRunning, kStopped };

  const TransportConfig config_;
  TransportHandlers handlers_;  // set by Start before any thread reads it; then immutable
  RaftPeerService service_;

  mutable std::mutex mu_;  // guards state_ and peers_; held while enqueueing
  State state_ = State::kNew;
  std::map<NodeId, std::unique_ptr<PeerSender>> peers_;
  std::vector<PeerSender*> touched_;  // Send's scratch: peers to Kick

  std::atomic<uint64_t> dropped_not_running_{0};
  std::atomic<uint64_t> dropped_unknown_peer_{0};
};

}  // namespace raftkv::transport
