// Checks and conversions of kvctl's command-line arguments, shared by the
// commands and the txn parser, kept apart from main.cc so tests can call them.
//
// Threads: pure functions; any thread.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/kv.pb.h"

namespace raftkv::kvctl {

// A positive duration with a unit, e.g. "5s", "500ms", "1.5s", "1m", "2m30s".
// flag names the flag in the error message.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view flag, absl::string_view text);

// "linearizable" or "serializable".
absl::StatusOr<raftkv::v1::ReadConsistency> ParseConsistency(absl::string_view text);

// Which keys a get or del names:
//   key alone               the one key;
//   key and range_end       every key in [key, range_end) (etcdctl's
//                           `get key range_end`);
//   key with prefix         every key starting with key ("" means all keys);
//   key with from_key       every key >= key.
// prefix, from_key and range_end exclude each other.
struct KeySelection {
  std::string key;
  std::optional<std::string> range_end;
  bool prefix = false;
  bool from_key = false;
};

// Fills the request's key, range_end and prefix; InvalidArgument for a
// combination that makes no sense or an empty key naming no range.
absl::Status SelectKeys(const KeySelection& selection, raftkv::v1::RangeRequest* request);
absl::Status SelectKeys(const KeySelection& selection, raftkv::v1::DeleteRangeRequest* request);

}  // namespace raftkv::kvctl
