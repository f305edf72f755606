#include "tests/chaos/harness/cleanup.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/chaos/harness/network.h"

namespace raftkv::chaos {

void CleanupRegistry::AddPid(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  pids_.insert(pid);
}

void CleanupRegistry::RemovePid(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  pids_.erase(pid);
}

void CleanupRegistry::AddNetworkTag(int tag) {
  std::lock_guard<std::mutex> lock(mu_);
  tags_.insert(tag);
}

void CleanupRegistry::RemoveNetworkTag(int tag) {
  std::lock_guard<std::mutex> lock(mu_);
  tags_.erase(tag);
}

void CleanupRegistry::EmergencyCleanup() {
  std::set<pid_t> pids;
  std::set<int> tags;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pids = pids_;
    tags = tags_;
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  // Namespaces are deleted by name at once, but give the kernel a moment to
  // tear down the killed processes' sockets.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int tag : tags) {
    absl::Status st = RemoveNetworkByTag(tag);
    (void)st;  // last resort: nothing left to report to
  }
}

}  // namespace raftkv::chaos
