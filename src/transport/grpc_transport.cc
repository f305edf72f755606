#include "src/transport/grpc_transport.h"

#include <google/protobuf/io/coded_stream.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/raft/codec.h"

namespace raftkv::transport {
namespace {

// The one place where gRPC statuses become abseil ones (the codes map 1:1).
absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

grpc::ChannelArguments ChannelArgs(const TransportConfig& config) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(config.message_bytes_max));
  args.SetMaxReceiveMessageSize(static_cast<int>(config.message_bytes_max));
  // gRPC's own reconnect backoff follows ours, so that a stream opened after
  // our backoff does not fail fast on a channel still waiting out its own
  // (default: 1 s growing to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(config.backoff_min_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(config.backoff_max_ms));
  // The minimum connect timeout (default 20 s): a peer that accepts TCP but
  // never speaks HTTP/2 is given up on after this long.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::max<int64_t>(1000, config.backoff_max_ms)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(config.keepalive_time_ms));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(config.keepalive_timeout_ms));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each transport gets its own connections, even to an address another
  // transport in this process (a test) also uses.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return args;
}

// Bytes a message adds to a batch: its field tag, length and body.
uint64_t BatchFieldBytes(uint64_t message_bytes) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(message_bytes) + message_bytes;
}

}  // namespace

void ConfigureServerBuilder(const TransportConfig& config, grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(static_cast<int>(config.message_bytes_max));
  builder->SetMaxSendMessageSize(static_cast<int>(config.message_bytes_max));
  // Accept the senders' keepalive pings (the default policy allows one every
  // five minutes and answers more with GOAWAY, which would break streams).
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              static_cast<int>(config.keepalive_time_ms / 2));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
}

// ---------------------------------------------------------------------------
// RaftPeerService

RaftPeerService::RaftPeerService(const TransportConfig& config) : config_(config) {}

RaftPeerService::~RaftPeerService() { Stop(); }

// One inbound stream: reads batch after batch, each completion on a gRPC
// callback thread, until the sender closes it, it is cancelled (Stop, or the
// connection broke) or a batch must be rejected. Reads are one at a time, so
// messages reach on_message in the order they were sent.
class RaftPeerService::InboundStream final : public grpc::ServerReadReactor<MessageBatch> {
 public:
  InboundStream(RaftPeerService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {}

  // Starts reading, or refuses the stream (handlers == nullptr: the service
  // is not running).
  void Begin(const TransportHandlers* handlers) {
    handlers_ = handlers;
    if (handlers_ == nullptr) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("the transport of node ", service_->config_.node_id,
                                       " is not running; retry later")));
      return;
    }
    StartRead(&batch_);
  }
  void Cancel() { context_->TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the sender closed the stream, or it was cancelled
      Finish(grpc::Status::OK);
      return;
    }
    grpc::Status status = service_->ServeBatch(batch_, *context_, *handlers_, &stream_from_);
    if (!status.ok()) {
      Finish(status);
      return;
    }
    StartRead(&batch_);
  }

  void OnDone() override {
    service_->StreamDone(this);
    delete this;
  }

 private:
  RaftPeerService* const service_;
  grpc::CallbackServerContext* const context_;
  const TransportHandlers* handlers_ = nullptr;  // nullptr: refused
  NodeId stream_from_ = raft::kNoNode;
  MessageBatch batch_;
};

void RaftPeerService::Start(const TransportHandlers* handlers) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_ = handlers;
  running_ = true;
}

void RaftPeerService::Stop() {
  std::unique_lock<std::mutex> lock(mu_);
  running_ = false;
  for (InboundStream* stream : streams_) stream->Cancel();
  streams_done_.wait(lock, [&] { return streams_.empty(); });
}

grpc::ServerReadReactor<MessageBatch>* RaftPeerService::Send(grpc::CallbackServerContext* context,
                                                             SendAck* /*ack*/) {
  auto* stream = new InboundStream(this, context);
  const TransportHandlers* handlers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(stream);
    // handlers_ is set before running_ and stays valid until Stop returns,
    // which waits for this stream.
    handlers = running_ ? handlers_ : nullptr;
  }
  stream->Begin(handlers);
  return stream;
}

void RaftPeerService::StreamDone(InboundStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
  if (streams_.empty()) streams_done_.notify_all();
}

grpc::Status RaftPeerService::ServeBatch(const MessageBatch& batch,
                                         const grpc::CallbackServerContext& context,
                                         const TransportHandlers& handlers, NodeId* stream_from) {
  if (batch.cluster_id() != config_.cluster_id) {
    std::string msg =
        absl::StrCat("cluster id mismatch: node ", config_.node_id, " belongs to cluster ",
                     config_.cluster_id, " but peer ", batch.from(), " (", context.peer(),
                     ") sent cluster ", batch.cluster_id(), "; check both nodes' cluster id");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }
  if (batch.to() != config_.node_id) {
    std::string msg = absl::StrCat("node id mismatch: peer ", batch.from(), " (", context.peer(),
                                   ") addressed node ", batch.to(), " but this is node ",
                                   config_.node_id, "; check that peer's address list");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }
  if (batch.from() == raft::kNoNode || batch.from() == config_.node_id ||
      (*stream_from != raft::kNoNode && batch.from() != *stream_from)) {
    std::string msg = absl::StrCat("invalid sender id ", batch.from(), " from ", context.peer(),
                                   " (stream began as node ", *stream_from, ", this is node ",
                                   config_.node_id, ")");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
  }
  *stream_from = batch.from();
  received_batches_.fetch_add(1, std::memory_order_relaxed);
  for (const raftpb::Message& pm : batch.messages()) {
    absl::StatusOr<raft::Message> m = raft::FromProto(pm);
    absl::Status valid = m.ok() ? Validate(*m, *stream_from) : m.status();
    if (!valid.ok()) {
      spdlog::warn("transport: dropping a message from node {} ({}): {}", *stream_from,
                   context.peer(), valid.ToString());
      invalid_messages_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    received_messages_.fetch_add(1, std::memory_order_relaxed);
    handlers.on_message(std::move(*m));
  }
  return grpc::Status::OK;
}

absl::Status RaftPeerService::Validate(const raft::Message& m, NodeId from) const {
  if (raft::IsLocalMessage(m.type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("local message type ", raft::MessageTypeName(m.type), " sent over the wire"));
  }
  if (m.to != config_.node_id || m.from != from) {
    return absl::InvalidArgumentError(
        absl::StrCat("message ", m.from, "->", m.to, " in a batch ", from, "->", config_.node_id));
  }
  return absl::OkStatus();
}

void RaftPeerService::AddStats(TransportStats* stats) const {
  stats->received_messages += received_messages_.load(std::memory_order_relaxed);
  stats->received_batches += received_batches_.load(std::memory_order_relaxed);
  stats->rejected_streams += rejected_streams_.load(std::memory_order_relaxed);
  stats->invalid_messages += invalid_messages_.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// PeerSender: one peer's bounded queue, sender thread and stream.
//
// Invariants: queued_bytes_ is the sum of EstimatedBytes over queue_;
// queue_.size() <= peer_queue_messages_max and queued_bytes_ <=
// peer_queue_bytes_max. Only the sender thread opens, writes and closes the
// stream; other threads may only cancel it (ctx_->TryCancel under mu_), which
// makes every blocking stream call return promptly.
class PeerSender {
 public:
  PeerSender(const TransportConfig& config, NodeId peer, std::string address)
      : config_(config), peer_(peer), address_(std::move(address)) {}
  ~PeerSender() { Stop(); }

  PeerSender(const PeerSender&) = delete;
  PeerSender& operator=(const PeerSender&) = delete;

  // Starts the sender thread; *handlers must outlive Stop.
  void Start(const TransportHandlers* handlers) {
    handlers_ = handlers;
    thread_ = std::thread([this] { Run(); });
  }

  // Any thread. Never blocks beyond mu_.
  void Enqueue(raft::Message m);
  // Any thread. The open stream, if any, is cancelled and re-opened.
  void SetAddress(std::string address);
  // Any thread but the sender's. Cancels the stream and joins the thread.
  void Stop();
  PeerStats Stats() const;

 private:
  // Reports collected under mu_ and made by the sender thread without it.
  struct Reports {
    bool unreachable = false;
    uint64_t snapshot_failures = 0;
    uint64_t snapshot_successes = 0;
  };

  void Run();
  // Waits for messages or reports; false when stopping. Takes up to
  // batch_bytes_max (estimated) of queued messages into *out.
  bool WaitForWork(std::vector<raft::Message>* out, Reports* reports);
  // Encodes and writes msgs, opening the stream if needed. On error, *lost
  // holds the messages that were not written.
  absl::Status Deliver(const std::vector<raft::Message>& msgs,
                       std::vector<const raft::Message*>* lost, Reports* reports);
  absl::Status Write(const MessageBatch& batch);
  absl::Status OpenStream();
  // Ends the stream; returns its final status.
  absl::Status CloseStream();
  // After a failed delivery: drops the queue, counts, schedules reports.
  void OnFailure(const absl::Status& status, const std::vector<const raft::Message*>& lost,
                 Reports* reports);
  void MakeReports(const Reports& reports);
  // Waits backoff_ms_ (or until stopping), then doubles it up to the cap.
  void Backoff();
  // Marks the peer unreachable unless already reported in this outage.
  void NoteUnreachableLocked(Reports* reports);

  const TransportConfig& config_;
  const NodeId peer_;
  const TransportHandlers* handlers_ = nullptr;  // set by Start
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;                // signalled on enqueue, report, stop, address change
  std::string address_;                       // guarded by mu_
  bool address_changed_ = false;              // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::deque<raft::Message> queue_;           // guarded by mu_
  uint64_t queued_bytes_ = 0;                 // guarded by mu_
  Reports pending_;                           // guarded by mu_; made by the sender thread
  bool unreachable_reported_ = false;         // guarded by mu_; reset by a delivery
  std::unique_ptr<grpc::ClientContext> ctx_;  // guarded by mu_; replaced by the sender only
  PeerStats stats_;                           // guarded by mu_

  // Sender thread only.
  std::shared_ptr<grpc::Channel> channel_;  // gRPC hands channels out as shared_ptr
  std::unique_ptr<RaftPeer::Stub> stub_;
  std::unique_ptr<grpc::ClientWriter<MessageBatch>> writer_;
  SendAck ack_;
  int64_t backoff_ms_ = 0;
};

void PeerSender::Enqueue(raft::Message m) {
  const uint64_t bytes = EstimatedBytes(m);
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= config_.peer_queue_messages_max ||
      queued_bytes_ + bytes > config_.peer_queue_bytes_max) {
    ++stats_.dropped_queue_full;
    if (m.type == raft::MessageType::kSnap) ++pending_.snapshot_failures;
    NoteUnreachableLocked(&pending_);
    cv_.notify_one();
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(m));
  cv_.notify_one();
}

void PeerSender::SetAddress(std::string address) {
  std::lock_guard<std::mutex> lock(mu_);
  if (address == address_) return;
  address_ = std::move(address);
  address_changed_ = true;
  if (ctx_) ctx_->TryCancel();
  cv_.notify_one();
}

void PeerSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (ctx_) ctx_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

PeerStats PeerSender::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PeerStats s = stats_;
  s.address = address_;
  s.queued_messages = queue_.size();
  s.queued_bytes = queued_bytes_;
  return s;
}

void PeerSender::NoteUnreachableLocked(Reports* reports) {
  if (unreachable_reported_) return;
  unreachable_reported_ = true;
  reports->unreachable = true;
}

void PeerSender::Run() {
  pthread_setname_np(pthread_self(), "raft-send");
  backoff_ms_ = config_.backoff_min_ms;
  std::vector<raft::Message> msgs;
  std::vector<const raft::Message*> lost;
  Reports reports;
  while (WaitForWork(&msgs, &reports)) {
    MakeReports(reports);
    reports = Reports();
    if (msgs.empty()) continue;
    lost.clear();
    absl::Status status = Deliver(msgs, &lost, &reports);
    if (status.ok()) {
      backoff_ms_ = config_.backoff_min_ms;
    } else {
      OnFailure(status, lost, &reports);
    }
    MakeReports(reports);
    reports = Reports();
    msgs.clear();
    if (!status.ok()) Backoff();
  }
  if (writer_) CloseStream().IgnoreError();  // stopping: ctx_ is cancelled
}

bool PeerSender::WaitForWork(std::vector<raft::Message>* out, Reports* reports) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    return stopping_ || !queue_.empty() || pending_.unreachable || pending_.snapshot_failures > 0;
  });
  if (stopping_) return false;
  *reports = pending_;
  pending_ = Reports();
  uint64_t bytes = 0;
  while (!queue_.empty()) {
    const uint64_t next = EstimatedBytes(queue_.front());
    if (!out->empty() && bytes + next > config_.batch_bytes_max) break;
    bytes += next;
    queued_bytes_ -= next;
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return true;
}

absl::Status PeerSender::Deliver(const std::vector<raft::Message>& msgs,
                                 std::vector<const raft::Message*>* lost, Reports* reports) {
  MessageBatch batch;
  batch.set_cluster_id(config_.cluster_id);
  batch.set_from(config_.node_id);
  batch.set_to(peer_);
  std::vector<const raft::Message*> in_batch;
  uint64_t batch_bytes = 0;
  uint64_t snapshots = 0;
  auto flush = [&]() -> absl::Status {
    absl::Status s = Write(batch);
    if (!s.ok()) return s;
    reports->snapshot_successes += snapshots;
    batch.clear_messages();
    in_batch.clear();
    batch_bytes = 0;
    snapshots = 0;
    return absl::OkStatus();
  };
  for (size_t i = 0; i < msgs.size(); ++i) {
    const raft::Message& m = msgs[i];
    raftpb::Message pm;
    raft::ToProto(m, &pm);
    const uint64_t size = pm.ByteSizeLong();
    if (size + kBatchOverheadBytes > config_.message_bytes_max) {
      spdlog::warn("transport: dropping {} to node {}: {} bytes exceed message_bytes_max {}",
                   raft::MessageTypeName(m.type), peer_, size, config_.message_bytes_max);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.dropped_too_large;
      if (m.type == raft::MessageType::kSnap) ++reports->snapshot_failures;
      continue;
    }
    const uint64_t field_bytes = BatchFieldBytes(size);
    if (!in_batch.empty() && batch_bytes + field_bytes > config_.batch_bytes_max) {
      absl::Status s = flush();
      if (!s.ok()) {
        *lost = in_batch;
        for (size_t j = i; j < msgs.size(); ++j) lost->push_back(&msgs[j]);
        return s;
      }
    }
    *batch.add_messages() = std::move(pm);
    in_batch.push_back(&m);
    batch_bytes += field_bytes;
    if (m.type == raft::MessageType::kSnap) ++snapshots;
  }
  if (!in_batch.empty()) {
    absl::Status s = flush();
    if (!s.ok()) {
      *lost = in_batch;
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PeerSender::Write(const MessageBatch& batch) {
  if (!writer_) {
    absl::Status s = OpenStream();
    if (!s.ok()) return s;
  }
  if (!writer_->Write(batch)) return CloseStream();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.connected = true;
  stats_.sent_batches += 1;
  stats_.sent_messages += static_cast<uint64_t>(batch.messages_size());
  unreachable_reported_ = false;
  return absl::OkStatus();
}

absl::Status PeerSender::OpenStream() {
  std::string address;
  grpc::ClientContext* ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("transport is stopping");
    if (address_changed_ || !channel_) {
      address_changed_ = false;
      channel_.reset();
      address = address_;
    }
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx = ctx_.get();
  }
  if (!channel_) {
    channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                         ChannelArgs(config_));
    stub_ = RaftPeer::NewStub(channel_);
  }
  // Blocks until the call has started or failed (cancelled by Stop at once).
  writer_ = stub_->Send(ctx, &ack_);
  return absl::OkStatus();
}

absl::Status PeerSender::CloseStream() {
  // Only after a failed Write (the call is over) or a cancellation, so Finish
  // returns promptly.
  grpc::Status status = writer_->Finish();
  writer_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  ctx_.reset();
  stats_.connected = false;
  if (status.ok()) {
    return absl::UnavailableError(absl::StrCat("node ", peer_, " closed the stream"));
  }
  return FromGrpc(status);
}

void PeerSender::OnFailure(const absl::Status& status,
                           const std::vector<const raft::Message*>& lost, Reports* reports) {
  if (writer_) CloseStream().IgnoreError();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  uint64_t dropped = lost.size() + queue_.size();
  for (const raft::Message* m : lost) {
    if (m->type == raft::MessageType::kSnap) ++reports->snapshot_failures;
  }
  for (const raft::Message& m : queue_) {
    if (m.type == raft::MessageType::kSnap) ++reports->snapshot_failures;
  }
  queue_.clear();
  queued_bytes_ = 0;
  stats_.dropped_unreachable += dropped;
  ++stats_.stream_failures;
  // One warning per change of error, so a peer that stays down does not flood the log.
  std::string error = status.ToString();
  if (error != stats_.last_error) {
    spdlog::warn("transport: node {} at {} unreachable ({} messages dropped): {}", peer_, address_,
                 dropped, error);
  } else {
    spdlog::debug("transport: node {} at {} still unreachable ({} messages dropped)", peer_,
                  address_, dropped);
  }
  stats_.last_error = std::move(error);
  NoteUnreachableLocked(reports);
}

void PeerSender::MakeReports(const Reports& reports) {
  if (reports.unreachable) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.unreachable_reports;
    }
    if (handlers_->on_unreachable) handlers_->on_unreachable(peer_);
  }
  if (handlers_->on_snapshot_status) {
    for (uint64_t i = 0; i < reports.snapshot_failures; ++i) {
      handlers_->on_snapshot_status(peer_, /*failed=*/true);
    }
    for (uint64_t i = 0; i < reports.snapshot_successes; ++i) {
      handlers_->on_snapshot_status(peer_, /*failed=*/false);
    }
  }
}

void PeerSender::Backoff() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms_),
               [&] { return stopping_ || address_changed_; });
  backoff_ms_ = std::min(backoff_ms_ * 2, config_.backoff_max_ms);
}

// ---------------------------------------------------------------------------
// GrpcTransport

absl::StatusOr<std::unique_ptr<GrpcTransport>> GrpcTransport::Create(
    const TransportConfig& config) {
  absl::Status s = config.Validate();
  if (!s.ok()) return s;
  return std::unique_ptr<GrpcTransport>(new GrpcTransport(config));
}

GrpcTransport::GrpcTransport(const TransportConfig& config) : config_(config), service_(config) {}

GrpcTransport::~GrpcTransport() { Stop(); }

absl::Status GrpcTransport::Start(TransportHandlers handlers) {
  if (!handlers.on_message) {
    return absl::InvalidArgumentError("transport: Start needs an on_message handler");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("transport: Start may be called once, before Stop");
  }
  handlers_ = std::move(handlers);
  state_ = State::kRunning;
  service_.Start(&handlers_);
  for (auto& [id, peer] : peers_) peer->Start(&handlers_);
  return absl::OkStatus();
}

void GrpcTransport::Stop() {
  std::map<NodeId, std::unique_ptr<PeerSender>> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kStopped) return;
    state_ = State::kStopped;
    peers.swap(peers_);
  }
  service_.Stop();
  for (auto& [id, peer] : peers) peer->Stop();
}

absl::Status GrpcTransport::AddPeer(NodeId id, std::string address) {
  if (id == raft::kNoNode || id == config_.node_id || address.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("transport: AddPeer(", id, ", '", address, "') on node ", config_.node_id,
                     ": a peer needs a non-zero id other than this node's and an address"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kStopped) {
    return absl::FailedPreconditionError("transport: AddPeer after Stop");
  }
  auto it = peers_.find(id);
  if (it != peers_.end()) {
    it->second->SetAddress(std::move(address));
    return absl::OkStatus();
  }
  auto peer = std::make_unique<PeerSender>(config_, id, std::move(address));
  if (state_ == State::kRunning) peer->Start(&handlers_);
  peers_.emplace(id, std::move(peer));
  return absl::OkStatus();
}

void GrpcTransport::RemovePeer(NodeId id) {
  std::unique_ptr<PeerSender> peer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    peer = std::move(it->second);
    peers_.erase(it);
  }
  peer->Stop();  // prompt: the stream is cancelled, not drained
}

void GrpcTransport::Send(std::vector<raft::Message> msgs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kRunning) {
    dropped_not_running_.fetch_add(msgs.size(), std::memory_order_relaxed);
    return;
  }
  for (raft::Message& m : msgs) {
    auto it = peers_.find(m.to);
    if (it == peers_.end()) {
      dropped_unknown_peer_.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("transport: dropping {} to unknown node {}", raft::MessageTypeName(m.type),
                    m.to);
      continue;
    }
    it->second->Enqueue(std::move(m));
  }
}

TransportStats GrpcTransport::Stats() const {
  TransportStats stats;
  stats.dropped_not_running = dropped_not_running_.load(std::memory_order_relaxed);
  stats.dropped_unknown_peer = dropped_unknown_peer_.load(std::memory_order_relaxed);
  service_.AddStats(&stats);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, peer] : peers_) stats.peers.emplace(id, peer->Stats());
  return stats;
}

}  // namespace raftkv::transport
