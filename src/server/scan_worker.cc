#include "src/server/scan_worker.h"

#include <pthread.h>

namespace raftkv::server {

ScanWorker::~ScanWorker() { Stop(); }

void ScanWorker::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = true;
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "scan");
    Run();
  });
}

bool ScanWorker::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void ScanWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ScanWorker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return !tasks_.empty() || !running_; });
    if (tasks_.empty()) return;  // stopped, and everything posted has run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace raftkv::server
