#include "src/storage/power_cut.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

namespace raftkv::storage::power_cut {
namespace {

std::atomic<bool> enabled{false};

std::mutex& Mu() {
  static auto* mu = new std::mutex;  // never destroyed: Cut holds it to the end
  return *mu;
}

std::set<WalTracker*>& Live() {
  static auto* live = new std::set<WalTracker*>;
  return *live;
}

// Writes zeros over [from, to) of fd; false on an error.
bool Zero(int fd, uint64_t from, uint64_t to) {
  static const std::vector<char> zeros(64 << 10, 0);
  while (from < to) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(to - from, zeros.size()));
    ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(from));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    from += static_cast<uint64_t>(w);
  }
  return true;
}

void Say(const std::string& line) {
  std::string out = "raftkv: power cut: " + line + "\n";
  (void)!::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace

void Enable() { enabled.store(true); }
bool Enabled() { return enabled.load(); }

void Cut() {
  Mu().lock();  // never unlocked: no write or sync completes after this
  for (WalTracker* t : Live()) {
    if (t->written_ <= t->synced_) continue;
    bool ok = Zero(t->fd_, t->synced_, t->written_);
    Say(t->path_ + ": dropped bytes " + std::to_string(t->synced_) + " to " +
        std::to_string(t->written_) + (ok ? "" : std::string(" FAILED: ") + std::strerror(errno)));
  }
  Say("exiting");
  ::_exit(kExitCode);
}

std::unique_ptr<WalTracker> WalTracker::IfEnabled(int fd, std::string path) {
  if (!Enabled()) return nullptr;
  std::unique_ptr<WalTracker> t(new WalTracker(::dup(fd), std::move(path)));
  std::lock_guard<std::mutex> lock(Mu());
  Live().insert(t.get());
  return t;
}

WalTracker::WalTracker(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

WalTracker::~WalTracker() {
  {
    std::lock_guard<std::mutex> lock(Mu());
    Live().erase(this);
  }
  if (fd_ >= 0) ::close(fd_);
}

void WalTracker::Retire(std::unique_ptr<WalTracker> tracker) {
  static auto* retired = new std::vector<std::unique_ptr<WalTracker>>;
  std::lock_guard<std::mutex> lock(Mu());
  retired->push_back(std::move(tracker));
}

bool WalTracker::AllSynced() {
  std::lock_guard<std::mutex> lock(Mu());
  return synced_ >= written_;
}

void WalTracker::Lock() { Mu().lock(); }
void WalTracker::Unlock() { Mu().unlock(); }

uint64_t WalTracker::BeginSync() {
  std::lock_guard<std::mutex> lock(Mu());
  return written_;
}

void WalTracker::EndSync(uint64_t covered) {
  std::lock_guard<std::mutex> lock(Mu());
  synced_ = std::max(synced_, covered);
}

void WalTracker::Truncated(uint64_t size, bool synced) {
  std::lock_guard<std::mutex> lock(Mu());
  written_ = size;
  synced_ = synced ? size : std::min(synced_, size);
}

}  // namespace raftkv::storage::power_cut
