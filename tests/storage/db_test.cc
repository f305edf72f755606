// Tests of Db: opening, identity checks and the errors an operator can cause.
#include "src/storage/db.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(DbTest, FreshDirectoryRecordsIdentityAndReopens) {
  TempDir tmp;
  std::string dir = tmp.Sub("data");  // does not exist yet: Open creates it
  {
    auto db = Db::Open(dir, 456, 3);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->cluster_id(), 456u);
    EXPECT_EQ((*db)->node_id(), 3u);
    EXPECT_GT((*db)->DiskSizeBytes(), 0u);
    EXPECT_TRUE((*db)->Close().ok());
    EXPECT_TRUE((*db)->Close().ok());  // idempotent
  }
  auto again = Db::Open(dir, 456, 3);
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(DbTest, WrongClusterIsRefusedWithAMessageThatSaysWhatToDo) {
  TempDir tmp;
  ASSERT_TRUE(Db::Open(tmp.path(), 123, 2).ok());
  auto db = Db::Open(tmp.path(), 456, 2);
  ASSERT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_THAT(db.status().message(), HasSubstr("belongs to cluster 123 node 2"));
  EXPECT_THAT(db.status().message(), HasSubstr("this server is node 2 of cluster 456"));
  EXPECT_THAT(db.status().message(), HasSubstr("--data-dir"));
}

TEST(DbTest, WrongNodeIsRefused) {
  TempDir tmp;
  ASSERT_TRUE(Db::Open(tmp.path(), 123, 2).ok());
  auto db = Db::Open(tmp.path(), 123, 3);
  ASSERT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_THAT(db.status().message(),
              HasSubstr("data directory " + tmp.path() +
                        " belongs to cluster 123 node 2, but this server is node 3 of cluster "
                        "123; point --data-dir at an empty directory or at this node's own"));
}

TEST(DbTest, ZeroIdsAreInvalid) {
  TempDir tmp;
  EXPECT_EQ(Db::Open(tmp.path(), 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Db::Open(tmp.path(), 1, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DbTest, PathThatIsAFileIsRefused) {
  TempDir tmp;
  std::string file = tmp.Sub("file");
  std::ofstream(file) << "not a directory";
  auto db = Db::Open(file, 1, 1);
  ASSERT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_THAT(db.status().message(), HasSubstr("not a directory"));

  // A directory that cannot be created (its parent is a file).
  auto nested = Db::Open(file + "/data", 1, 1);
  ASSERT_EQ(nested.status().code(), absl::StatusCode::kFailedPrecondition) << nested.status();
  EXPECT_THAT(nested.status().message(), HasSubstr("cannot"));
  EXPECT_THAT(nested.status().message(), HasSubstr(file + "/data"));
}

TEST(DbTest, SecondOpenOfTheSameDirectoryIsRefused) {
  TempDir tmp;
  auto first = Db::Open(tmp.path(), 1, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Db::Open(tmp.path(), 1, 1);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr("locked"));
}

TEST(DbTest, ForeignRocksDbIsRefused) {
  TempDir tmp;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, tmp.path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "orders", &cf).ok());
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(cf).ok());
  }
  auto db = Db::Open(tmp.path(), 1, 1);
  ASSERT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition) << db.status();
  EXPECT_THAT(db.status().message(), HasSubstr("not raftkv's"));
}

TEST(DbTest, CorruptDatabaseIsDataLoss) {
  TempDir tmp;
  ASSERT_TRUE(Db::Open(tmp.path(), 1, 1).ok());
  int corrupted = 0;
  for (const auto& f : std::filesystem::directory_iterator(tmp.path())) {
    if (f.path().filename().string().rfind("MANIFEST-", 0) == 0) {
      std::ofstream(f.path(), std::ios::binary | std::ios::trunc) << std::string(4096, '\x5a');
      ++corrupted;
    }
  }
  ASSERT_GT(corrupted, 0);
  auto db = Db::Open(tmp.path(), 1, 1);
  ASSERT_EQ(db.status().code(), absl::StatusCode::kDataLoss) << db.status();
  EXPECT_THAT(db.status().message(), HasSubstr("corrupt"));
}

TEST(DbTest, GetAndWrite) {
  TempDir tmp;
  auto db = Db::Open(tmp.path(), 1, 1);
  ASSERT_TRUE(db.ok()) << db.status();
  auto missing = (*db)->Get((*db)->sessions(), "nope", "test");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  rocksdb::WriteBatch batch;
  batch.Put((*db)->sessions(), "k", "v");
  ASSERT_TRUE((*db)->Write(&batch, /*sync=*/true, "test").ok());
  auto got = (*db)->Get((*db)->sessions(), "k", "test");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "v");
}

// The WAL files in dir and their sizes.
std::vector<std::pair<std::string, uint64_t>> Wals(const std::string& dir) {
  std::vector<std::pair<std::string, uint64_t>> wals;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log") wals.emplace_back(e.path().filename(), e.file_size());
  }
  return wals;
}

TEST(DbTest, ANewDatabaseLeavesItsGrowingWalOnceASpareIsReady) {
  TempDir tmp;
  DbOptions options;
  options.write_buffer_bytes = 1 << 20;  // a zero-filled WAL is 1.25 MiB
  constexpr uint64_t kPrezeroedBytes = (1 << 20) * 5 / 4;
  auto db = Db::Open(tmp.path(), 1, 1, options);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_EQ(Wals(tmp.path()).size(), 1u);
  EXPECT_LT(Wals(tmp.path())[0].second, kPrezeroedBytes) << "a new database's first WAL grows";

  // The spare is asked for once the WAL holds 1/8 of a zero-filled one; the
  // switch must come long before the 1 MiB memtable fills (~3,000 writes).
  const std::string value(300, 'v');
  int writes = 0;
  bool switched = false;
  for (; writes < 1500 && !switched; ++writes) {
    rocksdb::WriteBatch batch;
    batch.Put((*db)->raft_log(), "entry-" + std::to_string(writes), value);
    ASSERT_TRUE((*db)->Write(&batch, /*sync=*/true, "test").ok());
    for (const auto& [name, size] : Wals(tmp.path())) switched |= size == kPrezeroedBytes;
    if (writes > 500) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(switched) << "no zero-filled WAL after " << writes
                        << " writes: " << ::testing::PrintToString(Wals(tmp.path()));

  // Nothing written is lost across the switch.
  ASSERT_TRUE((*db)->Close().ok());
  auto back = Db::Open(tmp.path(), 1, 1, options);
  ASSERT_TRUE(back.ok()) << back.status();
  for (int i = 0; i < writes; ++i) {
    auto got = (*back)->Get((*back)->raft_log(), "entry-" + std::to_string(i), "test");
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->value_or(""), value) << "entry-" << i;
  }
}

}  // namespace
}  // namespace raftkv::storage
