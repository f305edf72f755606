// Crash recovery of KvStateMachine, whose writes skip RocksDB's WAL (db.h): a
// process that dies without closing its Db keeps the state as of the last
// memtable flush, never a torn part of it, with the conf state recorded at
// that same point; re-applying the log from AppliedIndex() + 1 then gives
// exactly the state of a replica that never crashed.
//
// The crash is a forked child ("fast" death-test style) that applies entries
// and _exits without closing anything. This binary holds only this test, so
// no RocksDB thread exists in the parent when it forks.
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/storage/kv_state_machine.h"
#include "src/storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

constexpr raft::Index kEntries = 400;
constexpr raft::Index kUnflushedTail = 20;  // applied after the last flush
constexpr uint64_t kMemtableBytes = 128 << 10;

// The log: puts of 1 KiB values over 50 keys, a delete every 7th entry, and
// membership changes at entries 2 and 300.
struct Log {
  std::vector<raft::Entry> entries;  // entries[i].index == i + 1
  std::map<raft::Index, raft::ConfState> conf_states;

  Log() {
    for (raft::Index i = 1; i <= kEntries; ++i) {
      raft::Entry e;
      e.index = i;
      e.term = 1;
      if (i == 2 || i == 300) {
        e.type = raft::EntryType::kConfChange;
        conf_states[i].voters = {1, 2, i == 2 ? raft::NodeId{3} : raft::NodeId{4}};
      } else {
        v1::Command cmd;
        std::string key = "k" + std::to_string(i % 50);
        if (i % 7 == 0) {
          cmd.mutable_delete_range()->set_key(key);
        } else {
          cmd.mutable_put()->set_key(key);
          cmd.mutable_put()->set_value(std::string(1024, static_cast<char>('a' + i % 26)));
        }
        e.data = raft::Payload(cmd.SerializeAsString());
      }
      entries.push_back(e);
    }
  }

  // The membership after applying entries [1, applied] (empty before any).
  raft::ConfState ConfStateAt(raft::Index applied) const {
    raft::ConfState cs;
    for (const auto& [index, state] : conf_states) {
      if (index <= applied) cs = state;
    }
    return cs;
  }
};

// Applies entries [from, to] in batches of 10, as the apply thread would.
void ApplyRange(const Log& log, KvStateMachine* sm, raft::Index from, raft::Index to) {
  for (raft::Index lo = from; lo <= to; lo += 10) {
    raft::Index hi = std::min(to, lo + 9);
    std::vector<raft::Entry> batch(log.entries.begin() + (lo - 1), log.entries.begin() + hi);
    std::map<raft::Index, raft::ConfState> conf_states;
    for (const auto& [index, cs] : log.conf_states) {
      if (index >= lo && index <= hi) conf_states[index] = cs;
    }
    auto outcomes = sm->ApplyBatch(batch, conf_states);
    ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  }
}

// Waits until RocksDB has no flush pending or running.
void WaitForFlushes(Db* db) {
  for (int i = 0; i < 1000; ++i) {
    uint64_t immutable = 0, running = 0;
    db->rocks()->GetIntProperty(db->kv(), "rocksdb.num-immutable-mem-table", &immutable);
    db->rocks()->GetIntProperty("rocksdb.num-running-flushes", &running);
    if (immutable == 0 && running == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "flushes did not finish in 10 s";
}

// The child: applies the whole log with small memtables (so RocksDB flushes
// by itself several times), the last kUnflushedTail entries after the last
// flush, then dies without closing.
void ApplyThenCrash(const std::string& dir, const Log& log) {
  DbOptions options;
  options.write_buffer_bytes = kMemtableBytes;
  auto db = Db::Open(dir, 1, 1, options);
  if (!db.ok()) _exit(2);
  auto sm = KvStateMachine::Open(db->get());
  if (!sm.ok()) _exit(3);
  ApplyRange(log, sm->get(), 1, kEntries - kUnflushedTail);
  WaitForFlushes(db->get());
  ApplyRange(log, sm->get(), kEntries - kUnflushedTail + 1, kEntries);
  if (::testing::Test::HasFailure() || (*sm)->AppliedIndex() != kEntries) _exit(4);
  _exit(0);  // a crash: no Close, no flush
}

struct Replica {
  std::unique_ptr<Db> db;
  std::unique_ptr<KvStateMachine> sm;

  static Replica Open(const std::string& dir) {
    Replica r;
    auto db = Db::Open(dir, 1, 1);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return r;
    r.db = std::move(*db);
    auto sm = KvStateMachine::Open(r.db.get());
    EXPECT_TRUE(sm.ok()) << sm.status();
    if (sm.ok()) r.sm = std::move(*sm);
    return r;
  }

  std::string State() const {
    v1::RangeRequest all;  // every key: an empty prefix
    all.set_prefix(true);
    auto r = sm->Range(all);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->SerializeAsString() : "";
  }

  raft::ConfState RecordedConfState() const {
    auto log = RaftLogStore::Open(db.get());
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return {};
    auto init = (*log)->GetInitialState();
    EXPECT_TRUE(init.ok()) << init.status();
    return init.ok() ? init->conf_state : raft::ConfState();
  }
};

TEST(KvStateMachineCrashTest, UnflushedStateIsLostWholeAndTheLogRebuildsIt) {
  ::testing::FLAGS_gtest_death_test_style = "fast";
  const Log log;
  testing::TempDir crashed_dir, reference_dir;
  EXPECT_EXIT(ApplyThenCrash(crashed_dir.path(), log), ::testing::ExitedWithCode(0), "");

  Replica crashed = Replica::Open(crashed_dir.path());
  ASSERT_NE(crashed.sm, nullptr);
  const raft::Index recovered = crashed.sm->AppliedIndex();
  // RocksDB flushed at least once before the tail, and the tail was lost.
  EXPECT_GE(recovered, 2u);
  EXPECT_LE(recovered, kEntries - kUnflushedTail);

  // What survived is exactly the state after entries [1, recovered], with
  // the membership of that same point.
  Replica reference = Replica::Open(reference_dir.path());
  ASSERT_NE(reference.sm, nullptr);
  ApplyRange(log, reference.sm.get(), 1, recovered);
  EXPECT_EQ(crashed.sm->Revision(), reference.sm->Revision());
  EXPECT_EQ(crashed.State(), reference.State());
  EXPECT_EQ(crashed.RecordedConfState(), log.ConfStateAt(recovered));

  // Re-applying the rest of the log catches up exactly.
  ApplyRange(log, crashed.sm.get(), recovered + 1, kEntries);
  ApplyRange(log, reference.sm.get(), recovered + 1, kEntries);
  EXPECT_EQ(crashed.sm->AppliedIndex(), kEntries);
  EXPECT_EQ(crashed.sm->Revision(), reference.sm->Revision());
  EXPECT_EQ(crashed.State(), reference.State());
  EXPECT_EQ(crashed.RecordedConfState(), log.ConfStateAt(kEntries));
}

}  // namespace
}  // namespace raftkv::storage
