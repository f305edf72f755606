// Tests of PrezeroedWalFileSystem against real RocksDB: a WAL taken from the
// zero-filled spare, recovery of every synced write after a crash (a copy of
// the directory taken while the database is open, with the WAL's zeros
// still in it), no disk reads while writing into a spare, trimming at
// close, and the spare an earlier run left.
#include "src/storage/prezeroed_wal_fs.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr uint64_t kFileBytes = 512 << 10;

struct Rocks {
  std::shared_ptr<PrezeroedWalFileSystem> fs;
  std::unique_ptr<rocksdb::Env> env;
  std::unique_ptr<rocksdb::DB> db;
};

// Opens RocksDB in dir on a PrezeroedWalFileSystem, with memtables small
// enough that a few hundred writes switch to a new WAL.
Rocks Open(const std::string& dir) {
  Rocks r;
  r.fs = std::make_shared<PrezeroedWalFileSystem>(dir, kFileBytes);
  r.env = rocksdb::NewCompositeEnv(r.fs);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = r.env.get();
  options.write_buffer_size = 256 << 10;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  r.db.reset(raw);
  return r;
}

std::string Key(int i) { return "key-" + std::to_string(i); }
std::string Value(int i) { return std::string(300, static_cast<char>('a' + i % 26)); }

std::vector<uint64_t> WalSizes(const std::string& dir) {
  std::vector<uint64_t> sizes;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".log") continue;
    // RocksDB deletes obsolete WALs from its own threads meanwhile.
    std::error_code gone;
    uint64_t size = fs::file_size(e.path(), gone);
    if (!gone) sizes.push_back(size);
  }
  return sizes;
}

bool UsesAPrezeroedWal(const std::string& dir) {
  for (uint64_t size : WalSizes(dir)) {
    if (size == kFileBytes) return true;
  }
  return false;
}

// Writes synced Puts 0, 1, ... until the WAL in use came from a spare, then
// `more` after that; returns how many were written.
int WriteUntilAPrezeroedWalHolds(Rocks& r, const std::string& dir, int more) {
  rocksdb::WriteOptions synced;
  synced.sync = true;
  int n = 0;
  for (; n < 20000 && !UsesAPrezeroedWal(dir); ++n) {
    EXPECT_TRUE(r.db->Put(synced, Key(n), Value(n)).ok());
    if (n % 100 == 99) r.fs->WaitForSpare();  // keep up with the switches
  }
  EXPECT_TRUE(UsesAPrezeroedWal(dir)) << "no WAL was taken from the spare in " << n << " writes";
  for (int end = n + more; n < end; ++n) {
    EXPECT_TRUE(r.db->Put(synced, Key(n), Value(n)).ok());
  }
  return n;
}

TEST(PrezeroedWalTest, SyncedWritesInAWalTakenFromTheSpareSurviveACrash) {
  TempDir tmp;
  std::string dir = tmp.Sub("db");
  Rocks r = Open(dir);
  int n = WriteUntilAPrezeroedWalHolds(r, dir, 150);

  // What a crash leaves: the files as they are, the WAL still zero-filled
  // past its last record.
  std::string crashed = tmp.Sub("crashed");
  fs::copy(dir, crashed, fs::copy_options::recursive);
  r.db.reset();
  ASSERT_TRUE(UsesAPrezeroedWal(crashed));

  Rocks back = Open(crashed);
  ASSERT_NE(back.db, nullptr);
  for (int i = 0; i < n; ++i) {
    std::string value;
    rocksdb::Status s = back.db->Get(rocksdb::ReadOptions(), Key(i), &value);
    ASSERT_TRUE(s.ok()) << Key(i) << " of " << n << ": " << s.ToString();
    ASSERT_EQ(value, Value(i)) << Key(i);
  }
}

// Bytes this process has read from the disk (not from the page cache).
uint64_t DiskReadBytes() {
  std::ifstream io("/proc/self/io");
  std::string field;
  uint64_t value = 0;
  while (io >> field >> value) {
    if (field == "read_bytes:") return value;
  }
  ADD_FAILURE() << "no read_bytes in /proc/self/io";
  return 0;
}

// A WAL write that starts inside a page the page cache lacks makes the
// kernel read that block from the disk first, in the write itself: a spare
// whose zeros bypassed the cache (O_DIRECT) cost one disk read per 4 KiB of
// log, on every acknowledged write's path.
TEST(PrezeroedWalTest, WritesIntoAWalTakenFromTheSpareReadNothingFromTheDisk) {
  TempDir tmp;
  std::string dir = tmp.Sub("db");
  Rocks r = Open(dir);
  WriteUntilAPrezeroedWalHolds(r, dir, 0);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  uint64_t before = DiskReadBytes();
  for (int i = 0; i < 300; ++i) {  // ~100 KB: 25 pages of the WAL
    ASSERT_TRUE(r.db->Put(synced, Key(i), Value(i)).ok());
  }
  EXPECT_EQ(DiskReadBytes() - before, 0u);
}

TEST(PrezeroedWalTest, AClosedWalIsTrimmedToWhatWasWritten) {
  TempDir tmp;
  std::string dir = tmp.Sub("db");
  Rocks r = Open(dir);
  WriteUntilAPrezeroedWalHolds(r, dir, 10);
  ASSERT_TRUE(r.db->Close().ok());
  r.db.reset();
  for (uint64_t size : WalSizes(dir)) EXPECT_LT(size, kFileBytes);
}

TEST(PrezeroedWalTest, AWholeSpareFromAnEarlierRunIsUsedAndAHalfWrittenOneIsNot) {
  TempDir tmp;
  std::string dir = tmp.Sub("db");
  fs::create_directories(dir);
  std::string spare = dir + "/" + PrezeroedWalFileSystem::kSpareName;
  std::ofstream(spare + ".tmp").close();  // a spare being written at a crash
  fs::resize_file(spare + ".tmp", 4096);
  std::ofstream(spare).close();  // a whole one
  fs::resize_file(spare, kFileBytes);
  Rocks r = Open(dir);
  EXPECT_FALSE(fs::exists(spare + ".tmp"));
  EXPECT_TRUE(UsesAPrezeroedWal(dir)) << "the first WAL should have taken the spare";
  r.db.reset();

  // A spare of another size (another setting, or cut short) is removed.
  TempDir tmp2;
  std::string dir2 = tmp2.Sub("db");
  fs::create_directories(dir2);
  std::string spare2 = dir2 + "/" + PrezeroedWalFileSystem::kSpareName;
  std::ofstream(spare2).close();
  fs::resize_file(spare2, kFileBytes / 2);
  Rocks r2 = Open(dir2);
  EXPECT_FALSE(fs::exists(spare2));
  EXPECT_FALSE(UsesAPrezeroedWal(dir2));
}

TEST(PrezeroedWalTest, DestroyingItWhileASpareIsWrittenWaitsForTheSpare) {
  TempDir tmp;
  auto fs = std::make_shared<PrezeroedWalFileSystem>(tmp.path(), 8 << 20);
  fs->PrepareSpareSoon();
  fs.reset();  // must neither hang nor leave a half-written spare
  std::string spare = tmp.Sub(PrezeroedWalFileSystem::kSpareName);
  ASSERT_TRUE(fs::exists(spare));
  EXPECT_EQ(fs::file_size(spare), 8u << 20);
  EXPECT_FALSE(fs::exists(spare + ".tmp"));
}

}  // namespace
}  // namespace raftkv::storage
