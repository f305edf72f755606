#include "src/transport/completion_loop.h"

#include <pthread.h>

#include <algorithm>
#include <limits>

#include "src/common/clock.h"

namespace raftkv::transport {

namespace {

// Set on the loop's own thread: Wake has nothing to do there.
thread_local const CompletionLoop* current_loop = nullptr;

int64_t NowMicros() {
  static const SteadyClock clock;
  return clock.NowMicros();
}

}  // namespace

CompletionLoop::CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq,
                               std::string thread_name)
    : cq_(std::move(cq)), thread_name_(std::move(thread_name)) {}

CompletionLoop::~CompletionLoop() { Stop(); }

void CompletionLoop::AddDriver(Driver* driver) {
  {
    std::lock_guard<std::mutex> lock(driver_mu_);
    drivers_.push_back(driver);
    due_at_.resize(drivers_.size());
  }
  Wake();  // the loop may be waiting with a deadline that knew nothing of it
}

void CompletionLoop::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), thread_name_.c_str());
    Run();
  });
}

void CompletionLoop::DetachDriver(Driver* driver) {
  std::lock_guard<std::mutex> lock(driver_mu_);
  drivers_.erase(std::remove(drivers_.begin(), drivers_.end(), driver), drivers_.end());
}

void CompletionLoop::Wake() {
  if (current_loop == this || wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (draining()) return;
  wake_alarm_.Set(cq_.get(), gpr_inf_past(GPR_CLOCK_MONOTONIC), &wake_handler_);
}

void CompletionLoop::WakeHandler::OnEvent(bool) {
  // The loop looks at its driver before its next wait.
  loop_->wake_pending_.store(false, std::memory_order_release);
}

void CompletionLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> lock(driver_mu_);
    drivers_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    draining_.store(true, std::memory_order_release);
  }
  cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    Run();  // never started: free the handlers armed on the queue here
  }
}

gpr_timespec CompletionLoop::RunDueRounds(bool queue_empty, int* events_since_round) {
  std::lock_guard<std::mutex> lock(driver_mu_);
  if (drivers_.empty() || draining()) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  // Each driver is asked once before the rounds and once after.
  int64_t now = NowMicros();
  bool any_due = false;
  for (size_t i = 0; i < drivers_.size(); ++i) {
    due_at_[i] = drivers_[i]->NextRoundAtUs();
    any_due = any_due || due_at_[i] <= now;
  }
  if (any_due) {
    // Take what is ready first (the rounds then see it all), unless events
    // keep coming.
    if (!queue_empty && *events_since_round < kMaxEventsBetweenRounds) {
      return gpr_inf_past(GPR_CLOCK_MONOTONIC);
    }
    for (size_t i = 0; i < drivers_.size(); ++i) {
      if (due_at_[i] <= now) drivers_[i]->RunRound();
    }
    *events_since_round = 0;
  }
  int64_t due = std::numeric_limits<int64_t>::max();
  for (Driver* driver : drivers_) due = std::min(due, driver->NextRoundAtUs());
  now = NowMicros();
  if (due <= now) return gpr_inf_past(GPR_CLOCK_MONOTONIC);
  if (due == std::numeric_limits<int64_t>::max()) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  // gRPC rounds a deadline up to its millisecond: a round may run up to 1 ms
  // late, never early.
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros(due - now, GPR_TIMESPAN));
}

void CompletionLoop::Run() {
  current_loop = this;
  void* tag = nullptr;
  bool ok = false;
  bool queue_empty = false;  // the last look found no event ready
  int events_since_round = 0;
  while (true) {
    gpr_timespec deadline = RunDueRounds(queue_empty, &events_since_round);
    switch (cq_->AsyncNext(&tag, &ok, deadline)) {
      case grpc::CompletionQueue::SHUTDOWN:
        current_loop = nullptr;
        return;
      case grpc::CompletionQueue::GOT_EVENT:
        static_cast<Handler*>(tag)->OnEvent(ok);
        queue_empty = false;
        ++events_since_round;
        break;
      case grpc::CompletionQueue::TIMEOUT:
        queue_empty = true;
        break;
    }
  }
}

}  // namespace raftkv::transport
