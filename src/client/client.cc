#include "src/client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace raftkv::client {

namespace v1 = raftkv::v1;

namespace {

constexpr size_t kNoEndpoint = static_cast<size_t>(-1);
// Immediate redirects in a row before a call starts backing off between them
// (two nodes naming each other during a leader change must not spin).
constexpr int kMaxRedirectsInRow = 3;
// The trailing metadata of the typed "not leader" error (proto/kv.proto).
constexpr char kLeaderAddrKey[] = "raftkv-leader-addr";
constexpr char kLeaderBinKey[] = "raftkv-leader-bin";
// Longest server message quoted in an error.
constexpr size_t kMaxQuotedMessageBytes = 300;

absl::StatusCode ToAbslCode(grpc::StatusCode code) {
  // gRPC's and abseil's codes are the same numbers.
  return static_cast<absl::StatusCode>(code);
}

std::string Quote(const std::string& message) {
  if (message.size() <= kMaxQuotedMessageBytes) return message;
  return message.substr(0, kMaxQuotedMessageBytes) + "...";
}

// What a failed connection attempt or RPC amounts to, in a few words.
std::string ShortReason(const grpc::Status& s) {
  const std::string& m = s.error_message();
  struct Known {
    const char* needle;
    const char* reason;
  };
  static constexpr Known kKnown[] = {
      {"Connection refused", "connection refused"},
      {"No route to host", "no route to host"},
      {"Network is unreachable", "network unreachable"},
      {"Connection reset", "connection reset"},
      {"DNS resolution failed", "cannot resolve host"},
      {"Name or service not known", "cannot resolve host"},
      {"Socket closed", "connection closed"},
      {"Broken pipe", "connection closed"},
  };
  for (const Known& k : kKnown) {
    if (absl::StrContains(m, k.needle)) return k.reason;
  }
  if (m.empty()) return absl::StrCat("error code ", s.error_code());
  return Quote(m);
}

std::string ValueOf(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// The typed "not leader" error, if the failed call carried one.
struct NotLeaderInfo {
  bool is_not_leader = false;
  // The leader's client address; empty if unknown.
  std::string leader_address;
  uint64_t leader_id = 0;
};

NotLeaderInfo ParseNotLeader(const grpc::ClientContext& ctx, const grpc::Status& s) {
  NotLeaderInfo info;
  if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return info;
  const auto& md = ctx.GetServerTrailingMetadata();
  const std::string bin = ValueOf(md, kLeaderBinKey);
  const std::string addr = ValueOf(md, kLeaderAddrKey);
  if (!bin.empty()) {
    v1::NotLeader nl;
    if (nl.ParseFromString(bin)) {
      info.is_not_leader = true;
      info.leader_id = nl.leader_id();
      info.leader_address = nl.leader_client_address();
    }
  }
  if (!addr.empty()) {
    info.is_not_leader = true;
    info.leader_address = addr;
  }
  if (absl::StartsWith(s.error_message(), "not leader")) info.is_not_leader = true;
  return info;
}

bool IsWriteTxn(const v1::TxnRequest& request) {
  auto writes = [](const google::protobuf::RepeatedPtrField<v1::RequestOp>& ops) {
    return std::any_of(ops.begin(), ops.end(), [](const v1::RequestOp& op) {
      return op.has_request_put() || op.has_request_delete_range();
    });
  };
  return writes(request.success()) || writes(request.failure());
}

// The last failure seen at each endpoint during one call, in the order the
// endpoints first failed. Bounded by the number of endpoints.
class FailureLog {
 public:
  void Record(const std::string& endpoint, std::string reason) {
    for (auto& entry : entries_) {
      if (entry.first == endpoint) {
        entry.second = std::move(reason);
        return;
      }
    }
    entries_.emplace_back(endpoint, std::move(reason));
  }
  std::string Summary() const {
    if (entries_.empty()) return "no endpoint tried";
    return absl::StrJoin(entries_, ", ", [](std::string* out, const auto& entry) {
      absl::StrAppend(out, entry.first, " (", entry.second, ")");
    });
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace

// One node's client address with its channel and stubs. Immutable after
// construction; the stubs are thread-safe.
struct internal::Endpoint {
  size_t index = 0;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;  // gRPC hands channels out as shared_ptr
  std::unique_ptr<v1::KV::Stub> kv;
  std::unique_ptr<v1::Cluster::Stub> cluster;
};

namespace {

grpc::ChannelArguments ChannelArgs(const Options& options) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  // gRPC's own reconnect back-off (default 1 s growing to 120 s) would keep a
  // restarted node unreachable long after it is back; keep it close to ours.
  const int backoff_max_ms = static_cast<int>(absl::ToInt64Milliseconds(options.backoff_max));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.backoff_initial)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_max_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.dial_timeout)));
  // Every Client has its own connections (tests run many in one process).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Retries are ours: they follow leaders and know which writes are safe.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return args;
}

std::unique_ptr<internal::Endpoint> MakeEndpoint(size_t index, const std::string& address,
                                                 const Options& options) {
  auto ep = std::make_unique<internal::Endpoint>();
  ep->index = index;
  ep->address = address;
  ep->channel =
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), ChannelArgs(options));
  ep->kv = v1::KV::NewStub(ep->channel);
  ep->cluster = v1::Cluster::NewStub(ep->channel);
  return ep;
}

// How long Connect polls a channel in TRANSIENT_FAILURE, after asking why it
// failed, before giving up on it. A failed channel stays in TRANSIENT_FAILURE
// while it retries, and its retry's connection completes only when some
// thread polls the channel: calls fail at once there and poll nothing, so
// without this the retry is noticed by gRPC's backup poller only (every 5 s),
// and a node that came back stays unusable that long. A completed connection
// needs well under this.
constexpr absl::Duration kFailedChannelPoll = absl::Milliseconds(10);

// Waits until ep's channel is connected, at most dial_timeout and never past
// deadline. OK when connected; UNAVAILABLE with a short reason otherwise. No
// request of the caller has been sent when this fails.
absl::Status Connect(const internal::Endpoint& ep, absl::Duration dial_timeout,
                     absl::Time deadline) {
  const absl::Time start = absl::Now();
  const absl::Time dial_deadline = std::min(start + dial_timeout, deadline);
  grpc_connectivity_state state = ep.channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      // The channel knows why it failed but only tells an RPC: ask with a
      // harmless read, which fails at once on a failed channel.
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(dial_deadline));
      v1::StatusResponse response;
      const grpc::Status s = ep.cluster->Status(&ctx, v1::StatusRequest(), &response);
      if (ep.channel->GetState(false) == GRPC_CHANNEL_READY) return absl::OkStatus();
      // Its reconnection may have completed, unnoticed: poll it briefly.
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
        ep.channel->WaitForStateChange(
            state, absl::ToChronoTime(std::min(absl::Now() + kFailedChannelPoll, dial_deadline)));
        if (ep.channel->GetState(false) == GRPC_CHANNEL_READY) return absl::OkStatus();
      }
      return absl::UnavailableError(ShortReason(s));
    }
    if (!ep.channel->WaitForStateChange(state, absl::ToChronoTime(dial_deadline))) {
      return absl::UnavailableError(
          absl::StrCat("no connection within ", HumanDuration(dial_deadline - start)));
    }
    state = ep.channel->GetState(/*try_to_connect=*/true);
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// Creation and endpoints

absl::StatusOr<std::unique_ptr<Client>> Client::Create(Options options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("no endpoints given (need at least one host:port)");
  }
  for (const std::string& e : options.endpoints) {
    if (e.empty() || e.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint \"", e, "\" is not of the form host:port"));
    }
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("call_timeout must be positive");
  }
  if (options.dial_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("dial_timeout must be positive");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("max_attempts must be at least 1");
  }
  if (options.backoff_initial <= absl::ZeroDuration() ||
      options.backoff_max < options.backoff_initial) {
    return absl::InvalidArgumentError("backoff_initial must be positive and at most backoff_max");
  }
  if (options.max_message_bytes <= 0 || options.max_receive_bytes <= 0) {
    return absl::InvalidArgumentError("max_message_bytes and max_receive_bytes must be positive");
  }
  return std::unique_ptr<Client>(new Client(std::move(options)));
}

Client::Client(Options options)
    : options_(std::move(options)), preferred_(kNoEndpoint), rng_(options_.seed) {
  for (const std::string& address : options_.endpoints) {
    bool duplicate = false;
    for (const auto& ep : endpoints_) duplicate |= ep->address == address;
    if (!duplicate) endpoints_.push_back(MakeEndpoint(endpoints_.size(), address, options_));
  }
}

Client::~Client() = default;

internal::Endpoint* Client::FindOrAddEndpoint(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& ep : endpoints_) {
    if (ep->address == address) return ep.get();
  }
  const size_t learned = endpoints_.size() - options_.endpoints.size();
  if (learned >= static_cast<size_t>(kMaxLearnedEndpoints)) return nullptr;
  endpoints_.push_back(MakeEndpoint(endpoints_.size(), address, options_));
  return endpoints_.back().get();
}

size_t Client::EndpointCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_.size();
}

void Client::SetPreferred(const Endpoint* endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  preferred_ = endpoint->index;
}

void Client::ClearPreferred(const Endpoint* endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  if (preferred_ == endpoint->index) preferred_ = kNoEndpoint;
}

internal::Endpoint* Client::FirstEndpoint() {
  std::lock_guard<std::mutex> lock(mu_);
  if (preferred_ != kNoEndpoint) return endpoints_[preferred_].get();
  // Without a hint, calls start at successive endpoints, spreading the load
  // of discovering the leader.
  const size_t start = next_start_ % endpoints_.size();
  next_start_ = start + 1;
  return endpoints_[start].get();
}

internal::Endpoint* Client::NextEndpoint(const Endpoint* current) {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_[(current->index + 1) % endpoints_.size()].get();
}

absl::Duration Client::JitteredBackoff(absl::Duration base) {
  const int64_t base_us = std::max<int64_t>(2, absl::ToInt64Microseconds(base));
  uint64_t extra_us;
  {
    std::lock_guard<std::mutex> lock(mu_);
    extra_us = rng_.Uniform(static_cast<uint64_t>(base_us / 2) + 1);
  }
  return absl::Microseconds(base_us / 2 + static_cast<int64_t>(extra_us));
}

std::string Client::PreferredEndpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return preferred_ == kNoEndpoint ? "" : endpoints_[preferred_]->address;
}

std::vector<std::string> Client::Endpoints() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& ep : endpoints_) out.push_back(ep->address);
  return out;
}

// ---------------------------------------------------------------------------
// The retry loop

template <typename Resp, typename Rpc>
absl::StatusOr<Resp> Client::Invoke(const char* method, bool write, Rpc rpc) {
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  const std::string within = HumanDuration(options_.call_timeout);
  FailureLog failures;
  absl::Duration backoff = options_.backoff_initial;
  size_t failures_since_backoff = 0;
  int redirects_in_row = 0;
  int attempts = 0;
  Endpoint* ep = FirstEndpoint();

  while (true) {
    ++attempts;
    // What to do after this attempt failed in a retryable way.
    enum class Next { kRedirect, kNextEndpoint, kBackoffSame, kBackoffNext };
    Next next;
    Endpoint* redirect_to = nullptr;

    absl::Status connected = Connect(*ep, options_.dial_timeout, deadline);
    if (!connected.ok()) {
      ClearPreferred(ep);
      failures.Record(ep->address, std::string(connected.message()));
      next = Next::kNextEndpoint;
    } else {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(deadline));
      Resp response;
      const grpc::Status s = rpc(*ep, &ctx, &response);
      if (s.ok()) {
        SetPreferred(ep);
        return response;
      }
      const NotLeaderInfo not_leader = ParseNotLeader(ctx, s);
      switch (s.error_code()) {
        case grpc::StatusCode::UNAVAILABLE:
          if (not_leader.is_not_leader) {
            // The node did not propose the request: safe to retry, writes too.
            if (!not_leader.leader_address.empty() && not_leader.leader_address != ep->address) {
              redirect_to = FindOrAddEndpoint(not_leader.leader_address);
            }
            if (redirect_to != nullptr) {
              failures.Record(ep->address,
                              absl::StrCat("not leader; leader is ", redirect_to->address));
              SetPreferred(redirect_to);
              next = Next::kRedirect;
            } else {
              ClearPreferred(ep);
              failures.Record(ep->address, "not leader; no leader known, election in progress?");
              next = Next::kBackoffNext;
            }
          } else if (write) {
            // The request reached a connected node; it may have been proposed.
            ClearPreferred(ep);
            return absl::UnavailableError(
                absl::StrCat(method, ": ", ep->address, " failed during the call (", ShortReason(s),
                             "); the write may or may not have been applied"));
          } else {
            ClearPreferred(ep);
            failures.Record(ep->address, ShortReason(s));
            next = Next::kBackoffNext;
          }
          break;
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          if (write) {
            return absl::DeadlineExceededError(absl::StrCat(
                method, ": no answer from ", ep->address, " within ", within,
                "; the outcome is unknown: the write may or may not have been applied"));
          }
          failures.Record(ep->address, "no answer in time");
          return absl::DeadlineExceededError(
              absl::StrCat(method, ": no answer within ", within, ": ", failures.Summary()));
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
          // gRPC's own size limit is final; the server's full queues are not.
          if (absl::StrContains(s.error_message(), "larger than max")) {
            return absl::ResourceExhaustedError(
                absl::StrCat(method, ": ", ep->address, ": ", Quote(s.error_message())));
          }
          failures.Record(ep->address, absl::StrCat("overloaded: ", Quote(s.error_message())));
          next = Next::kBackoffSame;
          break;
        default:
          return absl::Status(
              ToAbslCode(s.error_code()),
              absl::StrCat(method, ": ", ep->address, ": ",
                           s.error_message().empty() ? absl::StrCat("error code ", s.error_code())
                                                     : Quote(s.error_message())));
      }
    }

    // Decide where and when the next attempt goes.
    if (next == Next::kRedirect) {
      ++redirects_in_row;
      ep = redirect_to;
      if (redirects_in_row <= kMaxRedirectsInRow) {
        if (attempts >= options_.max_attempts || absl::Now() >= deadline) break;
        continue;
      }
      next = Next::kBackoffSame;
    } else {
      redirects_in_row = 0;
    }
    bool pause = next == Next::kBackoffSame || next == Next::kBackoffNext;
    if (next == Next::kNextEndpoint) {
      pause = ++failures_since_backoff >= EndpointCount();
    }
    if (next != Next::kBackoffSame) ep = NextEndpoint(ep);
    if (attempts >= options_.max_attempts) break;
    if (pause) {
      const absl::Duration d = JitteredBackoff(backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
      failures_since_backoff = 0;
      if (absl::Now() + d >= deadline) break;
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(d));
    }
    if (absl::Now() >= deadline) break;
  }

  if (attempts >= options_.max_attempts) {
    return absl::UnavailableError(absl::StrCat(method, ": no endpoint answered in ", attempts,
                                               " attempts: ", failures.Summary()));
  }
  return absl::UnavailableError(
      absl::StrCat(method, ": no endpoint answered within ", within, ": ", failures.Summary()));
}

// ---------------------------------------------------------------------------
// KV

absl::StatusOr<v1::PutResponse> Client::Put(const std::string& key, const std::string& value,
                                            bool prev_kv) {
  v1::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_prev_kv(prev_kv);
  return Invoke<v1::PutResponse>(
      "Put", /*write=*/true,
      [&request](Endpoint& ep, grpc::ClientContext* ctx, v1::PutResponse* response) {
        return ep.kv->Put(ctx, request, response);
      });
}

absl::StatusOr<v1::RangeResponse> Client::Get(const std::string& key) {
  v1::RangeRequest request;
  request.set_key(key);
  return Range(request);
}

absl::StatusOr<v1::RangeResponse> Client::Range(const v1::RangeRequest& request) {
  return Invoke<v1::RangeResponse>(
      "Range", /*write=*/false,
      [&request](Endpoint& ep, grpc::ClientContext* ctx, v1::RangeResponse* response) {
        return ep.kv->Range(ctx, request, response);
      });
}

absl::StatusOr<v1::DeleteRangeResponse> Client::Delete(const std::string& key, bool prev_kv) {
  v1::DeleteRangeRequest request;
  request.set_key(key);
  request.set_prev_kv(prev_kv);
  return DeleteRange(request);
}

absl::StatusOr<v1::DeleteRangeResponse> Client::DeleteRange(const v1::DeleteRangeRequest& request) {
  return Invoke<v1::DeleteRangeResponse>(
      "DeleteRange", /*write=*/true,
      [&request](Endpoint& ep, grpc::ClientContext* ctx, v1::DeleteRangeResponse* response) {
        return ep.kv->DeleteRange(ctx, request, response);
      });
}

absl::StatusOr<v1::TxnResponse> Client::Txn(const v1::TxnRequest& request) {
  return Invoke<v1::TxnResponse>(
      "Txn", IsWriteTxn(request),
      [&request](Endpoint& ep, grpc::ClientContext* ctx, v1::TxnResponse* response) {
        return ep.kv->Txn(ctx, request, response);
      });
}

// ---------------------------------------------------------------------------
// Cluster

absl::StatusOr<v1::StatusResponse> Client::Status(const std::string& endpoint) {
  const absl::Time deadline = absl::Now() + options_.call_timeout;
  Endpoint* ep = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& e : endpoints_) {
      if (e->address == endpoint) ep = e.get();
    }
  }
  // An endpoint we do not know gets a channel for this call only.
  std::unique_ptr<Endpoint> temporary;
  if (ep == nullptr) {
    temporary = MakeEndpoint(kNoEndpoint, endpoint, options_);
    ep = temporary.get();
  }
  absl::Status connected = Connect(*ep, options_.dial_timeout, deadline);
  if (!connected.ok()) {
    return absl::UnavailableError(absl::StrCat("Status: ", endpoint, ": ", connected.message()));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  v1::StatusResponse response;
  const grpc::Status s = ep->cluster->Status(&ctx, v1::StatusRequest(), &response);
  if (!s.ok()) {
    const std::string reason =
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
            ? absl::StrCat("no answer within ", HumanDuration(options_.call_timeout))
            : ShortReason(s);
    return absl::Status(ToAbslCode(s.error_code()),
                        absl::StrCat("Status: ", endpoint, ": ", reason));
  }
  if (response.role() == v1::ROLE_LEADER && temporary == nullptr) SetPreferred(ep);
  return response;
}

std::vector<EndpointStatus> Client::StatusAll() {
  std::vector<EndpointStatus> out;
  for (const std::string& e : options_.endpoints) {
    out.push_back(EndpointStatus{e, absl::UnknownError("not asked")});
  }
  // One thread per endpoint (a handful), so down endpoints cost one dial
  // timeout in all rather than one each.
  std::vector<std::thread> threads;
  threads.reserve(out.size());
  for (EndpointStatus& entry : out) {
    threads.emplace_back([this, &entry] { entry.status = Status(entry.endpoint); });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

absl::StatusOr<v1::MemberListResponse> Client::MemberList(v1::ReadConsistency consistency) {
  v1::MemberListRequest request;
  request.set_consistency(consistency);
  return Invoke<v1::MemberListResponse>(
      "MemberList", /*write=*/false,
      [&request](Endpoint& ep, grpc::ClientContext* ctx, v1::MemberListResponse* response) {
        return ep.cluster->MemberList(ctx, request, response);
      });
}

// ---------------------------------------------------------------------------
// Helpers

absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::string e(absl::StripAsciiWhitespace(part));
    if (e.empty()) continue;
    const size_t colon = e.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(absl::string_view(e).substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint \"", e, "\" is not of the form host:port"));
    }
    out.push_back(e);
  }
  if (out.empty()) return absl::InvalidArgumentError("no endpoints given (need host:port,...)");
  return out;
}

std::string HumanDuration(absl::Duration d) {
  // absl prints e.g. "5s", "500ms", "1.5s", "2m30s"; whole milliseconds
  // are precise enough for a person.
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

}  // namespace raftkv::client
