// power_cut: a simulated power cut keeps exactly the Raft log writes that a
// completed sync covered, and the log reopens cleanly after it.
//
// Each cut runs in a forked child ("fast" death-test style) that enables
// power cuts, writes the log and calls Cut(), which ends it with
// power_cut::kExitCode; the parent then reopens the directory. This binary
// holds only these tests, so no RocksDB thread exists in the parent when it
// forks.
#include "src/storage/power_cut.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/storage/raft_log_store.h"
#include "tests/storage/temp_dir.h"

namespace raftkv::storage {
namespace {

raft::Entry E(raft::Index index) {
  raft::Entry e;
  e.index = index;
  e.term = 1;
  e.data = raft::Payload("cmd" + std::to_string(index));
  return e;
}

std::vector<raft::Entry> Run(raft::Index from, raft::Index to) {
  std::vector<raft::Entry> out;
  for (raft::Index i = from; i <= to; ++i) out.push_back(E(i));
  return out;
}

raft::HardState Hs(raft::Index commit) {
  raft::HardState hs;
  hs.term = 1;
  hs.vote = 1;
  hs.commit = commit;
  return hs;
}

void Must(const absl::Status& st) {
  if (!st.ok()) {
    fprintf(stderr, "%s\n", st.ToString().c_str());
    _exit(1);
  }
}

// In the child: entries 1-10 saved with a sync, 11-20 without, then (if
// sync_later) a Sync, then 21-30 without; then the cut.
void WriteThenCut(const std::string& dir, bool sync_later) {
  power_cut::Enable();
  auto db = Db::Open(dir, 1, 1);
  Must(db.status());
  auto log = RaftLogStore::Open(db->get());
  Must(log.status());
  Must((*log)->Save(Hs(0), Run(1, 10), /*sync=*/true));
  Must((*log)->Save(Hs(5), Run(11, 20), /*sync=*/false));
  if (sync_later) Must((*log)->Sync());
  Must((*log)->Save(Hs(15), Run(21, 30), /*sync=*/false));
  power_cut::Cut();
}

raft::Index LastIndexAfterCut(const std::string& dir) {
  auto db = Db::Open(dir, 1, 1);
  EXPECT_TRUE(db.ok()) << db.status();
  if (!db.ok()) return 0;
  auto log = RaftLogStore::Open(db->get());
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return 0;
  absl::StatusOr<raft::Index> last = (*log)->LastIndex();
  EXPECT_TRUE(last.ok());
  // Every entry that survived is whole and in order.
  auto entries = (*log)->Entries(1, *last + 1, raft::kNoLimit);
  EXPECT_TRUE(entries.ok()) << entries.status();
  if (entries.ok()) {
    for (size_t i = 0; i < entries->size(); ++i) EXPECT_EQ((*entries)[i].index, i + 1);
  }
  return *last;
}

TEST(PowerCutTest, DropsWhatNoSyncCovered) {
  testing::TempDir dir;
  EXPECT_EXIT(WriteThenCut(dir.path(), /*sync_later=*/false),
              ::testing::ExitedWithCode(power_cut::kExitCode), "power cut");
  EXPECT_EQ(LastIndexAfterCut(dir.path()), 10u);
}

TEST(PowerCutTest, KeepsWhatALaterSyncCovered) {
  testing::TempDir dir;
  EXPECT_EXIT(WriteThenCut(dir.path(), /*sync_later=*/true),
              ::testing::ExitedWithCode(power_cut::kExitCode), "power cut");
  EXPECT_EQ(LastIndexAfterCut(dir.path()), 20u);
}

TEST(PowerCutTest, DisabledTracksNothing) {
  EXPECT_FALSE(power_cut::Enabled());
  EXPECT_EQ(power_cut::WalTracker::IfEnabled(0, "x"), nullptr);
}

}  // namespace
}  // namespace raftkv::storage
