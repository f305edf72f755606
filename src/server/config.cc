#include "src/server/config.h"

#include <CLI/CLI.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/common/status_macros.h"

namespace raftkv::server {

absl::Status ValidateAddress(const std::string& what, const std::string& address) {
  size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", address, "' is not host:port with a port in 1..65535 (e.g. 127.0.0.1:7001)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<uint64_t, std::string>> ParseMemberList(const std::string& flag,
                                                                const std::string& value) {
  std::map<uint64_t, std::string> out;
  for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    uint64_t id = 0;
    if (!absl::SimpleAtoi(kv.first, &id) || id == 0 || kv.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": '", item, "' is not ID=HOST:PORT with a positive ID (e.g. 1=127.0.0.1:7101)"));
    }
    RETURN_IF_ERROR(ValidateAddress(absl::StrCat(flag, " member ", id), kv.second));
    if (!out.emplace(id, kv.second).second) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": member ", id, " is listed twice"));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " lists no member"));
  return out;
}

uint64_t DeriveClusterId(const std::map<uint64_t, MemberAddress>& members,
                         const std::string& token) {
  // FNV-1a over "token|id=peer|id=peer..." in id order: stable across builds.
  std::string s = token;
  for (const auto& [id, addr] : members) absl::StrAppend(&s, "|", id, "=", addr.peer);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h == 0 ? 1 : h;
}

namespace {

absl::Status Finish(ServerConfig* c, const std::string& cluster, const std::string& clients) {
  ASSIGN_OR_RETURN(auto peers, ParseMemberList("--initial-cluster", cluster));
  std::map<uint64_t, std::string> client_addrs;
  if (!clients.empty()) {
    ASSIGN_OR_RETURN(client_addrs, ParseMemberList("--initial-cluster-client", clients));
  }
  for (const auto& [id, addr] : client_addrs) {
    if (peers.count(id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--initial-cluster-client names member ", id,
                                                     ", which --initial-cluster does not list"));
    }
  }
  for (const auto& [id, addr] : peers) {
    auto it = client_addrs.find(id);
    c->initial_cluster[id] = MemberAddress{addr, it == client_addrs.end() ? "" : it->second};
  }
  auto self = c->initial_cluster.find(c->id);
  if (self == c->initial_cluster.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--id ", c->id, " is not a member of --initial-cluster (members: ", cluster, ")"));
  }
  if (c->listen_peer.empty()) c->listen_peer = self->second.peer;
  if (c->listen_client.empty()) c->listen_client = self->second.client;
  if (c->listen_client.empty()) {
    return absl::InvalidArgumentError(
        "no client address: give --listen-client, or list this node in --initial-cluster-client");
  }
  if (self->second.client.empty()) self->second.client = c->listen_client;
  RETURN_IF_ERROR(ValidateAddress("--listen-client", c->listen_client));
  RETURN_IF_ERROR(ValidateAddress("--listen-peer", c->listen_peer));
  if (c->data_dir.empty()) return absl::InvalidArgumentError("--data-dir is required");
  if (c->heartbeat_ticks >= c->election_ticks) {
    return absl::InvalidArgumentError(absl::StrCat("--heartbeat-ticks (", c->heartbeat_ticks,
                                                   ") must be less than --election-ticks (",
                                                   c->election_ticks, ")"));
  }
  c->cluster_id = DeriveClusterId(c->initial_cluster, c->cluster_token);
  return absl::OkStatus();
}

}  // namespace

ParseResult ParseServerConfig(int argc, char** argv) {
  ServerConfig c;
  std::string cluster, clients;
  CLI::App app{
      "raftkv: a Raft-replicated key-value store server.\n"
      "Example (node 1 of a local three-node cluster):\n"
      "  raftkv --id 1 --data-dir data/node1 \\\n"
      "    --initial-cluster 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 \\\n"
      "    --initial-cluster-client 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003",
      "raftkv"};
  app.set_config("--config", "", "read flags from a TOML/INI file (name = value per line)");
  app.add_option("--id", c.id, "this node's id: a positive integer listed in --initial-cluster")
      ->required()
      ->check(CLI::PositiveNumber);
  app.add_option("--initial-cluster", cluster,
                 "every member's peer address: ID=HOST:PORT,ID=HOST:PORT,...")
      ->required();
  app.add_option("--initial-cluster-client", clients,
                 "every member's client address: ID=HOST:PORT,... (lets followers point clients "
                 "at the leader)");
  app.add_option("--cluster-token", c.cluster_token,
                 "distinguishes clusters started with the same member list")
      ->capture_default_str();
  app.add_option("--listen-client", c.listen_client,
                 "address for clients (default: this node's --initial-cluster-client entry)");
  app.add_option("--listen-peer", c.listen_peer,
                 "address for peers (default: this node's --initial-cluster entry)");
  app.add_option("--data-dir", c.data_dir, "directory of this node's database")->required();
  app.add_option("--tick-ms", c.tick_ms, "milliseconds per Raft tick")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  app.add_option("--election-ticks", c.election_ticks,
                 "ticks without a leader before a follower campaigns")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  app.add_option("--heartbeat-ticks", c.heartbeat_ticks, "ticks between leader heartbeats")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--max-key-bytes", c.limits.max_key_bytes, "largest key accepted")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-request-bytes", c.limits.max_request_bytes, "largest request accepted")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 20));
  app.add_option("--max-txn-ops", c.limits.max_txn_ops, "most compares or ops in a Txn branch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-pending-proposals", c.max_pending_proposals,
                 "writes queued for the node loop before RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-pending-reads", c.max_pending_reads,
                 "linearizable reads queued before RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-apply-queue-entries", c.max_apply_queue_entries,
                 "committed entries queued for the apply thread")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-append-bytes", c.max_append_bytes, "bytes of entries in one append message")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1024}, uint64_t{8} << 20));
  app.add_option("--max-inflight-appends", c.max_inflight_appends,
                 "unacknowledged append messages per follower")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--memtable-bytes", c.memtable_bytes,
                 "RocksDB memtable size per column family (1 MiB to 1 GiB)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 30));
  app.add_option("--leader-sync-delay-us", c.leader_sync_delay_us,
                 "how long a leader puts off syncing its own log while its followers alone "
                 "can commit (0: sync at once)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--request-timeout-ms", c.request_timeout_ms,
                 "deadline of a request that brings none")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600000));
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_flag("--unsafe-test-stale-reads", c.unsafe_test_stale_reads,
               "TESTS ONLY: serve linearizable reads from local state (breaks linearizability)");
  app.add_flag("--unsafe-test-no-fsync", c.unsafe_test_no_fsync,
               "TESTS ONLY: do not fsync the Raft log (loses acknowledged writes on crash)");
  app.add_flag("--unsafe-test-ack-before-commit", c.unsafe_test_ack_before_commit,
               "TESTS ONLY: answer writes once proposed, before a majority has them "
               "(loses acknowledged writes when the leader fails)");
  app.add_flag("--test-power-cut-signal", c.test_power_cut_signal,
               "TESTS ONLY: on SIGUSR2, drop every Raft log write not yet synced (as a power "
               "cut would) and exit with status 86");

  ParseResult result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    result.message = app.help();
    result.exit_code = 0;
    return result;
  } catch (const CLI::ParseError& e) {
    result.message = absl::StrCat("raftkv: ", e.what(), " (see raftkv --help)");
    result.exit_code = 2;
    return result;
  }
  absl::Status st = Finish(&c, cluster, clients);
  if (!st.ok()) {
    result.message = absl::StrCat("raftkv: ", st.message());
    result.exit_code = 2;
    return result;
  }
  result.config = std::move(c);
  return result;
}

}  // namespace raftkv::server
