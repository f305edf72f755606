// Tests of RaftLogStore: persistence and recovery of the log and hard state,
// and equivalence with raft::MemoryStorage under a seeded random workload.
#include "src/storage/raft_log_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/rng.h"
#include "src/storage/keys.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

using raft::ConfState;
using raft::Entry;
using raft::HardState;
using raft::Index;
using raft::Term;
using ::testing::HasSubstr;

Entry E(Index index, Term term, std::string data = "") {
  Entry e;
  e.index = index;
  e.term = term;
  e.data = raft::Payload(data.empty() ? "cmd" + std::to_string(index) : std::move(data));
  return e;
}

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    db_.reset();
    auto db = Db::Open(tmp_.path(), 1, 1);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto store = RaftLogStore::Open(db_.get(), tail_cache_bytes_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  Index First() { return store_->FirstIndex().value(); }
  Index Last() { return store_->LastIndex().value(); }
  Term TermOf(Index i) { return store_->TermAt(i).value(); }
  std::vector<Entry> All() { return store_->Entries(First(), Last() + 1, raft::kNoLimit).value(); }

  // The store against raft::MemoryStorage, the reference, under a seeded
  // random mix of appends (with conflicts), compactions and restarts.
  void CheckAgainstMemoryStorage();

  uint64_t tail_cache_bytes_ = RaftLogStore::kDefaultTailCacheBytes;
  testing::TempDir tmp_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<RaftLogStore> store_;
};

TEST_F(RaftLogStoreTest, FreshStoreIsEmpty) {
  EXPECT_TRUE(store_->IsEmpty());
  EXPECT_EQ(First(), 1u);
  EXPECT_EQ(Last(), 0u);
  EXPECT_EQ(TermOf(0), 0u);
  auto init = store_->GetInitialState();
  ASSERT_TRUE(init.ok());
  EXPECT_TRUE(init->hard_state.IsEmpty());
  EXPECT_TRUE(init->conf_state.voters.empty());
  EXPECT_TRUE(store_->GetSnapshot()->IsEmpty());
}

TEST_F(RaftLogStoreTest, BootstrapRecordsMembershipOnce) {
  ConfState cs;
  cs.voters = {1, 2, 3};
  ASSERT_TRUE(store_->Bootstrap(cs).ok());
  EXPECT_FALSE(store_->IsEmpty());
  Reopen();
  EXPECT_EQ(store_->GetInitialState()->conf_state, cs);
  EXPECT_EQ(store_->GetSnapshot()->metadata.conf_state, cs);
  EXPECT_EQ(store_->Bootstrap(cs).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RaftLogStoreTest, SaveThenReopenRecoversEverything) {
  HardState hs{2, 1, 3};
  std::vector<Entry> ents = {E(1, 1), E(2, 1), E(3, 2), E(4, 2), E(5, 2)};
  ASSERT_TRUE(store_->Save(hs, ents).ok());
  Reopen();
  EXPECT_EQ(store_->GetInitialState()->hard_state, hs);
  EXPECT_EQ(store_->hard_state(), hs);
  EXPECT_EQ(First(), 1u);
  EXPECT_EQ(Last(), 5u);
  EXPECT_EQ(All(), ents);
  EXPECT_EQ(TermOf(0), 0u);
  EXPECT_EQ(TermOf(2), 1u);
  EXPECT_EQ(TermOf(3), 2u);
  EXPECT_EQ(TermOf(5), 2u);
}

TEST_F(RaftLogStoreTest, EmptyHardStateMeansUnchanged) {
  HardState hs{3, 2, 0};
  ASSERT_TRUE(store_->Save(hs, {}).ok());
  ASSERT_TRUE(store_->Save(HardState{}, {E(1, 3)}).ok());
  Reopen();
  EXPECT_EQ(store_->hard_state(), hs);
  EXPECT_EQ(Last(), 1u);
}

TEST_F(RaftLogStoreTest, ConflictingSuffixIsTruncated) {
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 1), E(3, 1), E(4, 1), E(5, 1)}).ok());
  // A new leader of term 3 overwrites from index 3 with a shorter log.
  ASSERT_TRUE(store_->Save(HardState{3, 0, 2}, {E(3, 3, "new3"), E(4, 3, "new4")}).ok());
  std::vector<Entry> want = {E(1, 1), E(2, 1), E(3, 3, "new3"), E(4, 3, "new4")};
  EXPECT_EQ(Last(), 4u);
  EXPECT_EQ(All(), want);
  EXPECT_EQ(TermOf(2), 1u);
  EXPECT_EQ(TermOf(3), 3u);
  Reopen();  // entry 5 is gone from disk too
  EXPECT_EQ(Last(), 4u);
  EXPECT_EQ(All(), want);
  // A longer overwrite extends the log.
  ASSERT_TRUE(store_->Save({}, {E(4, 4), E(5, 4), E(6, 4)}).ok());
  Reopen();
  EXPECT_EQ(Last(), 6u);
  EXPECT_EQ(TermOf(3), 3u);
  EXPECT_EQ(TermOf(4), 4u);
}

TEST_F(RaftLogStoreTest, GapIsRefused) {
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 1)}).ok());
  absl::Status s = store_->Save({}, {E(4, 1)});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("gap"));
  EXPECT_EQ(Last(), 2u);
}

TEST_F(RaftLogStoreTest, UnsyncedSaveIsReadable) {
  ASSERT_TRUE(store_->Save(HardState{1, 1, 0}, {E(1, 1)}, /*sync=*/false).ok());
  EXPECT_EQ(Last(), 1u);
  Reopen();  // a clean close keeps it
  EXPECT_EQ(Last(), 1u);
}

TEST_F(RaftLogStoreTest, EntriesRespectsByteLimitButReturnsAtLeastOne) {
  std::vector<Entry> ents;
  for (Index i = 1; i <= 5; ++i) ents.push_back(E(i, 1, std::string(100, 'x')));
  ASSERT_TRUE(store_->Save({}, ents).ok());
  const uint64_t one = ents[0].ByteSize();  // 124
  EXPECT_EQ(store_->Entries(1, 6, 0)->size(), 1u);
  EXPECT_EQ(store_->Entries(1, 6, one)->size(), 1u);
  EXPECT_EQ(store_->Entries(1, 6, 2 * one)->size(), 2u);
  EXPECT_EQ(store_->Entries(1, 6, 2 * one + 1)->size(), 2u);
  EXPECT_EQ(store_->Entries(2, 6, raft::kNoLimit)->size(), 4u);
  EXPECT_EQ(store_->Entries(2, 4, raft::kNoLimit)->size(), 2u);
  EXPECT_EQ((*store_->Entries(3, 4, raft::kNoLimit))[0], ents[2]);
  EXPECT_TRUE(store_->Entries(3, 3, raft::kNoLimit)->empty());
}

TEST_F(RaftLogStoreTest, CompactDiscardsPrefix) {
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 1), E(3, 2), E(4, 2), E(5, 3)}).ok());
  ASSERT_TRUE(store_->Compact(3).ok());
  EXPECT_EQ(First(), 4u);
  EXPECT_EQ(Last(), 5u);
  EXPECT_EQ(TermOf(3), 2u);  // the dummy entry keeps its term
  EXPECT_TRUE(raft::IsCompacted(store_->TermAt(2).status()));
  EXPECT_TRUE(raft::IsCompacted(store_->Entries(3, 5, raft::kNoLimit).status()));
  EXPECT_EQ(store_->Entries(4, 6, raft::kNoLimit)->size(), 2u);
  EXPECT_TRUE(raft::IsCompacted(store_->Compact(3)));
  EXPECT_TRUE(raft::IsCompacted(store_->Compact(2)));
  Reopen();
  EXPECT_EQ(First(), 4u);
  EXPECT_EQ(Last(), 5u);
  EXPECT_EQ(TermOf(3), 2u);
  EXPECT_EQ(TermOf(5), 3u);
  EXPECT_TRUE(raft::IsCompacted(store_->TermAt(2).status()));
  // Entries at or below the compacted prefix are skipped by Save.
  ASSERT_TRUE(store_->Save({}, {E(2, 1), E(3, 2), E(4, 2), E(5, 3), E(6, 3)}).ok());
  EXPECT_EQ(First(), 4u);
  EXPECT_EQ(Last(), 6u);
  // Compacting everything leaves an empty log after the dummy.
  ASSERT_TRUE(store_->Compact(6).ok());
  EXPECT_EQ(First(), 7u);
  EXPECT_EQ(Last(), 6u);
  EXPECT_EQ(TermOf(6), 3u);
  ASSERT_TRUE(store_->Save({}, {E(7, 4)}).ok());
  Reopen();
  EXPECT_EQ(First(), 7u);
  EXPECT_EQ(Last(), 7u);
  EXPECT_EQ(TermOf(7), 4u);
}

TEST_F(RaftLogStoreTest, CreateSnapshotRecordsMetadata) {
  ConfState cs;
  cs.voters = {1, 2, 3};
  ASSERT_TRUE(store_->Bootstrap(cs).ok());
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 2), E(3, 2)}).ok());
  auto snap = store_->CreateSnapshot(2, nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->metadata.index, 2u);
  EXPECT_EQ(snap->metadata.term, 2u);
  EXPECT_EQ(snap->metadata.conf_state, cs);
  EXPECT_EQ(store_->CreateSnapshot(2, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  Reopen();
  EXPECT_EQ(store_->GetSnapshot()->metadata.index, 2u);
  EXPECT_EQ(store_->GetSnapshot()->metadata.term, 2u);
}

TEST_F(RaftLogStoreTest, ApplySnapshotReplacesTheLog) {
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 1), E(3, 1)}).ok());
  raft::Snapshot snap;
  snap.metadata.index = 10;
  snap.metadata.term = 4;
  snap.metadata.conf_state.voters = {1, 2};
  snap.metadata.conf_state.learners = {5};
  ASSERT_TRUE(store_->ApplySnapshot(snap).ok());
  auto check = [&] {
    EXPECT_EQ(First(), 11u);
    EXPECT_EQ(Last(), 10u);
    EXPECT_EQ(TermOf(10), 4u);
    EXPECT_TRUE(raft::IsCompacted(store_->TermAt(3).status()));
    EXPECT_EQ(store_->GetSnapshot()->metadata.index, 10u);
    EXPECT_EQ(store_->GetInitialState()->conf_state, snap.metadata.conf_state);
  };
  check();
  Reopen();
  check();
  raft::Snapshot older;
  older.metadata.index = 9;
  older.metadata.term = 4;
  EXPECT_EQ(store_->ApplySnapshot(older).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Save(HardState{4, 0, 11}, {E(11, 4), E(12, 5)}).ok());
  Reopen();
  EXPECT_EQ(Last(), 12u);
  EXPECT_EQ(TermOf(12), 5u);
}

TEST_F(RaftLogStoreTest, MissingEntryOnDiskIsDataLoss) {
  ASSERT_TRUE(store_->Save({}, {E(1, 1), E(2, 1), E(3, 1)}).ok());
  rocksdb::WriteBatch batch;
  batch.Delete(db_->raft_log(), LogKey(2));
  ASSERT_TRUE(db_->Write(&batch, true, "test").ok());
  store_.reset();
  auto reopened = RaftLogStore::Open(db_.get());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
}

TEST_F(RaftLogStoreTest, CommitPastLastIndexIsDataLoss) {
  ASSERT_TRUE(store_->Save(HardState{1, 1, 5}, {E(1, 1)}).ok());
  store_.reset();
  auto reopened = RaftLogStore::Open(db_.get());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
}

void RaftLogStoreTest::CheckAgainstMemoryStorage() {
  const uint64_t seed = 20240611;
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Rng rng(seed);
  raft::MemoryStorage model;
  Term term = 1;
  for (int step = 0; step < 300; ++step) {
    Index first = model.FirstIndex().value();
    Index last = model.LastIndex().value();
    uint64_t action = rng.Uniform(10);
    if (action < 7) {
      // Append at a random point in [first, last+1], in a term at least the
      // term of the entry before.
      Index start = first + rng.Uniform(last + 2 - first);
      Term before = model.TermAt(start - 1).value();
      if (rng.OneIn(3)) ++term;
      if (term < before) term = before;
      std::vector<Entry> ents;
      uint64_t n = 1 + rng.Uniform(5);
      for (uint64_t k = 0; k < n; ++k) {
        ents.push_back(E(start + k, term, "s" + std::to_string(step) + "k" + std::to_string(k)));
      }
      ASSERT_TRUE(model.Append(ents).ok());
      ASSERT_TRUE(store_->Save(HardState{term, 1, 0}, ents).ok());
    } else if (action < 8 && last >= first) {
      Index at = first + rng.Uniform(last - first + 1);
      ASSERT_TRUE(model.Compact(at).ok());
      ASSERT_TRUE(store_->Compact(at).ok());
    } else if (action < 9) {
      Reopen();
    }
    ASSERT_EQ(First(), model.FirstIndex().value()) << "step " << step;
    ASSERT_EQ(Last(), model.LastIndex().value()) << "step " << step;
    for (Index i = First() - 1; i <= Last(); ++i) {
      ASSERT_EQ(TermOf(i), model.TermAt(i).value()) << "step " << step << " index " << i;
    }
    uint64_t max_bytes = rng.OneIn(2) ? raft::kNoLimit : rng.Uniform(200);
    if (Last() >= First()) {
      ASSERT_EQ(store_->Entries(First(), Last() + 1, max_bytes).value(),
                model.Entries(First(), Last() + 1, max_bytes).value())
          << "step " << step;
      Index lo = First() + rng.Uniform(Last() - First() + 1);
      ASSERT_EQ(store_->Entries(lo, Last() + 1, max_bytes).value(),
                model.Entries(lo, Last() + 1, max_bytes).value())
          << "step " << step << " from " << lo;
    }
  }
}

// Every entry from the tail cache (the log stays far below its default size).
TEST_F(RaftLogStoreTest, MatchesMemoryStorage) { CheckAgainstMemoryStorage(); }

// Every entry from RocksDB.
TEST_F(RaftLogStoreTest, MatchesMemoryStorageWithoutTailCache) {
  tail_cache_bytes_ = 0;
  Reopen();
  CheckAgainstMemoryStorage();
}

// A tail cache of a few entries: reads start in it or before it.
TEST_F(RaftLogStoreTest, MatchesMemoryStorageWithSmallTailCache) {
  tail_cache_bytes_ = 150;
  Reopen();
  CheckAgainstMemoryStorage();
}

}  // namespace
}  // namespace raftkv::storage
