#include "src/raft/codec.h"

#include "absl/strings/str_cat.h"

namespace raftkv::raft {

void ToProto(const Entry& e, raftpb::Entry* out) {
  out->set_term(e.term);
  out->set_index(e.index);
  out->set_type(static_cast<raftpb::EntryType>(e.type));
  out->set_data(e.data.view().data(), e.data.size());
}

absl::StatusOr<Entry> FromProto(const raftpb::Entry& p) {
  if (p.type() != raftpb::ENTRY_NORMAL && p.type() != raftpb::ENTRY_CONF_CHANGE) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry ", p.index(), " has unknown type ", static_cast<int>(p.type())));
  }
  Entry e;
  e.term = p.term();
  e.index = p.index();
  e.type = static_cast<EntryType>(p.type());
  e.data = Payload(p.data());
  return e;
}

void ToProto(const HardState& hs, raftpb::HardState* out) {
  out->set_term(hs.term);
  out->set_vote(hs.vote);
  out->set_commit(hs.commit);
}

HardState FromProto(const raftpb::HardState& p) {
  HardState hs;
  hs.term = p.term();
  hs.vote = p.vote();
  hs.commit = p.commit();
  return hs;
}

void ToProto(const ConfState& cs, raftpb::ConfState* out) {
  out->mutable_voters()->Add(cs.voters.begin(), cs.voters.end());
  out->mutable_learners()->Add(cs.learners.begin(), cs.learners.end());
}

ConfState FromProto(const raftpb::ConfState& p) {
  ConfState cs;
  cs.voters.assign(p.voters().begin(), p.voters().end());
  cs.learners.assign(p.learners().begin(), p.learners().end());
  return cs;
}

void ToProto(const Snapshot& s, raftpb::Snapshot* out) {
  out->set_data(s.data.view().data(), s.data.size());
  auto* md = out->mutable_metadata();
  ToProto(s.metadata.conf_state, md->mutable_conf_state());
  md->set_index(s.metadata.index);
  md->set_term(s.metadata.term);
}

Snapshot FromProto(const raftpb::Snapshot& p) {
  Snapshot s;
  s.data = Payload(p.data());
  s.metadata.conf_state = FromProto(p.metadata().conf_state());
  s.metadata.index = p.metadata().index();
  s.metadata.term = p.metadata().term();
  return s;
}

void ToProto(const Message& m, raftpb::Message* out) {
  out->set_type(static_cast<raftpb::MessageType>(m.type));
  out->set_to(m.to);
  out->set_from(m.from);
  out->set_term(m.term);
  out->set_log_term(m.log_term);
  out->set_index(m.index);
  out->mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (const Entry& e : m.entries) ToProto(e, out->add_entries());
  out->set_commit(m.commit);
  if (!m.snapshot.IsEmpty()) ToProto(m.snapshot, out->mutable_snapshot());
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint);
  out->set_context(m.context);
}

absl::StatusOr<Message> FromProto(const raftpb::Message& p) {
  if (p.type() < raftpb::MSG_HUP || p.type() > raftpb::MSG_PRE_VOTE_RESP) {
    return absl::InvalidArgumentError(
        absl::StrCat("message has unknown type ", static_cast<int>(p.type())));
  }
  Message m;
  m.type = static_cast<MessageType>(p.type());
  m.to = p.to();
  m.from = p.from();
  m.term = p.term();
  m.log_term = p.log_term();
  m.index = p.index();
  m.entries.reserve(p.entries_size());
  for (const auto& pe : p.entries()) {
    absl::StatusOr<Entry> e = FromProto(pe);
    if (!e.ok()) return e.status();
    m.entries.push_back(std::move(*e));
  }
  m.commit = p.commit();
  if (p.has_snapshot()) m.snapshot = FromProto(p.snapshot());
  m.reject = p.reject();
  m.reject_hint = p.reject_hint();
  m.context = p.context();
  return m;
}

std::string EncodeConfChange(const ConfChange& cc) {
  raftpb::ConfChange p;
  p.set_type(static_cast<raftpb::ConfChangeType>(cc.type));
  p.set_node_id(cc.node_id);
  p.set_context(cc.context);
  return p.SerializeAsString();
}

absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data) {
  raftpb::ConfChange p;
  if (!p.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::InvalidArgumentError("conf change entry does not parse");
  }
  if (p.type() < raftpb::CONF_CHANGE_ADD_NODE || p.type() > raftpb::CONF_CHANGE_ADD_LEARNER_NODE) {
    return absl::InvalidArgumentError(
        absl::StrCat("conf change has unknown type ", static_cast<int>(p.type())));
  }
  if (p.node_id() == kNoNode) return absl::InvalidArgumentError("conf change names node 0");
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(p.type());
  cc.node_id = p.node_id();
  cc.context = p.context();
  return cc;
}

}  // namespace raftkv::raft
