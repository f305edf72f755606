// Codec: FromProto(ToProto(x)) == x for every type, and decoding rejects what
// a corrupted or malicious peer could send.
#include "src/raft/codec.h"

#include "gtest/gtest.h"

namespace raftkv::raft {
namespace {

Entry E(Index index, Term term, EntryType type, std::string data) {
  Entry e;
  e.index = index;
  e.term = term;
  e.type = type;
  e.data = Payload(std::move(data));
  return e;
}

Snapshot S() {
  Snapshot s;
  s.metadata.index = 77;
  s.metadata.term = 5;
  s.metadata.conf_state.voters = {1, 2, 3};
  s.metadata.conf_state.learners = {7};
  s.data = Payload(std::string("snap\0shot", 9));
  return s;
}

void ExpectSnapshotEq(const Snapshot& a, const Snapshot& b) {
  EXPECT_EQ(a.metadata.index, b.metadata.index);
  EXPECT_EQ(a.metadata.term, b.metadata.term);
  EXPECT_EQ(a.metadata.conf_state, b.metadata.conf_state);
  EXPECT_EQ(a.data, b.data);
}

void ExpectMessageEq(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  ExpectSnapshotEq(a.snapshot, b.snapshot);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_hint, b.reject_hint);
  EXPECT_EQ(a.context, b.context);
}

TEST(CodecTest, EntryRoundTrip) {
  for (const Entry& e :
       {Entry{}, E(1, 1, EntryType::kNormal, "x"),
        E(UINT64_MAX, UINT64_MAX - 1, EntryType::kConfChange, std::string(1000, 'z')),
        E(5, 2, EntryType::kNormal, std::string("\0\xff\0", 3))}) {
    raftpb::Entry p;
    ToProto(e, &p);
    // Through the wire bytes too, not just the in-memory proto.
    raftpb::Entry q;
    ASSERT_TRUE(q.ParseFromString(p.SerializeAsString()));
    absl::StatusOr<Entry> back = FromProto(q);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, e) << Describe(e);
  }
}

TEST(CodecTest, HardStateRoundTrip) {
  for (const HardState& hs : {HardState{}, HardState{3, 2, 99}, HardState{UINT64_MAX, 7, 1}}) {
    raftpb::HardState p;
    ToProto(hs, &p);
    EXPECT_EQ(FromProto(p), hs) << Describe(hs);
  }
}

TEST(CodecTest, ConfStateRoundTrip) {
  ConfState empty;
  ConfState cs;
  cs.voters = {1, 2, 3};
  cs.learners = {4, 5};
  for (const ConfState& c : {empty, cs}) {
    raftpb::ConfState p;
    ToProto(c, &p);
    EXPECT_EQ(FromProto(p), c) << Describe(c);
  }
}

TEST(CodecTest, SnapshotRoundTrip) {
  for (const Snapshot& s : {Snapshot{}, S()}) {
    raftpb::Snapshot p;
    ToProto(s, &p);
    raftpb::Snapshot q;
    ASSERT_TRUE(q.ParseFromString(p.SerializeAsString()));
    ExpectSnapshotEq(FromProto(q), s);
  }
}

TEST(CodecTest, MessageRoundTripEveryType) {
  for (int t = 0; t <= static_cast<int>(MessageType::kPreVoteResp); ++t) {
    Message m;
    m.type = static_cast<MessageType>(t);
    m.to = 2;
    m.from = 3;
    m.term = 9;
    m.log_term = 8;
    m.index = 100;
    m.entries = {E(101, 9, EntryType::kNormal, "a"), E(102, 9, EntryType::kConfChange, "b")};
    m.commit = 99;
    if (m.type == MessageType::kSnap) m.snapshot = S();
    m.reject = t % 2 == 0;
    m.reject_hint = 42;
    m.context = std::string("ctx\0x", 5);
    raftpb::Message p;
    ToProto(m, &p);
    raftpb::Message q;
    ASSERT_TRUE(q.ParseFromString(p.SerializeAsString()));
    absl::StatusOr<Message> back = FromProto(q);
    ASSERT_TRUE(back.ok()) << back.status();
    SCOPED_TRACE(MessageTypeName(m.type));
    ExpectMessageEq(*back, m);
  }
}

TEST(CodecTest, EmptyMessageRoundTrip) {
  Message m;
  raftpb::Message p;
  ToProto(m, &p);
  absl::StatusOr<Message> back = FromProto(p);
  ASSERT_TRUE(back.ok());
  ExpectMessageEq(*back, m);
}

TEST(CodecTest, ConfChangeRoundTrip) {
  for (ConfChangeType t :
       {ConfChangeType::kAddNode, ConfChangeType::kRemoveNode, ConfChangeType::kAddLearnerNode}) {
    ConfChange cc;
    cc.type = t;
    cc.node_id = 12345678901ULL;
    cc.context = std::string("addr\0:1", 7);
    absl::StatusOr<ConfChange> back = DecodeConfChange(EncodeConfChange(cc));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->type, cc.type);
    EXPECT_EQ(back->node_id, cc.node_id);
    EXPECT_EQ(back->context, cc.context);
  }
}

TEST(CodecTest, DecodeConfChangeRejectsGarbage) {
  EXPECT_EQ(DecodeConfChange("\xff\xff\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodeConfChange(std::string("\x0a\x05"
                                            "ab",
                                            4))
                   .ok())
      << "truncated field";
  EXPECT_FALSE(DecodeConfChange("").ok()) << "node 0";

  raftpb::ConfChange p;
  p.set_type(static_cast<raftpb::ConfChangeType>(9));
  p.set_node_id(4);
  absl::StatusOr<ConfChange> bad = DecodeConfChange(p.SerializeAsString());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  p.set_type(static_cast<raftpb::ConfChangeType>(-1));
  EXPECT_FALSE(DecodeConfChange(p.SerializeAsString()).ok());

  p.set_type(raftpb::CONF_CHANGE_ADD_NODE);
  p.set_node_id(0);
  EXPECT_FALSE(DecodeConfChange(p.SerializeAsString()).ok());
}

TEST(CodecTest, FromProtoRejectsUnknownEnums) {
  raftpb::Entry pe;
  pe.set_type(static_cast<raftpb::EntryType>(2));
  EXPECT_EQ(FromProto(pe).status().code(), absl::StatusCode::kInvalidArgument);
  pe.set_type(static_cast<raftpb::EntryType>(-3));
  EXPECT_FALSE(FromProto(pe).ok());

  raftpb::Message pm;
  pm.set_type(static_cast<raftpb::MessageType>(19));
  EXPECT_EQ(FromProto(pm).status().code(), absl::StatusCode::kInvalidArgument);
  pm.set_type(static_cast<raftpb::MessageType>(-1));
  EXPECT_FALSE(FromProto(pm).ok());

  // A bad entry inside an otherwise valid message.
  pm.set_type(raftpb::MSG_APP);
  pm.add_entries()->set_type(static_cast<raftpb::EntryType>(7));
  EXPECT_FALSE(FromProto(pm).ok());
}

TEST(CodecTest, PayloadSurvivesEmbeddedZeroes) {
  std::string raw("\0\0\x01\0", 4);
  Payload p(raw);
  EXPECT_EQ(p.size(), 4u);
  EXPECT_EQ(p.ToString(), raw);
  EXPECT_TRUE(Payload().empty());
  EXPECT_TRUE(Payload(std::string()).empty());
}

}  // namespace
}  // namespace raftkv::raft
