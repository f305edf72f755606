// GrpcTransport: the Transport over gRPC (proto/transport.proto), and
// RaftPeerService, its receiving half, registered on the node's gRPC server.
// Both run on gRPC's asynchronous API: every completion of the transport's
// calls, in and out, runs on one CompletionLoop thread (completion_loop.h),
// the same one that runs the node's client services, so that no gRPC thread
// hands the poller role to another (see completion_loop.h for why and what
// it saved).
//
// Sending: one PeerSender per peer, each with one bounded queue and one
// long-lived stream (RaftPeer.Exchange). Send queues (dropping the newest
// message when the queue is at its message or byte limit) and, unless a
// write is in flight, encodes what is queued (up to batch_bytes_max) into one
// MessageBatch and starts writing it, on the caller's thread, without
// blocking; the write's completion (on the loop) starts the next. No thread
// of ours sits between the node loop and the socket. When a write fails (the
// stream broke, could not be opened, or the peer ended it), the messages in
// flight and in the queue are dropped (Raft retransmits; stale heartbeats are
// worthless), the peer is reported unreachable, the stream's status is
// logged, and no stream is opened for backoff_min_ms doubling up to
// backoff_max_ms (a per-peer retry thread, asleep otherwise, reopens it when
// the time is up and messages wait). The stream always has a read posted
// (or held, below) for the answers that ride back, so a stream the peer ends
// or that breaks while idle is noticed at once.
//
// Receiving: each inbound stream is an InboundStream, requested from the
// server on the loop's queue; its reads complete on the loop and hand the
// decoded messages straight to on_message, with no thread of ours per
// stream. It refuses streams on a connection that came in on raftkv's client
// port (connection_listener.h) with PERMISSION_DENIED, rejects streams
// of another cluster or addressed to another node with FAILED_PRECONDITION
// (logged), drops and logs messages that fail to decode or validate, and
// passes the rest to on_message. It also writes the answers that ride back
// (below), one batch in flight at a time, from a bounded queue of its own
// (the peer queue's limits; answers past them are dropped and counted). Stop
// cancels every inbound stream and waits until each is done (its write
// included), so a grpc::Server::Shutdown that follows does not wait on
// long-lived streams.
//
// Answers ride back: a node writes its answers to a peer (the types of
// raft::IsResponseMessage) on the newest open inbound stream from that peer
// (the RaftPeer.Exchange stream the request came on), and sends them through
// its own PeerSender only when it has none. So a follower's acknowledgement
// goes back on the leader's connection, where the flow-control window update
// of the append it answers is waiting (see "Corked answers"): one segment, one
// wake-up of the leader, instead of two on two connections, and the leader's
// update for the answer leaves with its next append (see "Held reads"). At
// one client a write is 6 TCP segments instead of 10, and the servers' CPU
// per write fell 6% (README, Performance). The opener reads the answers on
// its stream (checked as an inbound batch is: a batch from another cluster or
// node ends the stream, logged, and the peer is reported unreachable) and
// delivers them to on_message like any other message. Answers and requests
// between two nodes may so overtake each other; Raft does not rely on their
// order (each direction keeps its own).
//
// Window updates: gRPC 1.51 answers every message a stream reads with a
// WINDOW_UPDATE frame sent at once, when the next read is posted. Two
// mechanisms send it along with the next message instead:
//   - Held reads (for answers): when a batch holds only answers (e.g. a
//     follower's acknowledgements, read on the leader's own stream to it)
//     and no more answers are awaited from that peer (requests sent to it,
//     counted by Send, minus answers received), the stream's next read is
//     held back: Send resumes it right after its next write to that peer
//     (the node loop's next append or heartbeat), so the update reaches the
//     peer with that message and wakes it once. At one client this saved
//     4-7% of the servers' CPU per write.
//   - Corked answers (for requests): a batch that holds a request (an
//     append, a heartbeat, a vote) is read on at once (holding it would take
//     the appends that arrive during a log sync one round at a time), but
//     when the connection came in through a peer-port ConnectionListener
//     (so its socket is known) that socket is corked (TCP_CORK) first, and
//     Send uncorks it right after its next write to that peer (the answer,
//     on that same connection): the update leaves with the answer, in one
//     segment.
// Either is let go by HeldReadsDriver, a Driver of the CompletionLoop, after
// config.held_read_max_us (2 ms) without a send to that peer, so an unasked
// message (a vote request) or an unanswered request delays an update at most
// that long. A held stream has no operation in flight: Stop resumes it so
// that it sees its cancellation; Stop also uncorks every corked socket. A
// corked socket carries gRPC's control frames and the answers written on its
// streams (which uncork it), and a descriptor gRPC closed meanwhile makes the
// uncork's setsockopt fail harmlessly.
//
// Wiring, by the owner of the grpc::Server:
//   ASSIGN_OR_RETURN(auto transport, GrpcTransport::Create(config));
//   grpc::ServerBuilder builder;
//   ConfigureServerBuilder(config, &builder);   // message size, keepalive
//   builder.RegisterService(transport->service());
//   CompletionLoop loop(builder.AddCompletionQueue(), "raft-loop");
//   builder.AddListeningPort(address, creds, &port);
//   auto server = builder.BuildAndStart();
//   transport->SetCompletionLoop(&loop);
//   RETURN_IF_ERROR(transport->Start(handlers));
//   loop.Start();
//   ...
//   transport->Stop(); server->Shutdown(); loop.Stop(); server.reset();
// The transport must outlive the server and the loop's Stop (the server
// holds its service, the loop its streams), and the loop must run while
// Stop waits for the streams.
//
// Thread-safety: all public methods of GrpcTransport may be called from any
// thread but the loop's (Stop and RemovePeer wait for it); see transport.h
// for the handler contract. Handlers are never called from inside Send,
// AddPeer or RemovePeer.
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
#include "src/transport/completion_loop.h"
#include "src/transport/config.h"
#include "src/transport/transport.h"

namespace raftkv::transport {

// Sets the options the peer server needs to match config: the maximum
// receive message size (message_bytes_max) and keepalive ping permissions.
// Note that they apply to every service registered on that builder.
void ConfigureServerBuilder(const TransportConfig& config, grpc::ServerBuilder* builder);

// The receiving half. Owned by GrpcTransport (see GrpcTransport::service()).
// Thread-safety: the streams run on the loop's thread; Start/Stop/AddStats
// on any thread but the loop's.
class RaftPeerService final {
 public:
  explicit RaftPeerService(const TransportConfig& config);
  ~RaftPeerService();

  // The gRPC service to register on the peer server's builder.
  grpc::Service* grpc_service() { return &async_; }

  // Arms the service's streams on loop's queue and starts accepting them;
  // *handlers must stay valid until Stop returns, *loop until the server is
  // shut down. Before Start and after Stop, streams are refused with
  // UNAVAILABLE.
  void Start(const TransportHandlers* handlers, CompletionLoop* loop);
  // Cancels every open inbound stream and waits until their handlers return
  // (the loop must be running).
  void Stop();

  // Adds the receive-side counters to *stats.
  void AddStats(TransportStats* stats) const;

  // Any thread. Records that msgs were queued for their peers (the requests
  // among them await answers).
  void NoteSent(const std::vector<raft::Message>& msgs);
  // Any thread. Queues answers (each to peer, in order) on the newest open
  // stream from peer and starts writing them unless a write is in flight
  // there; answers past the queue's limits are dropped (Raft retransmits).
  // False, with *answers untouched, when there is no such stream.
  bool SendAnswers(NodeId peer, std::vector<raft::Message>* answers);
  // Any thread. The caller has just started a write to peer: uncorks the
  // socket of the stream from peer, if corked, and resumes a held read of a
  // stream with peer, if any, so that their window updates leave right
  // behind it.
  void AfterWriteTo(NodeId peer);

  // A stream whose reads may be held (an inbound one, or a PeerSender's
  // stream reading the answers that ride back).
  class ReadingStream {
   public:
    // Posts the stream's next read. Called once by whoever takes the stream
    // out of the held reads.
    virtual void ResumeRead() = 0;

   protected:
    ~ReadingStream() = default;
  };
  // Loop's thread. Called by stream after it delivered batch, a batch from
  // peer, before it reads again: true if it must not read again now (it is
  // held, "Held reads" above; whoever takes it out calls ResumeRead); false
  // after corking cork_fd (>= 0: the connection's socket) when batch holds a
  // request ("Corked answers").
  bool HoldReadOrCork(ReadingStream* stream, NodeId peer, const MessageBatch& batch, int cork_fd);
  // Any thread. If stream's read is held, resumes it (so that a stream being
  // closed sees its end).
  void ResumeIfHeld(ReadingStream* stream, NodeId peer);
  class InboundStream;  // one inbound stream; grpc_transport.cc
  // Loop's thread. Checks one batch of a stream and delivers its valid
  // messages to handlers. *stream_from is the stream's sender (kNoNode
  // before an inbound stream's first batch); connection names the other end
  // in errors. With inbound (the stream the batch came on), its first valid
  // batch makes it the stream answers to its sender go back on, before any
  // of its messages is delivered. A non-OK status ends the stream with it.
  grpc::Status ServeBatch(const MessageBatch& batch, const std::string& connection,
                          const TransportHandlers& handlers, NodeId* stream_from,
                          InboundStream* inbound = nullptr);

 private:
  // Streams requested from the server at once (each waits for one).
  static constexpr int kArmedStreams = 2;

  // Called by a stream when it begins: registers it and returns the
  // handlers to deliver to (nullptr: refuse the stream, not running).
  const TransportHandlers* StreamStarted(InboundStream* stream);
  // Called by a stream after its first valid batch from peer: answers to
  // peer go on it from now on (until a newer stream from peer, or its end).
  void StreamAnswers(InboundStream* stream, NodeId peer);
  // Called by a stream that takes no more answers (it is ending).
  void StreamStopsAnswering(InboundStream* stream, NodeId peer);
  // Called by a stream when it is done (it deletes itself after).
  void StreamDone(InboundStream* stream);
  static void SetCork(int fd, bool on);

  // Held reads and corked sockets: let go by AfterWriteTo, or by
  // HeldReadsDriver's round once config_.held_read_max_us have passed.
  class HeldReadsDriver final : public CompletionLoop::Driver {
   public:
    explicit HeldReadsDriver(RaftPeerService* service) : service_(service) {}
    int64_t NextRoundAtUs() override;
    void RunRound() override;

   private:
    RaftPeerService* const service_;
  };
  struct HeldRead {
    ReadingStream* stream;
    int64_t since_us;
  };
  struct CorkedSocket {
    int fd;
    int64_t since_us;
  };

  // Checks one message of a batch from `from`; an error names what was wrong.
  absl::Status Validate(const raft::Message& m, NodeId from) const;

  const TransportConfig config_;
  RaftPeer::AsyncService async_;
  CompletionLoop* loop_ = nullptr;  // set by Start

  mutable std::mutex mu_;
  std::condition_variable streams_done_;         // signalled when streams_ becomes empty
  const TransportHandlers* handlers_ = nullptr;  // guarded by mu_; set by Start
  bool running_ = false;                         // guarded by mu_
  // Every inbound stream not yet done. Invariant: each pointer is valid while
  // it is in the set (a stream removes itself in StreamDone before deleting
  // itself).
  std::set<InboundStream*> streams_;  // guarded by mu_
  // Per peer, the stream its answers go back on (in streams_, and not yet
  // ending).
  std::map<NodeId, InboundStream*> answer_streams_;  // guarded by mu_
  // At most one held stream per peer; a held stream has no operation in
  // flight, and whoever removes it from here posts its read.
  std::map<NodeId, HeldRead> held_;    // guarded by mu_
  std::atomic<bool> any_held_{false};  // !held_.empty(), read without mu_
  // At most one corked socket per peer (the one its requests came on).
  std::map<NodeId, CorkedSocket> corked_;  // guarded by mu_
  std::atomic<bool> any_corked_{false};    // !corked_.empty(), read without mu_
  // Per peer: requests sent minus answers received, at least 0. An
  // estimate: a request lost on the way, or ignored, is never answered, so
  // a count that has not been zero for kAwaitedTrustUs while answers come
  // is reset (the worst a wrong zero costs is one held read, resumed by the
  // next send to that peer).
  struct Awaited {
    int64_t count = 0;
    int64_t zero_at_us = 0;  // when count was last zero
  };
  static constexpr int64_t kAwaitedTrustUs = 1'000'000;
  std::map<NodeId, Awaited> awaited_answers_;  // guarded by mu_
  HeldReadsDriver held_reads_driver_{this};
  bool driver_added_ = false;  // guarded by mu_; held_reads_driver_ is on loop_

  std::atomic<uint64_t> received_messages_{0};
  std::atomic<uint64_t> received_batches_{0};
  std::atomic<uint64_t> rejected_streams_{0};
  std::atomic<uint64_t> invalid_messages_{0};
  std::atomic<uint64_t> held_reads_{0};
  std::atomic<uint64_t> held_reads_timed_out_{0};
  std::atomic<uint64_t> corked_answers_{0};
  std::atomic<uint64_t> corked_answers_timed_out_{0};
  std::atomic<uint64_t> returned_answers_{0};
  std::atomic<uint64_t> returned_answers_dropped_{0};
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
  grpc::Service* service() { return service_.grpc_service(); }
  // The loop (made from the peer server's queue) that runs the inbound
  // streams and the outbound ones' completions. Required before Start.
  void SetCompletionLoop(CompletionLoop* loop) { loop_ = loop; }
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
  CompletionLoop* loop_ = nullptr;
  RaftPeerService service_;

  mutable std::mutex mu_;  // guards state_ and peers_; held while enqueueing
  State state_ = State::kNew;
  std::map<NodeId, std::unique_ptr<PeerSender>> peers_;
  std::vector<PeerSender*> touched_;  // Send's scratch: peers to Kick
  // Send's scratch: the answers of one Send, by peer, in order.
  std::vector<std::pair<NodeId, std::vector<raft::Message>>> answers_;
  std::vector<NodeId> answered_;  // Send's scratch: peers answered on their streams

  std::atomic<uint64_t> dropped_not_running_{0};
  std::atomic<uint64_t> dropped_unknown_peer_{0};
};

}  // namespace raftkv::transport
