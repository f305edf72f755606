#include "src/server/log_syncer.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace raftkv::server {

LogSyncer::LogSyncer(SyncFn sync, DurableFn on_durable)
    : sync_(std::move(sync)), on_durable_(std::move(on_durable)) {
  thread_ = std::thread([this] { Run(); });
}

LogSyncer::~LogSyncer() { Stop(); }

void LogSyncer::Request(raft::Term term, raft::Index index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    requested_ = std::make_pair(term, index);
  }
  cv_.notify_one();
}

void LogSyncer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LogSyncer::Run() {
  pthread_setname_np(pthread_self(), "raft-sync");
  while (true) {
    std::pair<raft::Term, raft::Index> target;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || requested_.has_value(); });
      if (stopping_) return;
      target = *requested_;
      requested_.reset();
    }
    absl::Status st = sync_();
    RAFTKV_CHECK_MSG(st.ok(), absl::StrCat("syncing the Raft log failed: ", st.ToString()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    on_durable_(target.first, target.second);
  }
}

}  // namespace raftkv::server
