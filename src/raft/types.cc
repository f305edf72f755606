#include "src/raft/types.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace raftkv::raft {

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "Hup";
    case MessageType::kBeat:
      return "Beat";
    case MessageType::kProp:
      return "Prop";
    case MessageType::kApp:
      return "App";
    case MessageType::kAppResp:
      return "AppResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kSnap:
      return "Snap";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kUnreachable:
      return "Unreachable";
    case MessageType::kSnapStatus:
      return "SnapStatus";
    case MessageType::kCheckQuorum:
      return "CheckQuorum";
    case MessageType::kTransferLeader:
      return "TransferLeader";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
  }
  return "Unknown";
}

bool IsLocalMessage(MessageType t) {
  return t == MessageType::kHup || t == MessageType::kBeat || t == MessageType::kUnreachable ||
         t == MessageType::kSnapStatus || t == MessageType::kCheckQuorum;
}

bool IsResponseMessage(MessageType t) {
  return t == MessageType::kAppResp || t == MessageType::kVoteResp ||
         t == MessageType::kHeartbeatResp || t == MessageType::kUnreachable ||
         t == MessageType::kReadIndexResp || t == MessageType::kPreVoteResp;
}

const char* StateRoleName(StateRole r) {
  switch (r) {
    case StateRole::kFollower:
      return "follower";
    case StateRole::kCandidate:
      return "candidate";
    case StateRole::kLeader:
      return "leader";
    case StateRole::kPreCandidate:
      return "pre-candidate";
  }
  return "unknown";
}

std::string Describe(const Entry& e) {
  return absl::StrCat(e.term, "/", e.index, e.type == EntryType::kConfChange ? " conf" : "",
                      e.data.empty() ? "" : absl::StrCat(" ", e.data.size(), "B"));
}

std::string Describe(const Message& m) {
  std::string s = absl::StrCat(m.from, "->", m.to, " ", MessageTypeName(m.type), " term:", m.term);
  if (m.log_term != 0 || m.index != 0) absl::StrAppend(&s, " log:", m.log_term, "/", m.index);
  if (m.commit != 0) absl::StrAppend(&s, " commit:", m.commit);
  if (m.reject) absl::StrAppend(&s, " rejected hint:", m.reject_hint);
  if (!m.entries.empty()) {
    absl::StrAppend(&s, " entries:[");
    for (size_t i = 0; i < m.entries.size(); ++i) {
      absl::StrAppend(&s, i ? " " : "", Describe(m.entries[i]));
    }
    absl::StrAppend(&s, "]");
  }
  if (!m.snapshot.IsEmpty()) {
    absl::StrAppend(&s, " snap:", m.snapshot.metadata.term, "/", m.snapshot.metadata.index);
  }
  if (!m.context.empty()) absl::StrAppend(&s, " ctx:", m.context.size(), "B");
  return s;
}

std::string Describe(const HardState& hs) {
  return absl::StrCat("term:", hs.term, " vote:", hs.vote, " commit:", hs.commit);
}

std::string Describe(const ConfState& cs) {
  return absl::StrCat("voters:[", absl::StrJoin(cs.voters, " "), "] learners:[",
                      absl::StrJoin(cs.learners, " "), "]");
}

}  // namespace raftkv::raft
