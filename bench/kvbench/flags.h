// kvbench's command line: the Config of one run, parsed and checked in one
// place before anything connects.
//
// Flags take their value as `--flag value` or `--flag=value`. Durations are
// seconds, optionally with a unit: 10, 10s, 500ms, 1.5s, 2m.
// Invariants after ParseFlags succeeds: at least one endpoint, each host:port;
// clients >= 1; 1 <= connections <= clients; exactly one of duration_s > 0
// (the default) or total > 0; key_size can hold key_space distinct keys;
// 0 <= read_ratio <= 1.
// Threads: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raftkv::kvbench {

enum class Target { kRaftkv, kEtcd };
enum class Consistency { kLinearizable, kSerializable };

struct Config {
  Target target = Target::kRaftkv;
  // Client addresses, host:port. Default: the local cluster of the target
  // (raftkv: 127.0.0.1:7001-7003 as scripts/cluster.sh; etcd: 127.0.0.1:2379).
  std::vector<std::string> endpoints;
  // Requests outstanding at any time (closed loop: each client sends its next
  // request when the previous one completes).
  int clients = 16;
  // gRPC channels (TCP connections) per endpoint; clients are spread over them.
  int connections = 1;
  // The measured window: duration_s seconds, or until `total` operations
  // completed (total > 0).
  double duration_s = 10;
  uint64_t total = 0;
  // Seconds of load before the measured window starts (not counted).
  double warmup_s = 1;
  // Keys are the decimal numbers 0 .. key_space-1, zero-padded to key_size.
  uint64_t key_space = 10000;
  int key_size = 16;
  int value_size = 256;
  // Fraction of operations that are reads (Range of one key); the rest are
  // Puts.
  double read_ratio = 0;
  Consistency consistency = Consistency::kLinearizable;
  // Before the warm-up, write every key of the key space once (not measured),
  // so reads find values of value_size bytes.
  bool prefill = false;
  // Deadline of one request.
  double timeout_s = 10;
  // Seconds to wait for every endpoint to answer and a leader to be known.
  double connect_timeout_s = 10;
  bool json = false;
  // No progress line on stderr.
  bool quiet = false;
  // Server processes to measure (CPU, peak RSS). Empty: find the local
  // processes of the target serving the endpoints (see proc_stats.h).
  std::vector<int> pids;
  uint64_t seed = 1;
};

// What ParseFlags decided: a config to run, or a message to print and an exit
// code (0 for --help, 2 for a usage error; the message is then one line).
struct ParseResult {
  std::optional<Config> config;
  std::string message;
  int exit_code = 0;
};

// args excludes the program name.
ParseResult ParseFlags(const std::vector<std::string>& args);

// "10", "10s", "250ms", "1.5m" -> seconds; nullopt if malformed or negative.
std::optional<double> ParseSeconds(const std::string& text);

// The key of index i (0 <= i < key_space), zero-padded to key_size.
std::string KeyOf(uint64_t i, int key_size);

const char* TargetName(Target t);
const char* ConsistencyName(Consistency c);

}  // namespace raftkv::kvbench
