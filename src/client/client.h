// raftkv::client: the C++ client library of raftkv (the raftkv.v1 KV and
// Cluster services, proto/kv.proto).
//
// A Client holds one gRPC channel per endpoint and turns every call into a
// sequence of attempts bounded by one overall deadline (Options::call_timeout)
// and a number of attempts (Options::max_attempts):
//
//   - It sends to the last endpoint that answered (after a "not leader" answer:
//     the leader it named), else to the endpoints in turn.
//   - "Not leader" (UNAVAILABLE with trailing metadata "raftkv-leader-addr"):
//     retried at once at the named leader; an address not among the endpoints
//     is added (up to kMaxLearnedEndpoints of them).
//   - "Not leader" without a known leader (an election), or any other
//     UNAVAILABLE: back off (exponential from backoff_initial up to
//     backoff_max, jittered by a seeded Rng) and try the next endpoint. A
//     connection failure moves on to the next endpoint without backing off
//     until every endpoint has failed once since the last back-off. A
//     channel that failed is polled for 10 ms before an attempt gives up on
//     it, so a node that came back is used at once (gRPC alone notices its
//     reconnection only at its 5 s backup poll).
//   - RESOURCE_EXHAUSTED from the server (its bounded queues are full; the
//     request was not proposed) is retried after backing off. gRPC's own
//     "message larger than max" RESOURCE_EXHAUSTED is not retried.
//   - Every other code (INVALID_ARGUMENT, FAILED_PRECONDITION, DATA_LOSS, ...)
//     ends the call at once.
//
// Writes (Put, DeleteRange, a Txn with a write op) are only retried when the
// write cannot have been proposed: a "not leader" answer, a connection that
// was never established, or RESOURCE_EXHAUSTED. An UNAVAILABLE on an
// established connection (e.g. the connection broke mid-call) or a
// DEADLINE_EXCEEDED leaves the outcome unknown; the call then fails with a
// message saying "the write may or may not have been applied". Reads are
// retried after any UNAVAILABLE.
//
// Errors are absl::Status with the gRPC code (the codes map one to one) and a
// message for a person: the method, the endpoint(s) and what went wrong, e.g.
//   "Put: no endpoint answered within 5s: 127.0.0.1:7001 (connection refused),
//    127.0.0.1:7002 (no leader: election in progress)".
//
// Invariants: endpoints are only ever added, never removed, so an Endpoint*
// stays valid for the Client's lifetime; the leader hint is an index into
// endpoints_ or kNoEndpoint.
// Threads: every public method is safe to call from many threads at once; the
// calls share the channels and the leader hint (guarded by mu_). A call blocks
// its caller until it finishes (at most call_timeout plus a little).
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/kv.grpc.pb.h"
#include "proto/kv.pb.h"
#include "src/common/rng.h"

namespace raftkv::client {

namespace internal {
// One endpoint's channel and stubs (defined in client.cc).
struct Endpoint;
}  // namespace internal

struct Options {
  // Client addresses ("host:port") of the cluster's nodes; at least one.
  std::vector<std::string> endpoints;
  // Overall deadline of one call, all attempts and back-offs included.
  absl::Duration call_timeout = absl::Seconds(5);
  // How long one attempt waits for a connection to an endpoint before trying
  // the next one (also bounded by what is left of call_timeout).
  absl::Duration dial_timeout = absl::Seconds(2);
  // Attempts per call, the first included; a leader redirect is an attempt.
  int max_attempts = 64;
  // Back-off between attempts: starts at backoff_initial, doubles up to
  // backoff_max; each pause is drawn uniformly from [d/2, d].
  absl::Duration backoff_initial = absl::Milliseconds(50);
  absl::Duration backoff_max = absl::Seconds(1);
  // Seed of the jitter Rng (so a test replays exactly).
  uint64_t seed = 0x5eed;
  // Largest request sent (the server's own limit, --max-request-bytes, is
  // 1.5 MiB by default).
  int max_message_bytes = 4 << 20;
  // Largest answer received. As etcd's clientv3, no practical limit: a
  // Range over many keys is as large as they are.
  int max_receive_bytes = INT32_MAX;
};

// The answer of one endpoint to Status (see Client::StatusAll).
struct EndpointStatus {
  std::string endpoint;
  absl::StatusOr<raftkv::v1::StatusResponse> status;
};

class Client {
 public:
  // At most this many endpoints learned from "not leader" answers are added
  // to the configured ones (bounds the channels a confused cluster can make
  // us open).
  static constexpr int kMaxLearnedEndpoints = 16;

  // Checks the options (InvalidArgument naming the bad one) and creates the
  // channels; connects lazily, so a down cluster is not an error here.
  static absl::StatusOr<std::unique_ptr<Client>> Create(Options options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- KV ---
  // Sets key to value; prev_kv asks for the pair as it was before.
  absl::StatusOr<raftkv::v1::PutResponse> Put(const std::string& key, const std::string& value,
                                              bool prev_kv = false);
  // Reads one key (linearizable).
  absl::StatusOr<raftkv::v1::RangeResponse> Get(const std::string& key);
  absl::StatusOr<raftkv::v1::RangeResponse> Range(const raftkv::v1::RangeRequest& request);
  // Deletes one key.
  absl::StatusOr<raftkv::v1::DeleteRangeResponse> Delete(const std::string& key,
                                                         bool prev_kv = false);
  absl::StatusOr<raftkv::v1::DeleteRangeResponse> DeleteRange(
      const raftkv::v1::DeleteRangeRequest& request);
  // A Txn with only Range ops is a read (retried like one), else a write.
  absl::StatusOr<raftkv::v1::TxnResponse> Txn(const raftkv::v1::TxnRequest& request);

  // --- Cluster ---
  // Asks exactly this endpoint (one attempt, no leader following); endpoint
  // need not be one of the configured ones.
  absl::StatusOr<raftkv::v1::StatusResponse> Status(const std::string& endpoint);
  // Asks every configured endpoint, in parallel; one entry per endpoint, in
  // the configured order. An endpoint answering as leader becomes the leader
  // hint.
  std::vector<EndpointStatus> StatusAll();
  absl::StatusOr<raftkv::v1::MemberListResponse> MemberList(
      raftkv::v1::ReadConsistency consistency = raftkv::v1::LINEARIZABLE);

  // The endpoint calls go to first (the last one that answered or was named
  // leader); empty if none yet.
  std::string PreferredEndpoint() const;
  // The configured endpoints followed by the learned ones.
  std::vector<std::string> Endpoints() const;
  const Options& options() const { return options_; }

 private:
  using Endpoint = internal::Endpoint;

  explicit Client(Options options);

  // Runs `rpc` with the retry policy described above. Resp is the response
  // message; write says whether the call changes state.
  template <typename Resp, typename Rpc>
  absl::StatusOr<Resp> Invoke(const char* method, bool write, Rpc rpc);

  // The endpoint for address, added if new (nullptr if the limit on learned
  // endpoints is reached).
  Endpoint* FindOrAddEndpoint(const std::string& address);
  size_t EndpointCount() const;
  // Records that `endpoint` answered or was named leader.
  void SetPreferred(const Endpoint* endpoint);
  void ClearPreferred(const Endpoint* endpoint);
  // The endpoint to try first in a call, and the next one after `current`.
  Endpoint* FirstEndpoint();
  Endpoint* NextEndpoint(const Endpoint* current);
  absl::Duration JitteredBackoff(absl::Duration base);

  const Options options_;

  mutable std::mutex mu_;
  // Guarded by mu_. Invariant: only grows; entries never move (unique_ptr).
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  // Guarded by mu_. Index into endpoints_ of the preferred endpoint, or
  // kNoEndpoint.
  size_t preferred_;
  // Guarded by mu_. Where the next call without a preferred endpoint starts.
  size_t next_start_ = 0;
  // Guarded by mu_.
  raftkv::Rng rng_;
};

// Parses "host:port" lists separated by commas ("a:1, b:2"); InvalidArgument
// for an empty list or an entry without a port.
absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& text);

// A short duration for messages: "5s", "500ms", "1.5s".
std::string HumanDuration(absl::Duration d);

}  // namespace raftkv::client
