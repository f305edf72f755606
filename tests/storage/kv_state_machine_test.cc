// Tests of KvStateMachine: every op, every Txn compare, revision semantics,
// atomic and idempotent apply, and recovery across reopen.
#include "src/storage/kv_state_machine.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/rng.h"
#include "src/storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Command PutCmd(const std::string& key, const std::string& value, bool prev_kv = false) {
  v1::Command cmd;
  cmd.set_session_id(1);
  cmd.mutable_put()->set_key(key);
  cmd.mutable_put()->set_value(value);
  cmd.mutable_put()->set_prev_kv(prev_kv);
  return cmd;
}

v1::Command DeleteCmd(const std::string& key, const std::string& range_end = "",
                      bool prefix = false, bool prev_kv = false) {
  v1::Command cmd;
  v1::DeleteRangeRequest* req = cmd.mutable_delete_range();
  req->set_key(key);
  req->set_range_end(range_end);
  req->set_prefix(prefix);
  req->set_prev_kv(prev_kv);
  return cmd;
}

v1::RangeRequest RangeReq(const std::string& key, const std::string& range_end = "",
                          bool prefix = false) {
  v1::RangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  req.set_prefix(prefix);
  return req;
}

v1::RequestOp PutOp(const std::string& key, const std::string& value) {
  v1::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value(value);
  return op;
}

v1::RequestOp RangeOp(const std::string& key, const std::string& range_end = "") {
  v1::RequestOp op;
  *op.mutable_request_range() = RangeReq(key, range_end);
  return op;
}

v1::RequestOp DeleteOp(const std::string& key) {
  v1::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  return op;
}

std::vector<std::string> Keys(const v1::RangeResponse& r) {
  std::vector<std::string> keys;
  for (const v1::KeyValue& kv : r.kvs()) keys.push_back(kv.key());
  return keys;
}

class KvStateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    sm_.reset();
    db_.reset();
    auto db = Db::Open(tmp_.path(), 1, 1);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto sm = KvStateMachine::Open(db_.get());
    ASSERT_TRUE(sm.ok()) << sm.status();
    sm_ = std::move(*sm);
  }

  // Applies cmd at the next index; expects success.
  v1::CommandResult Apply(const v1::Command& cmd) {
    auto outcome = sm_->Apply(sm_->AppliedIndex() + 1, 1, cmd);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    if (!outcome.ok()) return {};
    EXPECT_FALSE(outcome->already_applied);
    EXPECT_TRUE(outcome->status.ok()) << outcome->status;
    return outcome->result;
  }

  v1::RangeResponse Range(const v1::RangeRequest& req) {
    auto r = sm_->Range(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::RangeResponse();
  }

  // The stored key; fails the test if absent.
  v1::KeyValue Get(const std::string& key) {
    v1::RangeResponse r = Range(RangeReq(key));
    EXPECT_EQ(r.kvs_size(), 1) << "key " << key;
    return r.kvs_size() == 1 ? r.kvs(0) : v1::KeyValue();
  }

  testing::TempDir tmp_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<KvStateMachine> sm_;
};

TEST_F(KvStateMachineTest, FreshStateIsEmpty) {
  EXPECT_EQ(sm_->AppliedIndex(), 0u);
  EXPECT_EQ(sm_->Revision(), 0u);
  v1::RangeResponse r = Range(RangeReq("", "", /*prefix=*/true));
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(r.header().revision(), 0u);
}

TEST_F(KvStateMachineTest, PutSetsRevisionsAndVersion) {
  v1::CommandResult r1 = Apply(PutCmd("a", "1"));
  EXPECT_EQ(r1.put().header().revision(), 1u);
  EXPECT_FALSE(r1.put().has_prev_kv());
  v1::KeyValue a = Get("a");
  EXPECT_EQ(a.value(), "1");
  EXPECT_EQ(a.create_revision(), 1u);
  EXPECT_EQ(a.mod_revision(), 1u);
  EXPECT_EQ(a.version(), 1u);

  Apply(PutCmd("b", "x"));
  v1::CommandResult r3 = Apply(PutCmd("a", "2", /*prev_kv=*/true));
  EXPECT_EQ(r3.put().header().revision(), 3u);
  EXPECT_EQ(r3.put().prev_kv().value(), "1");
  EXPECT_EQ(r3.put().prev_kv().key(), "a");
  a = Get("a");
  EXPECT_EQ(a.value(), "2");
  EXPECT_EQ(a.create_revision(), 1u);
  EXPECT_EQ(a.mod_revision(), 3u);
  EXPECT_EQ(a.version(), 2u);

  // The same value again is still a write.
  Apply(PutCmd("a", "2"));
  EXPECT_EQ(Get("a").version(), 3u);
  EXPECT_EQ(sm_->Revision(), 4u);
  EXPECT_EQ(sm_->AppliedIndex(), 4u);
}

TEST_F(KvStateMachineTest, RangeSelectsKeysLikeEtcd) {
  for (const char* k : {"a", "ab", "abc", "b", "ba", "c"}) Apply(PutCmd(k, std::string("v") + k));
  EXPECT_THAT(Keys(Range(RangeReq("ab"))), ElementsAre("ab"));
  EXPECT_THAT(Keys(Range(RangeReq("zz"))), ElementsAre());
  EXPECT_THAT(Keys(Range(RangeReq("ab", "b"))), ElementsAre("ab", "abc"));
  EXPECT_THAT(Keys(Range(RangeReq("b", std::string(1, '\0')))), ElementsAre("b", "ba", "c"));
  EXPECT_THAT(Keys(Range(RangeReq("a", "", true))), ElementsAre("a", "ab", "abc"));
  EXPECT_THAT(Keys(Range(RangeReq("", "", true))), ElementsAre("a", "ab", "abc", "b", "ba", "c"));
  EXPECT_THAT(Keys(Range(RangeReq("c", "a"))), ElementsAre());  // end <= begin

  v1::RangeRequest limited = RangeReq("", "", true);
  limited.set_limit(2);
  v1::RangeResponse r = Range(limited);
  EXPECT_THAT(Keys(r), ElementsAre("a", "ab"));
  EXPECT_TRUE(r.more());
  EXPECT_EQ(r.count(), 6u);
  EXPECT_EQ(r.header().revision(), 6u);

  v1::RangeRequest keys_only = RangeReq("b", "", true);
  keys_only.set_keys_only(true);
  r = Range(keys_only);
  ASSERT_EQ(r.kvs_size(), 2);
  EXPECT_EQ(r.kvs(0).value(), "");
  EXPECT_EQ(r.kvs(0).mod_revision(), 4u);
  EXPECT_FALSE(r.more());

  v1::RangeRequest count_only = RangeReq("a", "c");
  count_only.set_count_only(true);
  r = Range(count_only);
  EXPECT_EQ(r.kvs_size(), 0);
  EXPECT_EQ(r.count(), 5u);
}

TEST_F(KvStateMachineTest, PrefixOfHighBytes) {
  std::string ff(2, '\xff');
  Apply(PutCmd(ff, "1"));
  Apply(PutCmd(ff + "x", "2"));
  Apply(PutCmd("\xfe", "3"));
  EXPECT_THAT(Keys(Range(RangeReq(ff, "", true))), ElementsAre(ff, ff + "x"));
}

TEST_F(KvStateMachineTest, DeleteRange) {
  for (const char* k : {"a", "b1", "b2", "b3", "c"}) Apply(PutCmd(k, "v"));
  ASSERT_EQ(sm_->Revision(), 5u);

  v1::CommandResult r = Apply(DeleteCmd("a", "", false, /*prev_kv=*/true));
  EXPECT_EQ(r.delete_range().deleted(), 1u);
  ASSERT_EQ(r.delete_range().prev_kvs_size(), 1);
  EXPECT_EQ(r.delete_range().prev_kvs(0).key(), "a");
  EXPECT_EQ(r.delete_range().header().revision(), 6u);

  r = Apply(DeleteCmd("b", "", /*prefix=*/true));
  EXPECT_EQ(r.delete_range().deleted(), 3u);
  EXPECT_EQ(r.delete_range().prev_kvs_size(), 0);
  EXPECT_EQ(sm_->Revision(), 7u);  // one revision for the whole range

  // Deleting nothing keeps the revision but still applies the entry.
  r = Apply(DeleteCmd("zzz"));
  EXPECT_EQ(r.delete_range().deleted(), 0u);
  EXPECT_EQ(r.delete_range().header().revision(), 7u);
  EXPECT_EQ(sm_->Revision(), 7u);
  EXPECT_EQ(sm_->AppliedIndex(), 8u);

  EXPECT_THAT(Keys(Range(RangeReq("", "", true))), ElementsAre("c"));
  r = Apply(DeleteCmd("a", std::string(1, '\0')));
  EXPECT_EQ(r.delete_range().deleted(), 1u);
  EXPECT_EQ(Range(RangeReq("", "", true)).count(), 0u);
}

TEST_F(KvStateMachineTest, RecreatedKeyStartsOver) {
  Apply(PutCmd("k", "1"));
  Apply(PutCmd("k", "2"));
  Apply(DeleteCmd("k"));
  Apply(PutCmd("k", "3"));
  v1::KeyValue k = Get("k");
  EXPECT_EQ(k.create_revision(), 4u);
  EXPECT_EQ(k.mod_revision(), 4u);
  EXPECT_EQ(k.version(), 1u);
}

struct CompareCase {
  v1::Compare::CompareTarget target;
  v1::Compare::CompareResult result;
  uint64_t number;    // for VERSION, CREATE, MOD
  std::string value;  // for VALUE
  bool want;
};

// Key "k": value "m", create_revision 2, mod_revision 3, version 2.
TEST_F(KvStateMachineTest, EveryCompareTargetAndResult) {
  using C = v1::Compare;
  Apply(PutCmd("other", "x"));  // revision 1
  Apply(PutCmd("k", "a"));      // revision 2
  Apply(PutCmd("k", "m"));      // revision 3
  const std::vector<CompareCase> cases = {
      {C::VERSION, C::EQUAL, 2, "", true},     {C::VERSION, C::EQUAL, 1, "", false},
      {C::VERSION, C::NOT_EQUAL, 1, "", true}, {C::VERSION, C::NOT_EQUAL, 2, "", false},
      {C::VERSION, C::GREATER, 1, "", true},   {C::VERSION, C::GREATER, 2, "", false},
      {C::VERSION, C::LESS, 3, "", true},      {C::VERSION, C::LESS, 2, "", false},
      {C::CREATE, C::EQUAL, 2, "", true},      {C::CREATE, C::EQUAL, 3, "", false},
      {C::CREATE, C::NOT_EQUAL, 3, "", true},  {C::CREATE, C::GREATER, 1, "", true},
      {C::CREATE, C::GREATER, 2, "", false},   {C::CREATE, C::LESS, 3, "", true},
      {C::CREATE, C::LESS, 2, "", false},      {C::MOD, C::EQUAL, 3, "", true},
      {C::MOD, C::EQUAL, 2, "", false},        {C::MOD, C::NOT_EQUAL, 2, "", true},
      {C::MOD, C::GREATER, 2, "", true},       {C::MOD, C::GREATER, 3, "", false},
      {C::MOD, C::LESS, 4, "", true},          {C::MOD, C::LESS, 3, "", false},
      {C::VALUE, C::EQUAL, 0, "m", true},      {C::VALUE, C::EQUAL, 0, "a", false},
      {C::VALUE, C::NOT_EQUAL, 0, "a", true},  {C::VALUE, C::NOT_EQUAL, 0, "m", false},
      {C::VALUE, C::GREATER, 0, "l", true},    {C::VALUE, C::GREATER, 0, "mm", false},
      {C::VALUE, C::LESS, 0, "mm", true},      {C::VALUE, C::LESS, 0, "m", false},
  };
  for (const CompareCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << C::CompareTarget_Name(c.target) << " " << C::CompareResult_Name(c.result) << " "
                 << c.number << " '" << c.value << "'");
    v1::Command cmd;
    v1::Compare* cmp = cmd.mutable_txn()->add_compare();
    cmp->set_key("k");
    cmp->set_target(c.target);
    cmp->set_result(c.result);
    switch (c.target) {
      case C::VERSION:
        cmp->set_version(c.number);
        break;
      case C::CREATE:
        cmp->set_create_revision(c.number);
        break;
      case C::MOD:
        cmp->set_mod_revision(c.number);
        break;
      default:
        cmp->set_value(c.value);
    }
    *cmd.mutable_txn()->add_success() = RangeOp("k");
    v1::CommandResult r = Apply(cmd);
    EXPECT_EQ(r.txn().succeeded(), c.want);
    EXPECT_EQ(r.txn().responses_size(), c.want ? 1 : 0);
  }
  EXPECT_EQ(sm_->Revision(), 3u);  // read-only txns change nothing
}

TEST_F(KvStateMachineTest, CompareOnMissingKey) {
  using C = v1::Compare;
  auto run = [&](C::CompareTarget target, C::CompareResult result, uint64_t n) {
    v1::Command cmd;
    v1::Compare* cmp = cmd.mutable_txn()->add_compare();
    cmp->set_key("missing");
    cmp->set_target(target);
    cmp->set_result(result);
    if (target == C::VERSION) cmp->set_version(n);
    if (target == C::CREATE) cmp->set_create_revision(n);
    if (target == C::MOD) cmp->set_mod_revision(n);
    return Apply(cmd).txn().succeeded();
  };
  // Missing keys have version and revisions 0 ("create if absent" idiom)...
  EXPECT_TRUE(run(C::VERSION, C::EQUAL, 0));
  EXPECT_TRUE(run(C::CREATE, C::EQUAL, 0));
  EXPECT_TRUE(run(C::MOD, C::LESS, 1));
  // ...and a value compare on them never holds, as in etcd.
  EXPECT_FALSE(run(C::VALUE, C::EQUAL, 0));
  EXPECT_FALSE(run(C::VALUE, C::NOT_EQUAL, 0));
}

TEST_F(KvStateMachineTest, TxnIsAtomicAtOneRevisionAndOpsSeeEarlierOps) {
  Apply(PutCmd("gone", "x"));  // revision 1
  v1::Command cmd;
  v1::TxnRequest* txn = cmd.mutable_txn();
  v1::Compare* cmp = txn->add_compare();
  cmp->set_key("gone");
  cmp->set_target(v1::Compare::VALUE);
  cmp->set_value("x");
  *txn->add_success() = PutOp("a", "1");
  *txn->add_success() = PutOp("a", "2");
  *txn->add_success() = RangeOp("a");
  *txn->add_success() = DeleteOp("gone");
  *txn->add_success() = RangeOp(std::string(1, '\0'), std::string(1, '\0'));  // all keys
  *txn->add_failure() = PutOp("failed", "1");
  v1::CommandResult r = Apply(cmd);
  ASSERT_TRUE(r.txn().succeeded());
  EXPECT_EQ(r.txn().header().revision(), 2u);
  ASSERT_EQ(r.txn().responses_size(), 5);
  const v1::RangeResponse& seen_a = r.txn().responses(2).response_range();
  ASSERT_EQ(seen_a.kvs_size(), 1);
  EXPECT_EQ(seen_a.kvs(0).value(), "2");
  EXPECT_EQ(seen_a.kvs(0).version(), 2u);
  EXPECT_EQ(seen_a.header().revision(), 2u);
  EXPECT_EQ(r.txn().responses(3).response_delete_range().deleted(), 1u);
  EXPECT_THAT(Keys(r.txn().responses(4).response_range()), ElementsAre("a"));

  EXPECT_EQ(sm_->Revision(), 2u);
  v1::KeyValue a = Get("a");
  EXPECT_EQ(a.create_revision(), 2u);
  EXPECT_EQ(a.mod_revision(), 2u);
  EXPECT_EQ(a.version(), 2u);
  EXPECT_THAT(Keys(Range(RangeReq("", "", true))), ElementsAre("a"));
}

TEST_F(KvStateMachineTest, TxnFailureBranch) {
  v1::Command cmd;
  v1::Compare* cmp = cmd.mutable_txn()->add_compare();
  cmp->set_key("lock");
  cmp->set_target(v1::Compare::VERSION);
  cmp->set_result(v1::Compare::GREATER);
  cmp->set_version(0);
  *cmd.mutable_txn()->add_success() = PutOp("s", "1");
  *cmd.mutable_txn()->add_failure() = PutOp("f", "1");
  *cmd.mutable_txn()->add_failure() = PutOp("lock", "held");
  v1::CommandResult r = Apply(cmd);
  EXPECT_FALSE(r.txn().succeeded());
  EXPECT_EQ(r.txn().responses_size(), 2);
  EXPECT_TRUE(r.txn().responses(0).has_response_put());
  EXPECT_EQ(sm_->Revision(), 1u);
  EXPECT_THAT(Keys(Range(RangeReq("", "", true))), ElementsAre("f", "lock"));
  // Now the lock exists: the success branch runs.
  r = Apply(cmd);
  EXPECT_TRUE(r.txn().succeeded());
  EXPECT_THAT(Keys(Range(RangeReq("", "", true))), ElementsAre("f", "lock", "s"));
  EXPECT_EQ(sm_->Revision(), 2u);
}

TEST_F(KvStateMachineTest, ReplayedIndexIsIgnored) {
  ASSERT_TRUE(sm_->Apply(1, 1, PutCmd("a", "1")).ok());
  auto again = sm_->Apply(1, 1, PutCmd("a", "other"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_applied);
  EXPECT_EQ(Get("a").value(), "1");
  EXPECT_EQ(Get("a").version(), 1u);
  EXPECT_EQ(sm_->Revision(), 1u);
  EXPECT_EQ(sm_->AppliedIndex(), 1u);
  // After a restart too.
  Reopen();
  again = sm_->Apply(1, 1, PutCmd("a", "other"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_applied);
  EXPECT_EQ(Get("a").value(), "1");
}

TEST_F(KvStateMachineTest, SkippingAheadIsRefused) {
  auto outcome = sm_->Apply(2, 1, PutCmd("a", "1"));
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sm_->AppliedIndex(), 0u);
}

TEST_F(KvStateMachineTest, InvalidCommandIsAppliedAsNothing) {
  v1::Command empty;  // no op
  auto outcome = sm_->Apply(1, 1, empty);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sm_->AppliedIndex(), 1u);

  outcome = sm_->Apply(2, 1, PutCmd("", "v"));  // empty key
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outcome->status.message(), HasSubstr("key is empty"));
  EXPECT_EQ(sm_->AppliedIndex(), 2u);
  EXPECT_EQ(sm_->Revision(), 0u);

  raft::Entry garbage;
  garbage.index = 3;
  garbage.term = 1;
  garbage.data = raft::Payload(std::string("\xff\xff\xff", 3));
  outcome = sm_->ApplyEntry(garbage);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sm_->AppliedIndex(), 3u);
}

TEST_F(KvStateMachineTest, EntriesNoopsAndConfChangesAdvanceTheAppliedIndex) {
  raft::Entry leader_noop;
  leader_noop.index = 1;
  leader_noop.term = 2;
  ASSERT_TRUE(sm_->ApplyEntry(leader_noop).ok());

  raft::Entry put;
  put.index = 2;
  put.term = 2;
  put.data = raft::Payload(PutCmd("a", "1").SerializeAsString());
  auto outcome = sm_->ApplyEntry(put);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->result.put().header().revision(), 1u);

  raft::Entry cc;
  cc.index = 3;
  cc.term = 2;
  cc.type = raft::EntryType::kConfChange;
  ASSERT_TRUE(sm_->ApplyEntry(cc).ok());

  raft::ConfState cs;
  cs.voters = {1, 2, 3};
  cs.learners = {4};
  outcome = sm_->ApplyConfChange(4, 3, cs);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->result.noop().revision(), 1u);

  v1::Command noop;
  noop.mutable_noop();
  EXPECT_EQ(Apply(noop).noop().revision(), 1u);

  EXPECT_EQ(sm_->AppliedIndex(), 5u);
  EXPECT_EQ(sm_->AppliedTerm(), 1u);
  EXPECT_EQ(sm_->Revision(), 1u);

  Reopen();
  EXPECT_EQ(sm_->AppliedIndex(), 5u);
  auto log = RaftLogStore::Open(db_.get());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->GetInitialState()->conf_state, cs);
}

TEST_F(KvStateMachineTest, StateRevisionAndAppliedIndexSurviveReopenTogether) {
  for (int i = 0; i < 20; ++i) Apply(PutCmd("k" + std::to_string(i % 7), std::to_string(i)));
  Apply(DeleteCmd("k3"));
  Apply(DeleteCmd("nothing"));
  const uint64_t applied = sm_->AppliedIndex();
  const uint64_t revision = sm_->Revision();
  v1::RangeResponse before = Range(RangeReq("", "", true));
  EXPECT_EQ(applied, 22u);
  EXPECT_EQ(revision, 21u);
  EXPECT_EQ(before.header().revision(), revision);

  Reopen();
  EXPECT_EQ(sm_->AppliedIndex(), applied);
  EXPECT_EQ(sm_->AppliedTerm(), 1u);
  EXPECT_EQ(sm_->Revision(), revision);
  v1::RangeResponse after = Range(RangeReq("", "", true));
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  // Revisions continue from where they were.
  EXPECT_EQ(Apply(PutCmd("new", "v")).put().header().revision(), revision + 1);
  EXPECT_GT(sm_->ApproximateSizeBytes(), 0u);
}

TEST_F(KvStateMachineTest, RangeRejectsPastRevisions) {
  v1::RangeRequest req = RangeReq("a");
  req.set_revision(3);
  EXPECT_EQ(sm_->Range(req).status().code(), absl::StatusCode::kUnimplemented);
}

// ApplyBatch (one RocksDB write for many entries) must equal applying the same
// entries one at a time: same outcomes, same state, same revision. Random
// commands over a few keys, so later entries of a batch read what earlier
// ones wrote (puts, deletes, CAS txns, invalid and undecodable entries, no-ops,
// conf changes).
TEST(KvStateMachineBatchTest, BatchEqualsOneByOne) {
  testing::TempDir one_dir, batch_dir;
  auto one_db = Db::Open(one_dir.path(), 1, 1);
  auto batch_db = Db::Open(batch_dir.path(), 1, 1);
  ASSERT_TRUE(one_db.ok() && batch_db.ok());
  auto one = KvStateMachine::Open(one_db->get());
  auto batched = KvStateMachine::Open(batch_db->get());
  ASSERT_TRUE(one.ok() && batched.ok());

  Rng rng(12345);
  auto next = [&rng](uint64_t n) { return rng.Uniform(n); };
  raft::Index index = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<raft::Entry> entries;
    std::map<raft::Index, raft::ConfState> conf_states;
    int n = 1 + static_cast<int>(next(20));
    for (int i = 0; i < n; ++i) {
      raft::Entry e;
      e.index = ++index;
      e.term = 1 + round / 10;
      std::string key = "k" + std::to_string(next(4));
      std::string value = "v" + std::to_string(index);
      v1::Command cmd;
      switch (next(8)) {
        case 0:
          cmd = DeleteCmd(key, "", false, true);
          break;
        case 1: {
          v1::TxnRequest* txn = cmd.mutable_txn();
          v1::Compare* c = txn->add_compare();
          c->set_key(key);
          c->set_target(v1::Compare::VALUE);
          c->set_result(v1::Compare::EQUAL);
          c->set_value("v" + std::to_string(index - 1 - next(3)));
          *txn->add_success() = PutOp(key, value);
          *txn->add_success() = RangeOp("k", "l");
          *txn->add_failure() = RangeOp(key);
          break;
        }
        case 2:
          cmd = PutCmd("", value);  // invalid: empty key
          break;
        case 3:
          e.data = raft::Payload(std::string("\xff\xff not a command"));
          break;
        case 4:
          break;  // leader no-op (empty data)
        case 5:
          e.type = raft::EntryType::kConfChange;
          conf_states[e.index].voters = {1, 2, static_cast<raft::NodeId>(3 + next(3))};
          break;
        default:
          cmd = PutCmd(key, value, true);
      }
      if (e.data.empty() && e.type == raft::EntryType::kNormal && cmd.op_case() != 0) {
        e.data = raft::Payload(cmd.SerializeAsString());
      }
      entries.push_back(e);
    }
    // Sometimes replay the start of the batch (already applied entries).
    std::vector<raft::Entry> batch = entries;
    if (round > 0 && next(4) == 0) {
      raft::Entry old;
      old.index = entries.front().index - 1;
      old.term = 1;
      batch.insert(batch.begin(), old);
    }
    auto outcomes = (*batched)->ApplyBatch(batch, conf_states);
    ASSERT_TRUE(outcomes.ok()) << outcomes.status();
    ASSERT_EQ(outcomes->size(), batch.size());
    size_t offset = batch.size() - entries.size();
    for (size_t i = 0; i < offset; ++i) EXPECT_TRUE((*outcomes)[i].already_applied);
    for (size_t i = 0; i < entries.size(); ++i) {
      const raft::Entry& e = entries[i];
      auto cs = conf_states.find(e.index);
      auto single = cs != conf_states.end() ? (*one)->ApplyConfChange(e.index, e.term, cs->second)
                                            : (*one)->ApplyEntry(e);
      ASSERT_TRUE(single.ok()) << single.status();
      const storage::ApplyOutcome& b = (*outcomes)[offset + i];
      EXPECT_FALSE(b.already_applied);
      EXPECT_EQ(b.status, single->status) << "entry " << e.index;
      EXPECT_EQ(b.result.SerializeAsString(), single->result.SerializeAsString())
          << "entry " << e.index << ": " << b.result.ShortDebugString() << " vs "
          << single->result.ShortDebugString();
    }
    EXPECT_EQ((*batched)->AppliedIndex(), (*one)->AppliedIndex());
    EXPECT_EQ((*batched)->AppliedTerm(), (*one)->AppliedTerm());
    EXPECT_EQ((*batched)->Revision(), (*one)->Revision());
    auto all_one = (*one)->Range(RangeReq("", "", true));
    auto all_batched = (*batched)->Range(RangeReq("", "", true));
    ASSERT_TRUE(all_one.ok() && all_batched.ok());
    EXPECT_EQ(all_batched->SerializeAsString(), all_one->SerializeAsString());
  }
  EXPECT_GT((*one)->Revision(), 20u);  // the random commands did change things

  // A batch that skips ahead is refused and applies nothing.
  raft::Entry gap;
  gap.index = index + 2;
  gap.term = 9;
  auto refused = (*batched)->ApplyBatch({gap}, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*batched)->AppliedIndex(), index);
}

// The KeyMetaCache must never change a result: a state machine with a tiny
// cache (cleared every few keys) and one with the default cache apply the same
// random batches as one without any, and every outcome and the whole state
// must match. Batches mix Puts with and without prev_kv, deletes of one key
// and of ranges, and Txns that put and delete, so a key is written, deleted
// and recreated within one batch and across batches; the cached machines are
// sometimes reopened (their caches start empty again).
TEST(KvStateMachineCacheTest, CachedEqualsUncached) {
  struct Replica {
    testing::TempDir dir;
    std::unique_ptr<Db> db;
    std::unique_ptr<KvStateMachine> sm;
    size_t cached_keys;
    void Open() {
      sm.reset();
      db.reset();
      auto d = Db::Open(dir.path(), 1, 1);
      ASSERT_TRUE(d.ok()) << d.status();
      db = std::move(*d);
      auto m = KvStateMachine::Open(db.get(), cached_keys);
      ASSERT_TRUE(m.ok()) << m.status();
      sm = std::move(*m);
    }
  };
  Replica plain, tiny, full;
  plain.cached_keys = 0;
  tiny.cached_keys = 3;
  full.cached_keys = KvStateMachine::kDefaultCachedKeys;
  for (Replica* r : {&plain, &tiny, &full}) r->Open();

  Rng rng(777);
  auto next = [&rng](uint64_t n) { return rng.Uniform(n); };
  raft::Index index = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<raft::Entry> entries;
    int n = 1 + static_cast<int>(next(12));
    for (int i = 0; i < n; ++i) {
      std::string key = "k" + std::to_string(next(6));
      std::string value = "v" + std::to_string(index + 1);
      v1::Command cmd;
      switch (next(10)) {
        case 0:
          cmd = DeleteCmd(key);
          break;
        case 1:
          cmd = DeleteCmd("k" + std::to_string(next(3)), "k" + std::to_string(3 + next(4)));
          break;
        case 2: {
          v1::TxnRequest* txn = cmd.mutable_txn();
          v1::Compare* c = txn->add_compare();
          c->set_key(key);
          c->set_target(v1::Compare::VERSION);
          c->set_result(v1::Compare::GREATER);
          c->set_version(next(3));
          *txn->add_success() = PutOp(key, value);
          *txn->add_success() = DeleteOp("k" + std::to_string(next(6)));
          *txn->add_success() = PutOp(key, value + "'");
          *txn->add_failure() = PutOp("k" + std::to_string(next(6)), value);
          break;
        }
        case 3:
          cmd = PutCmd(key, value, /*prev_kv=*/true);
          break;
        default:
          cmd = PutCmd(key, value);
      }
      raft::Entry e;
      e.index = ++index;
      e.term = 1;
      e.data = raft::Payload(cmd.SerializeAsString());
      entries.push_back(std::move(e));
    }
    auto want = plain.sm->ApplyBatch(entries, {});
    ASSERT_TRUE(want.ok()) << want.status();
    for (Replica* r : {&tiny, &full}) {
      SCOPED_TRACE(::testing::Message() << "cached_keys " << r->cached_keys << " round " << round);
      auto got = r->sm->ApplyBatch(entries, {});
      ASSERT_TRUE(got.ok()) << got.status();
      for (size_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ((*got)[i].result.SerializeAsString(), (*want)[i].result.SerializeAsString())
            << "entry " << entries[i].index << ": " << (*got)[i].result.ShortDebugString() << " vs "
            << (*want)[i].result.ShortDebugString();
      }
      auto all_want = plain.sm->Range(RangeReq("", "", true));
      auto all_got = r->sm->Range(RangeReq("", "", true));
      ASSERT_TRUE(all_want.ok() && all_got.ok());
      ASSERT_EQ(all_got->SerializeAsString(), all_want->SerializeAsString())
          << all_got->ShortDebugString() << "\nvs\n"
          << all_want->ShortDebugString();
      if (next(25) == 0) r->Open();
    }
  }
  EXPECT_GT(plain.sm->Revision(), 500u);
}

// A batch that fails after staging a Put never reaches RocksDB, so the key's
// cached metadata from that Put must go too: applying the same Put again
// (as a node does after the failure) must see the stored version, not the
// staged one.
TEST(KvStateMachineCacheTest, FailedBatchLeavesNoStagedMetadata) {
  testing::TempDir dir;
  auto db = Db::Open(dir.path(), 1, 1);
  ASSERT_TRUE(db.ok()) << db.status();
  auto sm = KvStateMachine::Open(db->get());
  ASSERT_TRUE(sm.ok()) << sm.status();
  auto entry = [](raft::Index index, const v1::Command& cmd) {
    raft::Entry e;
    e.index = index;
    e.term = 1;
    e.data = raft::Payload(cmd.SerializeAsString());
    return e;
  };
  ASSERT_TRUE((*sm)->ApplyBatch({entry(1, PutCmd("k", "v1"))}, {}).ok());

  // Entry 4 skips ahead of 2: the batch fails after staging a Put of k.
  std::vector<raft::Entry> bad = {entry(2, PutCmd("k", "v2")), entry(4, PutCmd("x", "y"))};
  EXPECT_EQ((*sm)->ApplyBatch(bad, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*sm)->AppliedIndex(), 1u);

  auto again = (*sm)->ApplyBatch({entry(2, PutCmd("k", "v2"))}, {});
  ASSERT_TRUE(again.ok()) << again.status();
  auto r = (*sm)->Range(RangeReq("k"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->kvs_size(), 1);
  EXPECT_EQ(r->kvs(0).version(), 2u) << "the failed batch's Put counted as a version";
  EXPECT_EQ(r->kvs(0).create_revision(), 1u);
  EXPECT_EQ(r->kvs(0).mod_revision(), 2u);
}

}  // namespace
}  // namespace raftkv::storage
