// The Raft core's value types: log entries, hard state, membership, snapshots
// and messages, mirroring proto/raft.proto field for field.
//
// Entry payloads are Payloads: shared, immutable byte buffers. A command is
// written once by the proposer and never copied again as it travels through the
// leader's log, the messages to followers and their logs (the log is a log of
// immutable commands). Converting to and from the wire format is codec.h's job.
//
// Thread-safety: plain values. A Payload may be shared across threads (it is
// immutable and its count is atomic).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::raft {

using NodeId = uint64_t;  // 0 means "none"
using Index = uint64_t;
using Term = uint64_t;

constexpr NodeId kNoNode = 0;
constexpr uint64_t kNoLimit = UINT64_MAX;

// An immutable, cheaply copied byte string.
class Payload {
 public:
  Payload() = default;
  explicit Payload(std::string bytes)
      : bytes_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {}

  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }
  std::string ToString() const { return std::string(view()); }
  friend bool operator==(const Payload& a, const Payload& b) { return a.view() == b.view(); }
  friend bool operator!=(const Payload& a, const Payload& b) { return !(a == b); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

enum class EntryType : uint8_t { kNormal = 0, kConfChange = 1 };

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  Payload data;

  // The size counted against byte limits (payload plus a fixed header).
  uint64_t ByteSize() const { return data.size() + 24; }
  friend bool operator==(const Entry& a, const Entry& b) {
    return a.term == b.term && a.index == b.index && a.type == b.type && a.data == b.data;
  }
};

// Persisted before any message of its term is sent.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool IsEmpty() const { return term == 0 && vote == kNoNode && commit == 0; }
  friend bool operator==(const HardState& a, const HardState& b) {
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
  }
  friend bool operator!=(const HardState& a, const HardState& b) { return !(a == b); }
};

// Group membership. Invariant: voters and learners are sorted and disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  friend bool operator==(const ConfState& a, const ConfState& b) {
    return a.voters == b.voters && a.learners == b.learners;
  }
  friend bool operator!=(const ConfState& a, const ConfState& b) { return !(a == b); }
};

struct SnapshotMetadata {
  ConfState conf_state;
  Index index = 0;
  Term term = 0;
};

// A state-machine image as of metadata.index. Empty when metadata.index == 0.
struct Snapshot {
  SnapshotMetadata metadata;
  Payload data;

  bool IsEmpty() const { return metadata.index == 0; }
};

enum class MessageType : uint8_t {
  kHup = 0,   // local: start an election
  kBeat = 1,  // local: leader sends heartbeats
  kProp = 2,  // a proposal (local, or forwarded by a follower)
  kApp = 3,   // append entries
  kAppResp = 4,
  kVote = 5,
  kVoteResp = 6,
  kSnap = 7,  // install snapshot
  kHeartbeat = 8,
  kHeartbeatResp = 9,
  kUnreachable = 10,  // local: a peer could not be reached
  kSnapStatus = 11,   // local: a snapshot send finished or failed
  kCheckQuorum = 12,  // local: leader checks it heard from a quorum
  kTransferLeader = 13,
  kTimeoutNow = 14,  // transfer target: campaign now
  kReadIndex = 15,
  kReadIndexResp = 16,
  kPreVote = 17,
  kPreVoteResp = 18,
};
const char* MessageTypeName(MessageType t);
bool IsLocalMessage(MessageType t);
bool IsResponseMessage(MessageType t);

struct Message {
  MessageType type = MessageType::kHup;
  NodeId to = kNoNode;
  NodeId from = kNoNode;
  Term term = 0;
  Term log_term = 0;
  Index index = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  Snapshot snapshot;  // only on kSnap
  bool reject = false;
  Index reject_hint = 0;
  std::string context;
};

enum class ConfChangeType : uint8_t { kAddNode = 0, kRemoveNode = 1, kAddLearnerNode = 2 };

// One single-server membership change, carried in a kConfChange entry.
struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  std::string context;
};

// The answer to a ReadIndex request: once applied index >= index, a read of
// the state machine is linearizable. request_ctx is the caller's context.
struct ReadState {
  Index index = 0;
  std::string request_ctx;
};

enum class StateRole : uint8_t { kFollower, kCandidate, kLeader, kPreCandidate };
const char* StateRoleName(StateRole r);

// Volatile state, reported in Ready when it changes.
struct SoftState {
  NodeId lead = kNoNode;
  StateRole role = StateRole::kFollower;
  friend bool operator==(const SoftState& a, const SoftState& b) {
    return a.lead == b.lead && a.role == b.role;
  }
  friend bool operator!=(const SoftState& a, const SoftState& b) { return !(a == b); }
};

// Readable one-line renderings, for test diffs and logs.
std::string Describe(const Entry& e);
std::string Describe(const Message& m);
std::string Describe(const HardState& hs);
std::string Describe(const ConfState& cs);

}  // namespace raftkv::raft
