// ServerConfig: everything a raftkv server is told at start-up, from flags and
// an optional config file, validated in one place before anything starts.
//
// Invariants after ParseServerConfig succeeds: id is a member of
// initial_cluster; every address is host:port; every limit is positive;
// heartbeat_ticks < election_ticks; cluster_id is derived from
// initial_cluster and cluster_token (so every node of one cluster computes
// the same id, and a node started with another cluster's list is refused by
// the identity check of its data directory).
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/storage/db.h"
#include "src/storage/validation.h"

namespace raftkv::server {

struct MemberAddress {
  std::string peer;    // host:port for Raft traffic
  std::string client;  // host:port for clients; empty if not given
};

struct ServerConfig {
  uint64_t id = 0;
  uint64_t cluster_id = 0;
  std::string cluster_token = "raftkv";
  std::map<uint64_t, MemberAddress> initial_cluster;
  std::string listen_client;
  std::string listen_peer;
  std::string data_dir;

  int tick_ms = 100;
  int election_ticks = 10;
  int heartbeat_ticks = 1;

  storage::Limits limits;
  // Proposals waiting for the node loop; more are refused with RESOURCE_EXHAUSTED.
  uint64_t max_pending_proposals = 10000;
  // Linearizable reads waiting for the node loop; more are refused likewise.
  uint64_t max_pending_reads = 10000;
  // Committed entries waiting for the apply thread before the loop waits.
  uint64_t max_apply_queue_entries = 100000;
  // Bytes of entries in one append message to a follower.
  uint64_t max_append_bytes = 1 << 20;
  // Unacknowledged append messages in flight to one follower.
  int max_inflight_appends = 256;
  // A request without a client deadline gets this one (and none gets more).
  int request_timeout_ms = 10000;
  // RocksDB memtable size of each column family (storage::DbOptions): smaller
  // saves CPU per write over few keys, larger keeps p99 over many (README,
  // Performance, "Memtables").
  uint64_t memtable_bytes = storage::DbOptions().write_buffer_bytes;
  // How long a leader puts off syncing a write of its own log while its
  // followers alone can commit: a write they commit within it is never
  // synced by the leader (0: sync every write at once). README, "How a
  // write flows".
  int64_t leader_sync_delay_us = 1000;

  std::string log_level = "info";

  // Unsafe switches for fault-injection tests only (never in production).
  bool unsafe_test_stale_reads = false;
  bool unsafe_test_no_fsync = false;
  bool unsafe_test_ack_before_commit = false;
  // Test switch, safe: SIGUSR2 simulates a power cut (storage/power_cut.h).
  bool test_power_cut_signal = false;
};

// The result of parsing: a config, or a message to print (for --help the
// message is the help text and exit_code 0; for bad input, exit_code 2).
struct ParseResult {
  std::optional<ServerConfig> config;
  std::string message;
  int exit_code = 0;
};

ParseResult ParseServerConfig(int argc, char** argv);

// "1=host:port,2=host:port" -> id -> address. InvalidArgument with the
// offending item for anything malformed.
absl::StatusOr<std::map<uint64_t, std::string>> ParseMemberList(const std::string& flag,
                                                                const std::string& value);
// Checks "host:port" with a port in 1..65535 (or 0 when allow_zero_port).
absl::Status ValidateAddress(const std::string& what, const std::string& address);
// The cluster id every member derives from the same initial cluster.
uint64_t DeriveClusterId(const std::map<uint64_t, MemberAddress>& members,
                         const std::string& token);

}  // namespace raftkv::server
