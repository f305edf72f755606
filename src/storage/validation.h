// Validation of client requests and replicated commands: pure functions
// shared by the server (before proposing, with the configured limits) and the
// state machine (at apply, with Limits::Structural(), so that apply never
// depends on a node's configuration and stays deterministic).
//
// Every error is INVALID_ARGUMENT (or UNIMPLEMENTED for a feature not built
// yet) with a message that names the field and, for a limit, the limit.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "proto/kv.pb.h"

namespace raftkv::storage {

struct Limits {
  uint64_t max_key_bytes = 4 << 10;
  uint64_t max_request_bytes = 3 << 19;  // 1.5 MiB
  // Maximum number of compares, and of ops in each branch, of a Txn.
  uint64_t max_txn_ops = 128;

  // Only the structural rules (non-empty keys, one op set, ...), no size limits.
  static Limits Structural() {
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    return Limits{kMax, kMax, kMax};
  }
};

absl::Status ValidatePut(const v1::PutRequest& req, const Limits& limits);
absl::Status ValidateRange(const v1::RangeRequest& req, const Limits& limits);
absl::Status ValidateDeleteRange(const v1::DeleteRangeRequest& req, const Limits& limits);
absl::Status ValidateTxn(const v1::TxnRequest& req, const Limits& limits);
// Exactly one op set, and that op valid.
absl::Status ValidateCommand(const v1::Command& cmd, const Limits& limits);

}  // namespace raftkv::storage
