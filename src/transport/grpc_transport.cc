#include "src/transport/grpc_transport.h"

#include <google/protobuf/io/coded_stream.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/clock.h"
#include "src/raft/codec.h"
#include "src/transport/connection_listener.h"

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

// Whether the receiver of a message of type t answers it (the answer is
// one of raft::IsResponseMessage's types).
bool ExpectsAnswer(raft::MessageType t) {
  using T = raft::MessageType;
  return t == T::kApp || t == T::kHeartbeat || t == T::kVote || t == T::kPreVote || t == T::kSnap ||
         t == T::kReadIndex;
}

int64_t NowMicros() {
  static const SteadyClock clock;
  return clock.NowMicros();
}

// Removes from *held (a map to values with a since_us) every entry held
// since before or at `since_at_most`, passing each value to take first.
template <class Map, class Take>
void TakeDue(Map* held, int64_t since_at_most, Take take) {
  for (auto it = held->begin(); it != held->end();) {
    if (it->second.since_us <= since_at_most) {
      take(it->second);
      it = held->erase(it);
    } else {
      ++it;
    }
  }
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

// One inbound stream, from being requested on the loop's queue until it is
// finished: reads batch after batch, each completion on the loop's thread,
// until the sender closes it, it is cancelled (Stop, or the connection
// broke) or a batch must be rejected; and writes the answers to its sender
// that Send hands it (SendAnswers), one batch at a time. Reads are one at a
// time, so messages reach on_message in the order they were sent.
// Life: the read side (request, reads, Finish) and the write side (one write
// in flight at a time) each have their own tag; Finish is started only with
// no write in flight (a write completing first starts it), no write starts
// once the stream is closed_, and the stream deletes itself once the read
// side is done and no write is in flight.
class RaftPeerService::InboundStream final : public CompletionLoop::Handler,
                                             public RaftPeerService::ReadingStream {
 public:
  explicit InboundStream(RaftPeerService* service)
      : service_(service), stream_(&context_), write_done_(this) {}

  // Asks the server for the next stream.
  void Arm() {
    CompletionLoop* loop = service_->loop_;
    service_->async_.RequestExchange(&context_, &stream_, loop->cq(), loop->cq(), this);
  }
  void Cancel() { context_.TryCancel(); }
  void ResumeRead() override { Read(); }

  // What QueueAnswersLocked did.
  enum class Queued { kClosed, kQueued, kStartWrite };
  // Any thread, under service_->mu_ (so the stream cannot end meanwhile).
  // Appends answers to the queue (dropping what exceeds its limits); on
  // kStartWrite the caller must call WriteNext (outside the lock).
  Queued QueueAnswersLocked(std::vector<raft::Message>* answers) {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (closed_) return Queued::kClosed;
    const TransportConfig& config = service_->config_;
    for (raft::Message& m : *answers) {
      const uint64_t bytes = EstimatedBytes(m);
      if (queue_.size() >= config.peer_queue_messages_max ||
          queued_bytes_ + bytes > config.peer_queue_bytes_max) {
        service_->returned_answers_dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      queued_bytes_ += bytes;
      queue_.push_back(std::move(m));
    }
    service_->returned_answers_.fetch_add(answers->size(), std::memory_order_relaxed);
    if (writing_ || queue_.empty()) return Queued::kQueued;
    writing_ = true;
    return Queued::kStartWrite;
  }

  // Encodes queued answers (up to batch_bytes_max) and starts writing them.
  // Only by whoever set writing_.
  void WriteNext() {
    std::vector<raft::Message> msgs;
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      uint64_t bytes = 0;
      while (!queue_.empty()) {
        const uint64_t next = EstimatedBytes(queue_.front());
        if (!msgs.empty() && bytes + next > service_->config_.batch_bytes_max) break;
        bytes += next;
        queued_bytes_ -= next;
        msgs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    const TransportConfig& config = service_->config_;
    out_.Clear();
    out_.set_cluster_id(config.cluster_id);
    out_.set_from(config.node_id);
    out_.set_to(stream_from_);
    for (const raft::Message& m : msgs) raft::ToProto(m, out_.add_messages());
    stream_.Write(out_, &write_done_);
  }

  void OnEvent(bool ok) override {
    if (service_->loop_->draining()) {  // the server is gone: start nothing
      ReadSideDone();
      return;
    }
    switch (state_) {
      case State::kRequested: {
        if (!ok) {
          delete this;
          return;
        }
        (new InboundStream(service_))->Arm();
        handlers_ = service_->StreamStarted(this);
        registered_ = true;
        connection_ = context_.peer();
        const HandedConnection connection = HandedConnectionOf(context_);
        if (connection.On(NodePort::kPeer)) cork_fd_ = connection.fd;
        if (connection.On(NodePort::kClient)) {
          Finish(grpc::Status(
              grpc::StatusCode::PERMISSION_DENIED,
              absl::StrCat("node ", service_->config_.node_id,
                           " serves Raft peers on its peer address only, not on its client "
                           "address")));
          return;
        }
        if (handlers_ == nullptr) {
          Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("the transport of node ", service_->config_.node_id,
                                           " is not running; retry later")));
          return;
        }
        Read();
        return;
      }
      case State::kReading: {
        if (!ok) {  // the sender closed the stream, or it was cancelled
          Finish(grpc::Status::OK);
          return;
        }
        grpc::Status status =
            service_->ServeBatch(batch_, connection_, *handlers_, &stream_from_, this);
        if (!status.ok()) {
          Finish(status);
          return;
        }
        if (service_->HoldReadOrCork(this, stream_from_, batch_, cork_fd_)) return;
        Read();
        return;
      }
      case State::kFinishing:
        ReadSideDone();
        return;
    }
  }

 private:
  enum class State { kRequested, kReading, kFinishing };

  struct WriteDone final : CompletionLoop::Handler {
    explicit WriteDone(InboundStream* s) : s(s) {}
    void OnEvent(bool ok) override { s->OnWriteDone(ok, s->service_->loop_->draining()); }
    InboundStream* const s;
  };

  void Read() {
    state_ = State::kReading;
    stream_.Read(&batch_, this);
  }

  // Ends the stream with status: at once, or when the write in flight
  // completes. No answer is queued on it after this.
  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;
    if (stream_from_ != raft::kNoNode) service_->StreamStopsAnswering(this, stream_from_);
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      closed_ = true;
      if (writing_) {
        finish_status_ = status;
        finish_pending_ = true;
        return;
      }
    }
    StartFinish(status);
  }
  void StartFinish(const grpc::Status& status) { stream_.Finish(status, this); }

  // draining: the server is gone, so no operation may start (a Finish
  // waiting for this write is given up: the call is over anyway).
  void OnWriteDone(bool ok, bool draining) {
    bool write_next = false;
    bool finish = false;
    bool delete_now = false;
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (draining && finish_pending_) read_side_done_ = true;
      if (!ok || draining) {  // the stream broke: what is queued cannot go either
        closed_ = true;
        service_->returned_answers_dropped_.fetch_add(
            (ok ? 0 : out_.messages_size()) + queue_.size(), std::memory_order_relaxed);
        queue_.clear();
        queued_bytes_ = 0;
      }
      if (read_side_done_) {
        writing_ = false;
        delete_now = true;
      } else if (finish_pending_) {
        writing_ = false;
        finish_pending_ = false;
        finish = true;
      } else if (!closed_ && !queue_.empty()) {
        write_next = true;  // writing_ stays set
      } else {
        writing_ = false;
      }
    }
    if (delete_now) {
      Delete();
    } else if (finish) {
      StartFinish(finish_status_);
    } else if (write_next) {
      WriteNext();
      // As Send does after its writes: a request read since may have corked
      // the socket, which must not hold these answers.
      service_->AfterWriteTo(stream_from_);
    }
  }

  // The read side has seen its last event; the stream goes once no write is
  // in flight either.
  void ReadSideDone() {
    if (stream_from_ != raft::kNoNode) service_->StreamStopsAnswering(this, stream_from_);
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      closed_ = true;
      read_side_done_ = true;
      if (writing_) return;  // its completion deletes
    }
    Delete();
  }
  void Delete() {
    if (registered_) service_->StreamDone(this);
    delete this;
  }

  RaftPeerService* const service_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<MessageBatch, MessageBatch> stream_;
  State state_ = State::kRequested;
  bool registered_ = false;                      // in service_->streams_
  const TransportHandlers* handlers_ = nullptr;  // nullptr: refused
  NodeId stream_from_ = raft::kNoNode;
  std::string connection_;  // the other end, for errors
  int cork_fd_ = -1;        // the connection's socket, if a peer-port listener handed it over
  MessageBatch batch_;      // the read in flight

  // The write side.
  WriteDone write_done_;
  std::mutex write_mu_;
  std::deque<raft::Message> queue_;  // write_mu_: answers not yet written
  uint64_t queued_bytes_ = 0;        // write_mu_: their EstimatedBytes
  bool writing_ = false;             // write_mu_: a write is in flight or being started
  bool closed_ = false;              // write_mu_: no more writes start
  bool finish_pending_ = false;      // write_mu_: Finish waits for the write in flight
  bool read_side_done_ = false;      // write_mu_: deletion waits for the write in flight
  grpc::Status finish_status_;       // with finish_pending_
  MessageBatch out_;                 // the write in flight; only its writer touches it
};

void RaftPeerService::Start(const TransportHandlers* handlers, CompletionLoop* loop) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_ = handlers;
    running_ = true;
    loop_ = loop;
  }
  for (int i = 0; i < kArmedStreams; ++i) (new InboundStream(this))->Arm();
  loop->AddDriver(&held_reads_driver_);
  std::lock_guard<std::mutex> lock(mu_);
  driver_added_ = true;
}

void RaftPeerService::Stop() {
  CompletionLoop* loop = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (driver_added_) loop = loop_;
    driver_added_ = false;  // Stop runs again from the destructor, maybe after the loop is gone
  }
  // Outside mu_: the loop holds its drivers' lock while it asks this one.
  if (loop != nullptr) loop->DetachDriver(&held_reads_driver_);
  std::unique_lock<std::mutex> lock(mu_);
  running_ = false;
  for (auto& [peer, held] : held_) held.stream->ResumeRead();  // to see the cancellation
  held_.clear();
  any_held_.store(false, std::memory_order_release);
  for (auto& [peer, corked] : corked_) SetCork(corked.fd, false);
  corked_.clear();
  any_corked_.store(false, std::memory_order_release);
  for (InboundStream* stream : streams_) stream->Cancel();
  streams_done_.wait(lock, [&] { return streams_.empty(); });
}

const TransportHandlers* RaftPeerService::StreamStarted(InboundStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.insert(stream);
  // handlers_ is set before running_ and stays valid until Stop returns,
  // which waits for this stream.
  return running_ ? handlers_ : nullptr;
}

void RaftPeerService::StreamAnswers(InboundStream* stream, NodeId peer) {
  std::lock_guard<std::mutex> lock(mu_);
  answer_streams_[peer] = stream;  // the newest stream from peer wins
}

void RaftPeerService::StreamStopsAnswering(InboundStream* stream, NodeId peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = answer_streams_.find(peer);
  if (it != answer_streams_.end() && it->second == stream) answer_streams_.erase(it);
}

bool RaftPeerService::SendAnswers(NodeId peer, std::vector<raft::Message>* answers) {
  InboundStream* stream = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return false;
    auto it = answer_streams_.find(peer);
    if (it == answer_streams_.end()) return false;
    switch (it->second->QueueAnswersLocked(answers)) {
      case InboundStream::Queued::kClosed:
        return false;
      case InboundStream::Queued::kQueued:
        return true;
      case InboundStream::Queued::kStartWrite:
        stream = it->second;
        break;
    }
  }
  // Outside mu_: the stream's writing_ keeps it alive until the write completes.
  stream->WriteNext();
  return true;
}

bool RaftPeerService::HoldReadOrCork(ReadingStream* stream, NodeId peer, const MessageBatch& batch,
                                     int cork_fd) {
  bool request = false;
  int64_t answers = 0;
  for (const raftpb::Message& m : batch.messages()) {
    const auto type = static_cast<raft::MessageType>(m.type());
    request = request || ExpectsAnswer(type);
    if (raft::IsResponseMessage(type)) ++answers;
  }
  const int64_t now = NowMicros();
  std::lock_guard<std::mutex> lock(mu_);
  Awaited& awaited = awaited_answers_[peer];
  awaited.count = std::max<int64_t>(0, awaited.count - answers);
  if (awaited.count == 0) {
    awaited.zero_at_us = now;
  } else if (answers > 0 && now - awaited.zero_at_us > kAwaitedTrustUs) {
    // Answers keep coming but the count never reaches zero: it counts
    // requests that were lost or ignored (a vote of an old term). Start over.
    awaited.count = 0;
    awaited.zero_at_us = now;
  }
  if (!running_ || config_.held_read_max_us == 0) return false;
  if (request) {
    // Cork the connection until the answer goes out (at most until the
    // driver's bound): the update the next read sends is held with it.
    if (cork_fd >= 0 && corked_.count(peer) == 0) {
      SetCork(cork_fd, true);
      corked_[peer] = CorkedSocket{cork_fd, now};
      any_corked_.store(true, std::memory_order_release);
      corked_answers_.fetch_add(1, std::memory_order_relaxed);
    }
    return false;
  }
  if (awaited.count > 0 || held_.count(peer) != 0) return false;
  held_[peer] = HeldRead{stream, now};
  any_held_.store(true, std::memory_order_release);
  held_reads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void RaftPeerService::NoteSent(const std::vector<raft::Message>& msgs) {
  // A follower's sends are all answers: no lock for them.
  if (std::none_of(msgs.begin(), msgs.end(),
                   [](const raft::Message& m) { return ExpectsAnswer(m.type); })) {
    return;
  }
  int64_t now = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const raft::Message& m : msgs) {
    if (!ExpectsAnswer(m.type)) continue;
    Awaited& awaited = awaited_answers_[m.to];
    if (awaited.count++ == 0) awaited.zero_at_us = now != 0 ? now : (now = NowMicros());
  }
}

void RaftPeerService::SetCork(int fd, bool on) {
  int v = on ? 1 : 0;
  // Fails harmlessly (EBADF, ENOTSOCK) on a socket gRPC has closed since.
  setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
}

void RaftPeerService::ResumeIfHeld(ReadingStream* stream, NodeId peer) {
  if (!any_held_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(peer);
    if (it == held_.end() || it->second.stream != stream) return;
    held_.erase(it);
    any_held_.store(!held_.empty(), std::memory_order_release);
  }
  stream->ResumeRead();
}

void RaftPeerService::AfterWriteTo(NodeId peer) {
  if (any_corked_.load(std::memory_order_acquire)) {
    int fd = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = corked_.find(peer);
      if (it != corked_.end()) {
        fd = it->second.fd;
        corked_.erase(it);
        any_corked_.store(!corked_.empty(), std::memory_order_release);
      }
    }
    if (fd >= 0) SetCork(fd, false);
  }
  if (!any_held_.load(std::memory_order_acquire)) return;
  ReadingStream* stream = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(peer);
    if (it == held_.end()) return;
    stream = it->second.stream;
    held_.erase(it);
    any_held_.store(!held_.empty(), std::memory_order_release);
  }
  stream->ResumeRead();
}

int64_t RaftPeerService::HeldReadsDriver::NextRoundAtUs() {
  if (!service_->any_held_.load(std::memory_order_acquire) &&
      !service_->any_corked_.load(std::memory_order_acquire)) {
    return std::numeric_limits<int64_t>::max();
  }
  std::lock_guard<std::mutex> lock(service_->mu_);
  int64_t since = std::numeric_limits<int64_t>::max() - service_->config_.held_read_max_us;
  for (const auto& [peer, held] : service_->held_) since = std::min(since, held.since_us);
  for (const auto& [peer, corked] : service_->corked_) since = std::min(since, corked.since_us);
  return since + service_->config_.held_read_max_us;
}

void RaftPeerService::HeldReadsDriver::RunRound() {
  std::vector<ReadingStream*> due;
  std::vector<int> uncork;
  {
    std::lock_guard<std::mutex> lock(service_->mu_);
    const int64_t now = NowMicros();
    const int64_t max_us = service_->config_.held_read_max_us;
    TakeDue(&service_->held_, now - max_us, [&](const HeldRead& h) { due.push_back(h.stream); });
    service_->any_held_.store(!service_->held_.empty(), std::memory_order_release);
    TakeDue(&service_->corked_, now - max_us,
            [&](const CorkedSocket& c) { uncork.push_back(c.fd); });
    service_->any_corked_.store(!service_->corked_.empty(), std::memory_order_release);
  }
  service_->held_reads_timed_out_.fetch_add(due.size(), std::memory_order_relaxed);
  service_->corked_answers_timed_out_.fetch_add(uncork.size(), std::memory_order_relaxed);
  for (int fd : uncork) SetCork(fd, false);
  for (ReadingStream* stream : due) stream->ResumeRead();
}

void RaftPeerService::StreamDone(InboundStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
  for (auto it = answer_streams_.begin(); it != answer_streams_.end(); ++it) {
    if (it->second == stream) {
      answer_streams_.erase(it);
      break;
    }
  }
  if (streams_.empty()) streams_done_.notify_all();
}

grpc::Status RaftPeerService::ServeBatch(const MessageBatch& batch, const std::string& connection,
                                         const TransportHandlers& handlers, NodeId* stream_from,
                                         InboundStream* inbound) {
  if (batch.cluster_id() != config_.cluster_id) {
    std::string msg =
        absl::StrCat("cluster id mismatch: node ", config_.node_id, " belongs to cluster ",
                     config_.cluster_id, " but peer ", batch.from(), " (", connection,
                     ") sent cluster ", batch.cluster_id(), "; check both nodes' cluster id");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }
  if (batch.to() != config_.node_id) {
    std::string msg = absl::StrCat("node id mismatch: peer ", batch.from(), " (", connection,
                                   ") addressed node ", batch.to(), " but this is node ",
                                   config_.node_id, "; check that peer's address list");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, msg);
  }
  if (batch.from() == raft::kNoNode || batch.from() == config_.node_id ||
      (*stream_from != raft::kNoNode && batch.from() != *stream_from)) {
    std::string msg = absl::StrCat("invalid sender id ", batch.from(), " from ", connection,
                                   " (stream began as node ", *stream_from, ", this is node ",
                                   config_.node_id, ")");
    spdlog::error("transport: rejecting stream: {}", msg);
    rejected_streams_.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
  }
  // Before delivery, so that the answers to these messages find the stream.
  if (inbound != nullptr && *stream_from == raft::kNoNode) StreamAnswers(inbound, batch.from());
  *stream_from = batch.from();
  received_batches_.fetch_add(1, std::memory_order_relaxed);
  for (const raftpb::Message& pm : batch.messages()) {
    absl::StatusOr<raft::Message> m = raft::FromProto(pm);
    absl::Status valid = m.ok() ? Validate(*m, *stream_from) : m.status();
    if (!valid.ok()) {
      spdlog::warn("transport: dropping a message from node {} ({}): {}", *stream_from, connection,
                   valid.ToString());
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
  stats->held_reads += held_reads_.load(std::memory_order_relaxed);
  stats->held_reads_timed_out += held_reads_timed_out_.load(std::memory_order_relaxed);
  stats->corked_answers += corked_answers_.load(std::memory_order_relaxed);
  stats->corked_answers_timed_out += corked_answers_timed_out_.load(std::memory_order_relaxed);
  stats->returned_answers += returned_answers_.load(std::memory_order_relaxed);
  stats->returned_answers_dropped += returned_answers_dropped_.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------
// PeerSender: one peer's bounded queue and stream, written without a thread
// of its own on the hot path.
//
// Enqueue (under GrpcTransport::mu_) only queues; Kick then starts a write
// when none is in flight: it takes up to batch_bytes_max of queued messages,
// encodes them into one MessageBatch and hands it to gRPC with a non-blocking
// Write, on the calling thread (the node loop). The write's completion
// (WriteDone, on the CompletionLoop's thread) starts the next batch. So a
// message costs no thread wake-up of ours between the node loop and the
// socket; a burst queued while a write is in flight leaves as one batch.
//
// When a stream fails (a write fails: it broke, could not be opened, or the
// peer ended it), the messages
// in flight and queued are dropped (Raft retransmits; stale heartbeats are
// worthless), the peer is reported unreachable once per outage, and no new
// stream is opened for backoff_ms_ (backoff_min_ms doubling up to
// backoff_max_ms); then the retry thread, which sleeps otherwise, reopens it
// if messages were queued meanwhile.
//
// Invariants (all under mu_): queued_bytes_ is the sum of EstimatedBytes over
// queue_, within peer_queue_messages_max and peer_queue_bytes_max; a stream
// has at most one write in flight (Stream::writing), and only the thread that
// set writing touches its batch and calls Write; a stream always has its
// read slot taken (Stream::reading: a read in flight, or held by the
// service) from its opening until a read fails; stream_ is the one stream
// new writes go to (nullptr: none open); a Stream is released (its Finish
// requested, whose completion deletes it) exactly once, when it is detached
// (no longer stream_) with no write in flight and its reads over, so no
// operation is ever started on it after Finish, nor Finish while a write or
// read is in flight; a detached stream's held read is resumed, so that it
// sees the end; a failed stream is not cancelled, so its Finish reports the
// peer's or the connection's status; live_streams_ counts Streams not yet done, and Stop
// waits for zero. Handlers are called only from the loop's thread (reports
// found inside Send wait in pending_ for the next completion), never from
// inside Send, AddPeer or RemovePeer.
class PeerSender {
 public:
  // service checks and holds the reads of the answers that ride back.
  PeerSender(const TransportConfig& config, RaftPeerService* service, NodeId peer,
             std::string address)
      : config_(config), service_(service), peer_(peer), address_(std::move(address)) {}
  ~PeerSender() { Stop(); }

  PeerSender(const PeerSender&) = delete;
  PeerSender& operator=(const PeerSender&) = delete;

  // Starts the retry thread and allows sending, with completions on cq;
  // *handlers must outlive Stop.
  void Start(const TransportHandlers* handlers, grpc::CompletionQueue* cq);
  // Any thread. Queues m (or drops it at the queue's limits). Never blocks
  // beyond mu_; call Kick after the last message of a Send.
  void Enqueue(raft::Message m);
  // Any thread. Starts a write of queued messages unless one is in flight,
  // the peer is in backoff, or the sender is stopped. Never blocks.
  void Kick();
  // Any thread. The open stream, if any, is cancelled and re-opened.
  void SetAddress(std::string address);
  // Any thread but the loop's. Cancels the stream and waits
  // until every stream is done and the retry thread has ended.
  void Stop();
  PeerStats Stats() const;
  NodeId peer() const { return peer_; }

 private:
  class Stream;
  // Reports collected under mu_ and made on the loop's thread without it.
  struct Reports {
    bool unreachable = false;
    uint64_t snapshot_failures = 0;
    uint64_t snapshot_successes = 0;
  };

  // Stream completions, on the loop's thread.
  void WriteDone(Stream* s, bool ok);
  void ReadDone(Stream* s, bool ok);
  // Under mu_: whether s must be released now (marks it so).
  static bool TakeReleaseLocked(Stream* s);
  void StreamDone(Stream* s, const grpc::Status& status);
  // Takes up to batch_bytes_max of queued messages into *out (at least one).
  void TakeBatchLocked(std::vector<raft::Message>* out);
  // Encodes msgs into s's batch, dropping messages too large to send; puts
  // the messages past batch_bytes_max back at the queue's front.
  void EncodeBatch(std::vector<raft::Message>* msgs, Stream* s);
  // Detaches stream_ (new writes go to a new stream) and cancels it; true if
  // the caller must Release it (no write in flight).
  bool DetachLocked(bool failed);
  void MakeReports(const Reports& reports);
  void NoteUnreachableLocked();
  void RetryLoop();

  const TransportConfig& config_;
  RaftPeerService* const service_;
  const NodeId peer_;
  const TransportHandlers* handlers_ = nullptr;  // set by Start
  grpc::CompletionQueue* cq_ = nullptr;          // set by Start
  std::thread retry_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // retry thread: backoff armed or stop; Stop: a stream done
  std::string address_;
  bool started_ = false;
  bool stopping_ = false;
  std::deque<raft::Message> queue_;
  uint64_t queued_bytes_ = 0;
  Stream* stream_ = nullptr;
  int live_streams_ = 0;
  bool backing_off_ = false;  // no new stream before retry_at_
  std::chrono::steady_clock::time_point retry_at_;
  int64_t backoff_ms_ = 0;
  Reports pending_;
  bool unreachable_reported_ = false;  // reset by a successful write
  PeerStats stats_;
  std::shared_ptr<grpc::Channel> channel_;  // gRPC hands channels out as shared_ptr
  std::shared_ptr<RaftPeer::Stub> stub_;    // shared with a stream being opened
};

// One stream (RaftPeer.Exchange) to the peer, on the loop's queue: batches
// are written to the peer, its answers read back. It lives from Begin until
// the completion of its Finish (requested by Release), which deletes it. The
// fields marked "mu_" are guarded by the sender's mutex.
class PeerSender::Stream final : public RaftPeerService::ReadingStream {
 public:
  Stream(PeerSender* sender, std::string address)
      : address_(std::move(address)),
        sender_(sender),
        write_done_(this),
        read_done_(this),
        finished_(this) {}

  // Opens the call (its initial metadata leaves with the first write) and
  // posts the first read.
  void Begin(RaftPeer::Stub* stub, grpc::CompletionQueue* cq) {
    context_.set_initial_metadata_corked(true);
    stream_ = stub->PrepareAsyncExchange(&context_, cq);
    stream_->StartCall(nullptr);  // corked: no operation, so no event
    ResumeRead();
  }
  void StartWrite() { stream_->Write(batch_, &write_done_); }
  void ResumeRead() override { stream_->Read(&answers_, &read_done_); }
  // Asks for the call's status; its completion frees this. Once, with no
  // write or read in flight (see the invariants).
  void Release() { stream_->Finish(&status_, &finished_); }

  const std::string address_;  // the peer's, for errors
  grpc::ClientContext context_;
  MessageBatch batch_;            // the write in flight; only the writer touches it
  uint64_t batch_snapshots_ = 0;  // snapshots in batch_
  MessageBatch answers_;          // the read in flight
  bool writing_ = false;          // mu_: a write is in flight or being started
  bool reading_ = true;           // mu_: a read is in flight or held; false once one failed
  bool detached_ = false;         // mu_: no longer the sender's stream_
  bool failed_ = false;           // mu_: detached because it broke
  bool released_ = false;         // mu_: Release was (or is being) called
  grpc::Status rejected_;         // mu_: why its answers were refused, if they were

 private:
  struct WriteDone final : CompletionLoop::Handler {
    explicit WriteDone(Stream* s) : s(s) {}
    void OnEvent(bool ok) override { s->sender_->WriteDone(s, ok); }
    Stream* const s;
  };
  struct ReadDone final : CompletionLoop::Handler {
    explicit ReadDone(Stream* s) : s(s) {}
    void OnEvent(bool ok) override { s->sender_->ReadDone(s, ok); }
    Stream* const s;
  };
  struct Finished final : CompletionLoop::Handler {
    explicit Finished(Stream* s) : s(s) {}
    void OnEvent(bool) override {
      s->sender_->StreamDone(s, s->status_);
      delete s;
    }
    Stream* const s;
  };

  PeerSender* const sender_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<MessageBatch, MessageBatch>> stream_;
  grpc::Status status_;
  WriteDone write_done_;
  ReadDone read_done_;
  Finished finished_;
};

void PeerSender::Start(const TransportHandlers* handlers, grpc::CompletionQueue* cq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_ = handlers;
    cq_ = cq;
    started_ = true;
    backoff_ms_ = config_.backoff_min_ms;
  }
  retry_thread_ = std::thread([this] { RetryLoop(); });
}

void PeerSender::Enqueue(raft::Message m) {
  const uint64_t bytes = EstimatedBytes(m);
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= config_.peer_queue_messages_max ||
      queued_bytes_ + bytes > config_.peer_queue_bytes_max) {
    ++stats_.dropped_queue_full;
    if (m.type == raft::MessageType::kSnap) ++pending_.snapshot_failures;
    NoteUnreachableLocked();
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(m));
}

void PeerSender::Kick() {
  while (true) {
    std::vector<raft::Message> msgs;
    Stream* s = nullptr;
    bool open = false;
    std::shared_ptr<RaftPeer::Stub> stub;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!started_ || stopping_ || backing_off_ || queue_.empty()) return;
      if (stream_ == nullptr) {
        if (!channel_) {
          channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(),
                                               ChannelArgs(config_));
          stub_ = std::shared_ptr<RaftPeer::Stub>(RaftPeer::NewStub(channel_));
        }
        stream_ = new Stream(this, address_);
        ++live_streams_;
        open = true;
      } else if (stream_->writing_) {
        return;  // its completion takes the queue
      }
      s = stream_;
      s->writing_ = true;
      TakeBatchLocked(&msgs);
      stub = stub_;
    }
    // Outside mu_: writing_ keeps the stream from being released (and so
    // alive) until this write completes, and no other thread touches its batch.
    if (open) s->Begin(stub.get(), cq_);
    EncodeBatch(&msgs, s);
    if (s->batch_.messages_size() > 0) {
      s->StartWrite();
      return;
    }
    // Everything taken was too large to send: take the next messages.
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      s->writing_ = false;
      release = TakeReleaseLocked(s);
    }
    if (release) {
      s->Release();
      return;
    }
  }
}

void PeerSender::TakeBatchLocked(std::vector<raft::Message>* out) {
  uint64_t bytes = 0;
  while (!queue_.empty()) {
    const uint64_t next = EstimatedBytes(queue_.front());
    if (!out->empty() && bytes + next > config_.batch_bytes_max) break;
    bytes += next;
    queued_bytes_ -= next;
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void PeerSender::EncodeBatch(std::vector<raft::Message>* msgs, Stream* s) {
  MessageBatch& batch = s->batch_;
  batch.Clear();
  batch.set_cluster_id(config_.cluster_id);
  batch.set_from(config_.node_id);
  batch.set_to(peer_);
  s->batch_snapshots_ = 0;
  uint64_t batch_bytes = 0;
  uint64_t too_large = 0;
  uint64_t snapshot_failures = 0;
  size_t i = 0;
  for (; i < msgs->size(); ++i) {
    const raft::Message& m = (*msgs)[i];
    raftpb::Message pm;
    raft::ToProto(m, &pm);
    const uint64_t size = pm.ByteSizeLong();
    if (size + kBatchOverheadBytes > config_.message_bytes_max) {
      spdlog::warn("transport: dropping {} to node {}: {} bytes exceed message_bytes_max {}",
                   raft::MessageTypeName(m.type), peer_, size, config_.message_bytes_max);
      ++too_large;
      if (m.type == raft::MessageType::kSnap) ++snapshot_failures;
      continue;
    }
    const uint64_t field_bytes = BatchFieldBytes(size);
    if (batch.messages_size() > 0 && batch_bytes + field_bytes > config_.batch_bytes_max) break;
    *batch.add_messages() = std::move(pm);
    batch_bytes += field_bytes;
    if (m.type == raft::MessageType::kSnap) ++s->batch_snapshots_;
  }
  if (too_large == 0 && i == msgs->size()) return;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.dropped_too_large += too_large;
  pending_.snapshot_failures += snapshot_failures;
  // The rest go back in front, in order (nobody else takes from the queue
  // while this stream's write is being started).
  for (size_t j = msgs->size(); j > i; --j) {
    queued_bytes_ += EstimatedBytes((*msgs)[j - 1]);
    queue_.push_front(std::move((*msgs)[j - 1]));
  }
}

void PeerSender::WriteDone(Stream* s, bool ok) {
  Reports reports;
  bool release = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok) {
      stats_.connected = true;
      stats_.sent_batches += 1;
      stats_.sent_messages += static_cast<uint64_t>(s->batch_.messages_size());
      reports.snapshot_successes += s->batch_snapshots_;
      unreachable_reported_ = false;
      backoff_ms_ = config_.backoff_min_ms;
    } else {
      stats_.dropped_unreachable += static_cast<uint64_t>(s->batch_.messages_size());
      reports.snapshot_failures += s->batch_snapshots_;
      if (stream_ == s) DetachLocked(/*failed=*/true);
    }
    s->writing_ = false;  // after DetachLocked, which so leaves the release to us
    release = TakeReleaseLocked(s);
    std::swap(reports.unreachable, pending_.unreachable);
    reports.snapshot_failures += pending_.snapshot_failures;
    pending_.snapshot_failures = 0;
  }
  MakeReports(reports);
  if (release) {
    s->Release();
  } else if (ok) {
    Kick();
  }
}

bool PeerSender::TakeReleaseLocked(Stream* s) {
  if (!s->detached_ || s->writing_ || s->reading_ || s->released_) return false;
  s->released_ = true;
  return true;
}

void PeerSender::ReadDone(Stream* s, bool ok) {
  if (!ok) {  // the call is over: the peer ended it, it broke, or it was cancelled
    bool release = false;
    Reports reports;
    {
      std::lock_guard<std::mutex> lock(mu_);
      s->reading_ = false;
      release = stream_ == s ? DetachLocked(/*failed=*/true) : TakeReleaseLocked(s);
      std::swap(reports.unreachable, pending_.unreachable);
      reports.snapshot_failures = pending_.snapshot_failures;
      pending_.snapshot_failures = 0;
    }
    MakeReports(reports);
    if (release) s->Release();
    return;
  }
  NodeId from = peer_;
  grpc::Status status = service_->ServeBatch(s->answers_, s->address_, *handlers_, &from);
  bool detached = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status.ok()) {
      // The peer sent what it must not: end the stream (its read, posted
      // below, then fails) and back off as for a broken one.
      s->rejected_ = status;
      if (stream_ == s) DetachLocked(/*failed=*/true);
      s->context_.TryCancel();
    }
    detached = s->detached_;
  }
  // A detached stream reads on until its read fails, without holding.
  if (!detached && service_->HoldReadOrCork(s, peer_, s->answers_, /*cork_fd=*/-1)) return;
  s->ResumeRead();
}

bool PeerSender::DetachLocked(bool failed) {
  Stream* s = stream_;
  stream_ = nullptr;
  s->detached_ = true;
  s->failed_ = failed;
  // A failed write means the call is over: its Finish reports why. A healthy
  // stream is cancelled, so that its Finish returns promptly.
  if (!failed) s->context_.TryCancel();
  if (failed) {
    // Drop the queue, count the outage, back off before the next stream.
    uint64_t dropped = queue_.size();
    for (const raft::Message& m : queue_) {
      if (m.type == raft::MessageType::kSnap) ++pending_.snapshot_failures;
    }
    queue_.clear();
    queued_bytes_ = 0;
    stats_.dropped_unreachable += dropped;
    stats_.connected = false;
    NoteUnreachableLocked();
    backing_off_ = true;
    retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
    backoff_ms_ = std::min(backoff_ms_ * 2, config_.backoff_max_ms);
    cv_.notify_all();
  }
  // Its reads end once it is cancelled or broken; a held one must be
  // resumed to see that.
  service_->ResumeIfHeld(s, peer_);
  // With a write or read in flight, its completion releases the stream.
  return TakeReleaseLocked(s);
}

void PeerSender::StreamDone(Stream* s, const grpc::Status& status) {
  Reports reports;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s->failed_ && !stopping_) {
      // One warning per change of error, so a peer that stays down does not
      // flood the log.
      const grpc::Status& why = s->rejected_.ok() ? status : s->rejected_;
      std::string error =
          why.ok() ? absl::StrCat("node ", peer_, " closed the stream") : FromGrpc(why).ToString();
      if (error != stats_.last_error) {
        spdlog::warn("transport: node {} at {} unreachable: {}", peer_, address_, error);
      } else {
        spdlog::debug("transport: node {} at {} still unreachable", peer_, address_);
      }
      stats_.last_error = std::move(error);
      ++stats_.stream_failures;  // with last_error: Stats sees both or neither
    }
    std::swap(reports.unreachable, pending_.unreachable);
    reports.snapshot_failures = pending_.snapshot_failures;
    pending_.snapshot_failures = 0;
  }
  MakeReports(reports);
  // Last: once live_streams_ is zero, Stop may return and this sender go.
  std::lock_guard<std::mutex> lock(mu_);
  --live_streams_;
  cv_.notify_all();
}

void PeerSender::NoteUnreachableLocked() {
  if (unreachable_reported_) return;
  unreachable_reported_ = true;
  pending_.unreachable = true;
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

void PeerSender::RetryLoop() {
  pthread_setname_np(pthread_self(), "raft-retry");
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (!backing_off_) {
      cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < retry_at_) {
      cv_.wait_until(lock, retry_at_);
      continue;
    }
    backing_off_ = false;
    lock.unlock();
    Kick();
    lock.lock();
  }
}

void PeerSender::SetAddress(std::string address) {
  Stream* release = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (address == address_) return;
    address_ = std::move(address);
    channel_.reset();
    stub_.reset();
    if (stream_ != nullptr) {
      Stream* s = stream_;
      if (DetachLocked(/*failed=*/false)) release = s;
    }
    backing_off_ = false;
    backoff_ms_ = config_.backoff_min_ms;
  }
  if (release != nullptr) release->Release();
  Kick();
}

void PeerSender::Stop() {
  Stream* release = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (stream_ != nullptr) {
      Stream* s = stream_;
      if (DetachLocked(/*failed=*/false)) release = s;
    }
    cv_.notify_all();
  }
  if (release != nullptr) release->Release();
  if (retry_thread_.joinable()) retry_thread_.join();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return live_streams_ == 0; });
}

PeerStats PeerSender::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PeerStats s = stats_;
  s.address = address_;
  s.queued_messages = queue_.size();
  s.queued_bytes = queued_bytes_;
  return s;
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
  if (loop_ == nullptr) {
    return absl::FailedPreconditionError("transport: Start needs SetCompletionLoop first");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ != State::kNew) {
    return absl::FailedPreconditionError("transport: Start may be called once, before Stop");
  }
  handlers_ = std::move(handlers);
  state_ = State::kRunning;
  service_.Start(&handlers_, loop_);
  for (auto& [id, peer] : peers_) peer->Start(&handlers_, loop_->cq());
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
  auto peer = std::make_unique<PeerSender>(config_, &service_, id, std::move(address));
  if (state_ == State::kRunning) peer->Start(&handlers_, loop_->cq());
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
  service_.NoteSent(msgs);
  size_t answered_peers = 0;  // answers_[0, answered_peers) are in use
  for (raft::Message& m : msgs) {
    auto it = peers_.find(m.to);
    if (it == peers_.end()) {
      dropped_unknown_peer_.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("transport: dropping {} to unknown node {}", raft::MessageTypeName(m.type),
                    m.to);
      continue;
    }
    if (raft::IsResponseMessage(m.type)) {  // goes back on the peer's stream, if it has one
      size_t i = 0;
      while (i < answered_peers && answers_[i].first != m.to) ++i;
      if (i == answered_peers) {
        if (answers_.size() == answered_peers) answers_.emplace_back();
        answers_[i].first = m.to;
        answers_[i].second.clear();
        ++answered_peers;
      }
      answers_[i].second.push_back(std::move(m));
      continue;
    }
    it->second->Enqueue(std::move(m));
    if (std::find(touched_.begin(), touched_.end(), it->second.get()) == touched_.end()) {
      touched_.push_back(it->second.get());
    }
  }
  for (size_t i = 0; i < answered_peers; ++i) {
    auto& [peer, answers] = answers_[i];
    if (service_.SendAnswers(peer, &answers)) {
      answered_.push_back(peer);
      continue;
    }
    PeerSender* sender = peers_.at(peer).get();
    for (raft::Message& m : answers) sender->Enqueue(std::move(m));
    if (std::find(touched_.begin(), touched_.end(), sender) == touched_.end()) {
      touched_.push_back(sender);
    }
  }
  // One write per peer for everything just queued (unless one is in flight).
  for (PeerSender* peer : touched_) {
    peer->Kick();
    service_.AfterWriteTo(peer->peer());
  }
  for (NodeId peer : answered_) {
    if (std::none_of(touched_.begin(), touched_.end(),
                     [peer](PeerSender* p) { return p->peer() == peer; })) {
      service_.AfterWriteTo(peer);
    }
  }
  touched_.clear();
  answered_.clear();
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
