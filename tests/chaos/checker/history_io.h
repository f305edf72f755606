// raftkv::chaos history I/O: history.jsonl on disk, a readable one-line form
// of an operation for reports, and the well-formedness check of history.h.
//
// history.jsonl holds one JSON object per line, one line per operation, in
// the order of the History vector:
//   {"id":17,"process":3,"type":"cas","key":"k2","value":"v19","expected":"v12",
//    "read_value":null,"cas_succeeded":true,"outcome":"ok",
//    "invoke_ns":1204000000,"complete_ns":1209000000,"note":""}
//   type      "read" | "write" | "delete" | "cas"
//   outcome   "ok" | "failed" | "indeterminate"
//   value, expected, read_value   a string, or null for absent (std::nullopt)
//   complete_ns                   null when never completed (kNeverCompleted)
// Strings are byte strings: '"', '\\' and every byte outside printable ASCII
// are written as \u00XX (so values may hold any bytes and the file is ASCII);
// see flat_json.h for what the reader accepts. ReadHistory requires id,
// process, type, key, outcome and invoke_ns; the other members default to
// null / false / "" when missing; unknown members are refused (a typo must
// not silently drop information). Blank lines are skipped.
//
// Threads: pure functions (and file I/O); any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/chaos/history.h"

namespace raftkv::chaos {

// Writes `history` to `path` (replacing it). Errors name the path and errno.
absl::Status WriteHistory(const History& history, const std::string& path);

// Reads a history.jsonl. An error names the file, the line number and what
// was wrong with it, e.g. `h.jsonl line 12: member "type": "get" is not one
// of read, write, delete, cas`.
absl::StatusOr<History> ReadHistory(const std::string& path);

// One readable line, e.g.
//   #17 p3 cas k2 'v12'->'v19' -> ok(swapped) [1.204000s, 1.209000s]
//   #4 p1 read k2 -> ok(absent) [0.100000s, 0.102000s]
//   #9 p2 write k1 'v3' -> indeterminate [0.500000s, never] (deadline exceeded)
// Values and keys are quoted with their non-printable bytes as \xNN; values
// longer than 48 bytes are cut, with their length shown. Times are seconds
// since origin_ns (the first overload: since 0, i.e. the raw clock).
std::string FormatOperation(const Operation& op);
std::string FormatOperation(const Operation& op, int64_t origin_ns);

// A value as FormatOperation prints it: 'v12', or "absent" for nullopt.
std::string FormatValue(const std::optional<std::string>& value);

// The invariants listed in history.h, plus: a write or cas has a value; the
// first one broken is returned as InvalidArgument naming the operation(s).
absl::Status CheckWellFormed(const History& history);

}  // namespace raftkv::chaos
