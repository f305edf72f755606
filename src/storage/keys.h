// On-disk key and value encodings shared by Db, RaftLogStore and
// KvStateMachine. The whole on-disk format is documented in db.h.
//
// Invariant: every encoding here is fixed-width big-endian where it is a
// number, so that byte order equals numeric order in RocksDB's comparator.
// Thread-safety: pure functions and constants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace raftkv::storage {

// Format version of the data directory; Db refuses any other.
constexpr uint64_t kFormatVersion = 1;

// Keys in column family raft_meta.
inline constexpr absl::string_view kMetaFormatVersion = "format_version";
inline constexpr absl::string_view kMetaClusterId = "cluster_id";
inline constexpr absl::string_view kMetaNodeId = "node_id";
inline constexpr absl::string_view kMetaHardState = "hard_state";
inline constexpr absl::string_view kMetaConfState = "conf_state";
inline constexpr absl::string_view kMetaSnapshot = "snapshot";
inline constexpr absl::string_view kMetaLogStart = "log_start";

// Keys in column family kv: user keys live under kDataPrefix, the state
// machine's own metadata under kSmMetaPrefix (which sorts before it).
constexpr char kDataPrefix = 'd';
constexpr char kSmMetaPrefix = 'm';
inline constexpr absl::string_view kSmApplied = "m/applied";    // index, term
inline constexpr absl::string_view kSmRevision = "m/revision";  // revision

// 8-byte big-endian.
std::string EncodeUint64(uint64_t v);
void AppendUint64(std::string* out, uint64_t v);
// Reads 8 bytes big-endian at data[offset]; nullopt if too short.
std::optional<uint64_t> DecodeUint64(absl::string_view data, size_t offset = 0);

// raft_log keys: the entry index, big-endian.
inline std::string LogKey(uint64_t index) { return EncodeUint64(index); }

// kv keys.
std::string DataKey(absl::string_view user_key);
// The first key after every data key.
std::string DataKeyEnd();
// Strips kDataPrefix; data_key must be a data key.
absl::string_view UserKey(absl::string_view data_key);

// The smallest key greater than every key with the given prefix; empty if
// there is none (the prefix is empty or all 0xff bytes).
std::string PrefixEnd(absl::string_view prefix);

}  // namespace raftkv::storage
