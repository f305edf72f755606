// CompletionLoop with a Driver: rounds run on the loop's thread when due,
// after a Wake from another thread, and never after DetachDriver.
#include "src/transport/completion_loop.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <thread>

#include "src/common/clock.h"

namespace raftkv::transport {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t NowMicros() { return SteadyClock().NowMicros(); }

// Due when `due_at` says; counts its rounds and notes their thread.
class CountingDriver final : public CompletionLoop::Driver {
 public:
  int64_t NextRoundAtUs() override { return due_at.load(); }
  void RunRound() override {
    round_thread = std::this_thread::get_id();
    last_round_us = NowMicros();
    due_at = kNever;
    ++rounds;
  }

  std::atomic<int64_t> due_at{kNever};
  std::atomic<int> rounds{0};
  std::atomic<int64_t> last_round_us{0};
  std::thread::id round_thread;
};

// A server with no ports, for its completion queue.
class CompletionLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    loop_ = std::make_unique<CompletionLoop>(builder.AddCompletionQueue(), "test-loop");
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    loop_->AddDriver(&driver_);
    loop_->Start();
  }
  void TearDown() override {
    loop_->DetachDriver(&driver_);
    server_->Shutdown();
    loop_->Stop();
    server_.reset();
  }

  // Waits up to 5 s for at least n rounds.
  bool WaitForRounds(int n) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (driver_.rounds.load() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  CountingDriver driver_;
  std::unique_ptr<CompletionLoop> loop_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(CompletionLoopTest, WakeFromAnotherThreadRunsTheRoundOnTheLoop) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the loop waits
  EXPECT_EQ(driver_.rounds.load(), 0);
  driver_.due_at = 0;  // work queued here, where the loop does not see it...
  loop_->Wake();       // ...until woken
  ASSERT_TRUE(WaitForRounds(1));
  EXPECT_NE(driver_.round_thread, std::this_thread::get_id());
  // Again: a wake-up is not used up by the first.
  driver_.due_at = 0;
  loop_->Wake();
  EXPECT_TRUE(WaitForRounds(2));
}

TEST_F(CompletionLoopTest, TimedRoundRunsWhenDueAndNotBefore) {
  driver_.due_at = 0;
  loop_->Wake();
  ASSERT_TRUE(WaitForRounds(1));
  int64_t set_at = NowMicros();
  driver_.due_at = set_at + 30'000;
  loop_->Wake();  // the loop now waits for the due time
  ASSERT_TRUE(WaitForRounds(2));
  EXPECT_GE(driver_.last_round_us.load(), set_at + 30'000);
}

TEST_F(CompletionLoopTest, NoRoundAfterDetach) {
  loop_->DetachDriver(&driver_);
  driver_.due_at = 0;
  loop_->Wake();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(driver_.rounds.load(), 0);
}

}  // namespace
}  // namespace raftkv::transport
