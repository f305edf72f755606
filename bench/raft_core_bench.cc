// raft_core_bench: throughput of the Raft core alone.
//
// A 3-node cluster of RawNodes, each with its own MemoryStorage, runs in one
// thread with no I/O: messages are handed from one node's Ready straight into
// the next node's Step. One iteration proposes a batch of small entries on the
// leader (ProposeBatch) and runs the whole path until every node has handed
// out every entry of the batch as committed:
//   leader Ready (append to its MemoryStorage, kApp to followers)
//   -> followers Step + Ready (append, kAppResp)
//   -> leader Step (commit) + Ready (committed entries, kApp carrying commit)
//   -> followers Ready (committed entries).
// The counter `entries/s` is committed entries per second (an entry counts
// once, when all three nodes have handed it out as committed). Like every
// Google Benchmark rate it is per second of the benchmark thread's CPU time;
// the whole cluster runs in that one thread, so it is the throughput of one
// core (on an idle machine CPU time ~= wall time; compare the Time column).
// Payloads are created once and shared (a Payload copy is a reference-count
// increment), so the figure is the core's cost, not the proposer's.
//
// Pipelined variants keep `depth` batches in flight: the next batch is
// proposed before the previous one is committed, as a busy server would.
//
// Storage logs are compacted every kCompactEvery entries so that a long run
// does not grow without bound.
//
// Run: build/bin/raft_core_bench  (see --benchmark_filter, --benchmark_min_time)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/raft/raw_node.h"
#include "src/raft/storage.h"
#include "src/raft/types.h"

namespace raftkv::raft {
namespace {

constexpr int kNodes = 3;
constexpr Index kCompactEvery = 1 << 16;

[[noreturn]] void Die(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "raft_core_bench: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

class Cluster {
 public:
  Cluster() {
    ConfState cs;
    for (int i = 0; i < kNodes; ++i) cs.voters.push_back(i + 1);
    for (int i = 0; i < kNodes; ++i) {
      Member& m = members_[i];
      m.storage = std::make_unique<MemoryStorage>();
      m.storage->Bootstrap(cs);
      Config c;
      c.id = i + 1;
      c.election_tick = 10;
      c.heartbeat_tick = 1;
      c.storage = m.storage.get();
      c.seed = 1 + i;
      absl::StatusOr<std::unique_ptr<RawNode>> raw = RawNode::Create(c);
      if (!raw.ok()) Die("create", raw.status());
      m.raw = std::move(*raw);
    }
    if (absl::Status s = members_[0].raw->Campaign(); !s.ok()) Die("campaign", s);
    Pump();
    if (members_[0].raw->GetStatus().soft_state.role != StateRole::kLeader) {
      std::fprintf(stderr, "raft_core_bench: node 1 did not become leader\n");
      std::abort();
    }
  }

  RawNode& leader() { return *members_[0].raw; }

  // The lowest applied index over all nodes.
  Index MinApplied() const {
    Index lo = members_[0].applied;
    for (const Member& m : members_) lo = std::min(lo, m.applied);
    return lo;
  }
  Index LeaderLast() const { return *members_[0].storage->LastIndex(); }

  // Handles Readys and delivers messages until nothing moves.
  void Pump() {
    for (;;) {
      bool moved = false;
      for (int i = 0; i < kNodes; ++i) moved |= HandleReady(i);
      if (mail_.empty()) {
        if (!moved) return;
        continue;
      }
      delivering_.swap(mail_);
      for (Message& m : delivering_) {
        const NodeId to = m.to;
        absl::Status s = members_[to - 1].raw->Step(std::move(m));
        if (!s.ok()) Die("step", s);
      }
      delivering_.clear();
    }
  }

  // Handles the leader's Ready only (its messages wait in the mailbox).
  void LeaderReady() { HandleReady(0); }

  // Drops the log prefix every node has applied.
  void MaybeCompact() {
    const Index upto = MinApplied();
    if (upto < compacted_ + kCompactEvery) return;
    for (Member& m : members_) {
      if (absl::Status s = m.storage->Compact(upto); !s.ok()) Die("compact", s);
    }
    compacted_ = upto;
  }

 private:
  struct Member {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> raw;
    Index applied = 0;
  };

  bool HandleReady(int i) {
    Member& m = members_[i];
    if (!m.raw->HasReady()) return false;
    Ready rd = m.raw->GetReady();
    if (!rd.snapshot.IsEmpty()) {
      if (absl::Status s = m.storage->ApplySnapshot(rd.snapshot); !s.ok()) Die("snapshot", s);
    }
    if (!rd.entries.empty()) {
      if (absl::Status s = m.storage->Append(rd.entries); !s.ok()) Die("append", s);
    }
    if (!rd.hard_state.IsEmpty()) m.storage->SetHardState(rd.hard_state);
    for (Message& msg : rd.messages) mail_.push_back(std::move(msg));
    if (!rd.committed_entries.empty()) {
      // "Apply": touch each entry as a state machine would.
      for (const Entry& e : rd.committed_entries) benchmark::DoNotOptimize(e.data.size());
      m.applied = rd.committed_entries.back().index;
    }
    m.raw->Advance();
    return true;
  }

  std::array<Member, kNodes> members_;
  std::vector<Message> mail_;
  std::vector<Message> delivering_;
  Index compacted_ = 0;
};

std::vector<Payload> MakePayloads(int n, int size) {
  std::vector<Payload> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    std::string s(size, 'x');
    s[0] = static_cast<char>(i);
    out.push_back(Payload(std::move(s)));
  }
  return out;
}

// Args: entries per batch, payload bytes.
void BM_CommitBatch(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int size = static_cast<int>(state.range(1));
  Cluster cluster;
  const std::vector<Payload> payloads = MakePayloads(batch, size);
  uint64_t committed = 0;
  for (auto _ : state) {
    absl::Status s = cluster.leader().ProposeBatch(payloads);
    if (!s.ok()) Die("propose", s);
    const Index target = cluster.LeaderLast();
    cluster.Pump();
    if (cluster.MinApplied() < target) {
      state.SkipWithError("batch not committed on every node");
      break;
    }
    committed += batch;
    cluster.MaybeCompact();
  }
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(committed) * size, benchmark::Counter::kIsRate);
}

// Args: entries per batch, payload bytes, batches in flight.
// Proposes `depth` batches, each followed by the leader's Ready (so each goes
// out as its own kApp), before any follower answers: `depth` appends are in
// flight per follower, as when a busy leader pipelines.
void BM_CommitPipelined(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int size = static_cast<int>(state.range(1));
  const int depth = static_cast<int>(state.range(2));
  Cluster cluster;
  const std::vector<Payload> payloads = MakePayloads(batch, size);
  uint64_t committed = 0;
  for (auto _ : state) {
    for (int d = 0; d < depth; ++d) {
      absl::Status s = cluster.leader().ProposeBatch(payloads);
      if (!s.ok()) Die("propose", s);
      cluster.LeaderReady();
    }
    const Index target = cluster.LeaderLast();
    cluster.Pump();
    if (cluster.MinApplied() < target) {
      state.SkipWithError("batch not committed on every node");
      break;
    }
    committed += static_cast<uint64_t>(batch) * depth;
    cluster.MaybeCompact();
  }
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_CommitBatch)
    ->ArgNames({"batch", "bytes"})
    ->Args({1, 16})
    ->Args({64, 16})
    ->Args({256, 16})
    ->Args({1024, 16})
    ->Args({1, 64})
    ->Args({64, 64})
    ->Args({256, 64})
    ->Args({1024, 64})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_CommitPipelined)
    ->ArgNames({"batch", "bytes", "depth"})
    ->Args({1, 64, 64})
    ->Args({64, 64, 8})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace raftkv::raft

BENCHMARK_MAIN();
