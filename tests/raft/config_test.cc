// Config::Validate, RawNode::Create's checks, and Step's refusal of local
// message types.
#include "gtest/gtest.h"
#include "src/raft/raw_node.h"

namespace raftkv::raft {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    ConfState cs;
    cs.voters = {1, 2, 3};
    storage_.Bootstrap(cs);
  }
  Config Good() const {
    Config c;
    c.id = 1;
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c.storage = &storage_;
    c.seed = 1;
    return c;
  }
  MemoryStorage storage_;
};

TEST_F(ConfigTest, DefaultsWithIdAndStorageAreValid) {
  EXPECT_TRUE(Good().Validate().ok()) << Good().Validate();
  EXPECT_TRUE(RawNode::Create(Good()).ok());
}

TEST_F(ConfigTest, RejectsBadConfigs) {
  struct Case {
    const char* what;
    void (*mutate)(Config&);
  };
  const Case cases[] = {
      {"id 0", [](Config& c) { c.id = kNoNode; }},
      {"heartbeat_tick == election_tick", [](Config& c) { c.heartbeat_tick = c.election_tick; }},
      {"heartbeat_tick > election_tick", [](Config& c) { c.heartbeat_tick = c.election_tick + 1; }},
      {"heartbeat_tick 0", [](Config& c) { c.heartbeat_tick = 0; }},
      {"heartbeat_tick < 0", [](Config& c) { c.heartbeat_tick = -1; }},
      {"election_tick 0", [](Config& c) { c.election_tick = 0; }},
      {"null storage", [](Config& c) { c.storage = nullptr; }},
      {"max_inflight_msgs 0", [](Config& c) { c.max_inflight_msgs = 0; }},
      {"max_inflight_msgs < 0", [](Config& c) { c.max_inflight_msgs = -5; }},
      {"lease reads without check_quorum",
       [](Config& c) {
         c.read_only_option = ReadOnlyOption::kLeaseBased;
         c.check_quorum = false;
       }},
  };
  for (const Case& k : cases) {
    Config c = Good();
    k.mutate(c);
    absl::Status s = c.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.what << ": " << s;
    EXPECT_FALSE(s.message().empty()) << k.what;
    absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(c);
    EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument) << k.what;
  }
}

TEST_F(ConfigTest, LeaseReadsWithCheckQuorumAreValid) {
  Config c = Good();
  c.read_only_option = ReadOnlyOption::kLeaseBased;
  c.check_quorum = true;
  EXPECT_TRUE(c.Validate().ok());
}

TEST_F(ConfigTest, StepRefusesLocalMessageTypes) {
  absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(Good());
  ASSERT_TRUE(n.ok()) << n.status();
  RawNode& raw = **n;
  for (MessageType t : {MessageType::kHup, MessageType::kBeat, MessageType::kUnreachable,
                        MessageType::kSnapStatus, MessageType::kCheckQuorum}) {
    EXPECT_TRUE(IsLocalMessage(t)) << MessageTypeName(t);
    Message m;
    m.type = t;
    m.from = 2;
    m.to = 1;
    absl::Status s = raw.Step(m);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << MessageTypeName(t) << ": " << s;
  }
  // In particular a remote kHup did not start an election.
  EXPECT_EQ(raw.GetStatus().soft_state.role, StateRole::kFollower);
  EXPECT_EQ(raw.GetStatus().hard_state.term, 0u);
  if (raw.HasReady()) {
    Ready rd = raw.GetReady();
    EXPECT_TRUE(rd.messages.empty());
    raw.Advance();
  }
}

TEST_F(ConfigTest, ResponseFromNonMemberIsIgnored) {
  Config c = Good();
  ConfState cs;
  cs.voters = {1};
  MemoryStorage solo;
  solo.Bootstrap(cs);
  c.storage = &solo;
  absl::StatusOr<std::unique_ptr<RawNode>> n = RawNode::Create(c);
  ASSERT_TRUE(n.ok());
  RawNode& raw = **n;
  ASSERT_TRUE(raw.Campaign().ok());
  while (raw.HasReady()) {
    Ready rd = raw.GetReady();
    ASSERT_TRUE(solo.Append(rd.entries).ok());
    if (!rd.hard_state.IsEmpty()) solo.SetHardState(rd.hard_state);
    raw.Advance();
  }
  ASSERT_EQ(raw.GetStatus().soft_state.role, StateRole::kLeader);
  for (MessageType t :
       {MessageType::kAppResp, MessageType::kHeartbeatResp, MessageType::kVoteResp}) {
    Message m;
    m.type = t;
    m.from = 9;
    m.to = 1;
    m.term = raw.GetStatus().hard_state.term;
    m.index = 100;
    (void)raw.Step(m);  // an error or OK; either way no effect
  }
  NodeStatus st = raw.GetStatus();
  EXPECT_EQ(st.soft_state.role, StateRole::kLeader);
  EXPECT_EQ(st.progress.count(9), 0u);
  EXPECT_EQ(st.hard_state.commit, 1u);
}

TEST(MessageTypeTest, Classification) {
  EXPECT_FALSE(IsLocalMessage(MessageType::kProp));
  EXPECT_FALSE(IsLocalMessage(MessageType::kApp));
  EXPECT_FALSE(IsLocalMessage(MessageType::kTransferLeader));
  EXPECT_FALSE(IsLocalMessage(MessageType::kReadIndex));
  EXPECT_TRUE(IsResponseMessage(MessageType::kAppResp));
  EXPECT_TRUE(IsResponseMessage(MessageType::kPreVoteResp));
  EXPECT_FALSE(IsResponseMessage(MessageType::kApp));
  for (int t = 0; t <= static_cast<int>(MessageType::kPreVoteResp); ++t) {
    EXPECT_NE(std::string(MessageTypeName(static_cast<MessageType>(t))), "");
  }
}

}  // namespace
}  // namespace raftkv::raft
