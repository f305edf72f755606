// The one place where RocksDB statuses become absl statuses.
//
// Mapping (abseil codes map one to one onto gRPC's, see CONVENTIONS.md):
//   Corruption                        -> DATA_LOSS (the node needs an operator)
//   NotFound                          -> NOT_FOUND
//   InvalidArgument                   -> INVALID_ARGUMENT
//   NotSupported                      -> UNIMPLEMENTED
//   IOError, out of space             -> RESOURCE_EXHAUSTED
//   IOError, other                    -> INTERNAL
//   Busy, TimedOut, TryAgain,
//   ShutdownInProgress                -> UNAVAILABLE
//   Aborted                           -> ABORTED
//   anything else                     -> INTERNAL
// The message always says what raftkv was doing ("context") and carries
// RocksDB's own text.
// Thread-safety: pure functions.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace raftkv::storage {

// context: what was being done, e.g. "writing raft log entries [5, 9]".
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context);

}  // namespace raftkv::storage
