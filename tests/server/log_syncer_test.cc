// LogSyncer: reports come after a sync that began after the request, requests
// made during a sync share the next one, and Stop reports nothing more.
#include "src/server/log_syncer.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace raftkv::server {
namespace {

using Report = std::pair<raft::Term, raft::Index>;

// A sync that blocks until the test lets it finish, counting calls.
class GatedSync {
 public:
  absl::Status Sync() {
    std::unique_lock<std::mutex> lock(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_ >= started_; });
    return absl::OkStatus();
  }
  void WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return started_ >= n; }));
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    ++released_;
    cv_.notify_all();
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  int released_ = 0;
};

class Reports {
 public:
  void Add(raft::Term t, raft::Index i) {
    std::lock_guard<std::mutex> lock(mu_);
    got_.emplace_back(t, i);
    cv_.notify_all();
  }
  std::vector<Report> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return got_.size() >= n; }));
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Report> got_;
};

TEST(LogSyncerTest, RequestsDuringASyncShareTheNextOneAndReportTheNewest) {
  GatedSync sync;
  Reports reports;
  LogSyncer syncer([&] { return sync.Sync(); },
                   [&](raft::Term t, raft::Index i) { reports.Add(t, i); });
  syncer.Request(3, 10);
  sync.WaitStarted(1);
  // While the first sync runs: three more requests.
  syncer.Request(3, 11);
  syncer.Request(3, 12);
  syncer.Request(3, 14);
  sync.Release();
  EXPECT_EQ(reports.WaitFor(1)[0], Report(3, 10));
  sync.WaitStarted(2);
  sync.Release();
  std::vector<Report> got = reports.WaitFor(2);
  EXPECT_EQ(got, (std::vector<Report>{{3, 10}, {3, 14}}));
  EXPECT_EQ(sync.started(), 2) << "one sync per batch of requests";
  syncer.Stop();
}

TEST(LogSyncerTest, NothingIsReportedBeforeItsSyncFinishesNorAfterStop) {
  GatedSync sync;
  Reports reports;
  auto syncer = std::make_unique<LogSyncer>(
      [&] { return sync.Sync(); }, [&](raft::Term t, raft::Index i) { reports.Add(t, i); });
  syncer->Request(1, 5);
  sync.WaitStarted(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Stop while the sync is blocked: release it from another thread.
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sync.Release();
  });
  syncer->Stop();
  releaser.join();
  syncer->Request(1, 6);  // ignored after Stop
  syncer.reset();
  EXPECT_TRUE(reports.WaitFor(0).empty()) << "a sync finishing during Stop was reported";
  EXPECT_EQ(sync.started(), 1);
}

}  // namespace
}  // namespace raftkv::server
