// Helpers for transport tests: an Inbox that records what a transport hands
// its owner, and condition waits with deadlines (never fixed sleeps).
// Thread-safety: Inbox's handlers may run on any thread; its methods too.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/raft/types.h"
#include "src/transport/transport.h"

namespace raftkv::transport::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(20);  // generous: the tests share two cores

class Inbox {
 public:
  TransportHandlers Handlers() {
    TransportHandlers h;
    h.on_message = [this](raft::Message m) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(std::move(m));
      cv_.notify_all();
    };
    h.on_unreachable = [this](NodeId peer) {
      std::lock_guard<std::mutex> lock(mu_);
      unreachable_.push_back(peer);
      cv_.notify_all();
    };
    h.on_snapshot_status = [this](NodeId peer, bool failed) {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_status_.emplace_back(peer, failed);
      cv_.notify_all();
    };
    return h;
  }

  // Waits until at least n messages arrived; false at the deadline.
  bool WaitForMessages(size_t n, std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  bool WaitForUnreachable(NodeId peer, std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (NodeId id : unreachable_) {
        if (id == peer) return true;
      }
      return false;
    });
  }
  bool WaitForSnapshotStatus(size_t n, std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return snapshot_status_.size() >= n; });
  }

  std::vector<raft::Message> messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  std::vector<NodeId> unreachable() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unreachable_;
  }
  std::vector<std::pair<NodeId, bool>> snapshot_status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshot_status_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<raft::Message> messages_;
  std::vector<NodeId> unreachable_;
  std::vector<std::pair<NodeId, bool>> snapshot_status_;
};

// Polls pred every few milliseconds until it holds or the deadline passes.
// For conditions no callback signals (counters); the sleep is the polling
// interval, never the assertion.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

inline raft::Entry MakeEntry(raft::Term term, raft::Index index, std::string data,
                             raft::EntryType type = raft::EntryType::kNormal) {
  raft::Entry e;
  e.term = term;
  e.index = index;
  e.type = type;
  e.data = raft::Payload(std::move(data));
  return e;
}

inline raft::Message MakeMessage(raft::MessageType type, NodeId from, NodeId to,
                                 raft::Term term = 1) {
  raft::Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

inline raft::Message Heartbeat(NodeId from, NodeId to, raft::Index commit) {
  raft::Message m = MakeMessage(raft::MessageType::kHeartbeat, from, to);
  m.commit = commit;
  return m;
}

// Every field, payloads included; a readable diff on mismatch.
inline std::string Render(const raft::Message& m) {
  std::string s = raft::Describe(m);
  s += " ctx=" + m.context;
  for (const raft::Entry& e : m.entries) {
    s += " [" + raft::Describe(e) + " size=" + std::to_string(e.data.size()) +
         " hash=" + std::to_string(std::hash<std::string_view>()(e.data.view())) + "]";
  }
  if (!m.snapshot.IsEmpty()) {
    s += " snap{" + std::to_string(m.snapshot.metadata.index) + "/" +
         std::to_string(m.snapshot.metadata.term) + " " +
         raft::Describe(m.snapshot.metadata.conf_state) +
         " size=" + std::to_string(m.snapshot.data.size()) +
         " hash=" + std::to_string(std::hash<std::string_view>()(m.snapshot.data.view())) + "}";
  }
  s += " reject=" + std::to_string(m.reject) + " hint=" + std::to_string(m.reject_hint);
  return s;
}

// A mixed set of messages from `from` to `to`, of several types, with
// payloads.
inline std::vector<raft::Message> MixedMessages(NodeId from, NodeId to) {
  std::vector<raft::Message> out;
  raft::Message app = MakeMessage(raft::MessageType::kApp, from, to, 3);
  app.log_term = 2;
  app.index = 10;
  app.commit = 9;
  app.entries.push_back(MakeEntry(3, 11, "put x=1"));
  app.entries.push_back(MakeEntry(3, 12, ""));
  app.entries.push_back(MakeEntry(3, 13, std::string(100 * 1024, 'p')));
  app.entries.push_back(MakeEntry(3, 14, "conf", raft::EntryType::kConfChange));
  out.push_back(app);
  raft::Message vote = MakeMessage(raft::MessageType::kVote, from, to, 4);
  vote.log_term = 3;
  vote.index = 14;
  out.push_back(vote);
  raft::Message hb = Heartbeat(from, to, 12);
  hb.context = "read-ctx-1";
  out.push_back(hb);
  raft::Message resp = MakeMessage(raft::MessageType::kAppResp, from, to, 3);
  resp.reject = true;
  resp.reject_hint = 7;
  resp.index = 13;
  out.push_back(resp);
  raft::Message snap = MakeMessage(raft::MessageType::kSnap, from, to, 3);
  snap.snapshot.metadata.index = 100;
  snap.snapshot.metadata.term = 3;
  snap.snapshot.metadata.conf_state.voters = {1, 2, 3};
  snap.snapshot.metadata.conf_state.learners = {4};
  snap.snapshot.data = raft::Payload(std::string(200 * 1024, 's'));
  out.push_back(snap);
  out.push_back(MakeMessage(raft::MessageType::kTimeoutNow, from, to, 5));
  raft::Message prevote = MakeMessage(raft::MessageType::kPreVoteResp, from, to, 6);
  prevote.reject = true;
  out.push_back(prevote);
  return out;
}

}  // namespace raftkv::transport::testing
