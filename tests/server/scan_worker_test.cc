// ScanWorker: tasks run in order on its own thread; Stop runs what was
// posted before it; after Stop nothing is taken.
#include "src/server/scan_worker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace raftkv::server {
namespace {

TEST(ScanWorkerTest, RunsTasksInOrderOffTheCallersThread) {
  ScanWorker worker;
  worker.Start();
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(worker.Post([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
    }));
  }
  worker.Stop();  // runs everything posted first
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  for (auto id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ScanWorkerTest, StopWaitsForQueuedTasksBehindASlowOne) {
  ScanWorker worker;
  worker.Start();
  int ran = 0;
  worker.Post([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ++ran;
  });
  worker.Post([&] { ++ran; });
  worker.Stop();
  EXPECT_EQ(ran, 2);
}

TEST(ScanWorkerTest, RefusesTasksWhenNotRunning) {
  ScanWorker worker;
  EXPECT_FALSE(worker.Post([] {}));  // not started
  worker.Start();
  worker.Stop();
  bool ran = false;
  EXPECT_FALSE(worker.Post([&] { ran = true; }));
  EXPECT_FALSE(ran);
  worker.Stop();  // idempotent
}

}  // namespace
}  // namespace raftkv::server
