// Codec: converts the core's types to and from proto/raft.proto, and encodes
// the ConfChange carried in a kConfChange entry.
//
// Invariant: FromProto(ToProto(x)) == x for every value. Decoding checks enum
// ranges and returns InvalidArgument for data a peer could have corrupted.
// Thread-safety: pure functions.
#pragma once

#include "absl/status/statusor.h"
#include "proto/raft.pb.h"
#include "src/raft/types.h"

namespace raftkv::raft {

void ToProto(const Entry& e, raftpb::Entry* out);
absl::StatusOr<Entry> FromProto(const raftpb::Entry& p);
void ToProto(const HardState& hs, raftpb::HardState* out);
HardState FromProto(const raftpb::HardState& p);
void ToProto(const ConfState& cs, raftpb::ConfState* out);
ConfState FromProto(const raftpb::ConfState& p);
void ToProto(const Snapshot& s, raftpb::Snapshot* out);
Snapshot FromProto(const raftpb::Snapshot& p);
void ToProto(const Message& m, raftpb::Message* out);
absl::StatusOr<Message> FromProto(const raftpb::Message& p);

std::string EncodeConfChange(const ConfChange& cc);
absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data);

}  // namespace raftkv::raft
