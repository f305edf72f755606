// state_machine_bench: the key-value state machine (storage::KvStateMachine)
// applying committed Puts, as the apply thread does.
//
// One iteration applies one Put of a 16-byte key (uniform over `keys`
// distinct keys) and a 256-byte value: the command's writes, the new revision
// and the applied index go to RocksDB in one unsynced WriteBatch.
//   BM_ApplyPut        from a decoded v1::Command (KvStateMachine::Apply);
//   BM_ApplyPutEntry   from a raft::Entry holding the serialized Command
//                      (ApplyEntry: parse + apply).
//   BM_ApplyBatch      `batch` such entries in one ApplyBatch (one
//                      WriteBatch), as the apply thread merges what it finds
//                      queued: the server's path under load.
// Counters (per second of the applying thread's CPU time, so that other load
// on the machine does not distort them; RocksDB's background flushes and
// compactions are not included, the Time column is wall time):
//   ops/s      Puts applied per second
//   bytes/s    value bytes applied per second
// The database lives under $RAFTKV_BENCH_DIR, $TMPDIR or /tmp.
// Run: build/bin/state_machine_bench
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "proto/kv.pb.h"
#include "src/common/rng.h"
#include "src/raft/types.h"
#include "src/storage/db.h"
#include "src/storage/kv_state_machine.h"

namespace raftkv::storage {
namespace {

using bench::BenchDir;
using bench::Die;

constexpr int kKeyBytes = 16;
constexpr int kValueBytes = 256;
// Commands prepared ahead; the run cycles through them.
constexpr int kPrepared = 4096;

std::string Key(uint64_t i) {
  std::string k = std::to_string(i);
  return std::string(kKeyBytes - k.size(), '0') + k;
}

std::vector<v1::Command> MakePuts(uint64_t keys) {
  Rng rng(42);
  std::vector<v1::Command> out(kPrepared);
  for (v1::Command& c : out) {
    c.mutable_put()->set_key(Key(rng.Uniform(keys)));
    c.mutable_put()->set_value(std::string(kValueBytes, 'v'));
  }
  return out;
}

struct Fixture {
  BenchDir dir;
  std::unique_ptr<Db> db;
  std::unique_ptr<KvStateMachine> sm;

  Fixture() {
    absl::StatusOr<std::unique_ptr<Db>> d = Db::Open(dir.path(), 1, 1);
    if (!d.ok()) Die("open db", d.status());
    db = std::move(*d);
    absl::StatusOr<std::unique_ptr<KvStateMachine>> s = KvStateMachine::Open(db.get());
    if (!s.ok()) Die("open state machine", s.status());
    sm = std::move(*s);
  }
};

// per_iteration: Puts applied per iteration.
void SetCounters(benchmark::State& state, double per_iteration = 1) {
  const double n = static_cast<double>(state.iterations()) * per_iteration;
  state.counters["ops/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] =
      benchmark::Counter(n * kValueBytes, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void BM_ApplyPut(benchmark::State& state) {
  Fixture f;
  const std::vector<v1::Command> puts = MakePuts(static_cast<uint64_t>(state.range(0)));
  raft::Index index = 0;
  for (auto _ : state) {
    ++index;
    absl::StatusOr<ApplyOutcome> out = f.sm->Apply(index, 1, puts[index % kPrepared]);
    if (!out.ok()) Die("apply", out.status());
    if (!out->status.ok()) Die("put", out->status);
  }
  SetCounters(state);
}

void BM_ApplyPutEntry(benchmark::State& state) {
  Fixture f;
  const std::vector<v1::Command> puts = MakePuts(static_cast<uint64_t>(state.range(0)));
  std::vector<raft::Payload> payloads;
  for (const v1::Command& c : puts) payloads.emplace_back(c.SerializeAsString());
  raft::Entry e;
  e.term = 1;
  for (auto _ : state) {
    ++e.index;
    e.data = payloads[e.index % kPrepared];
    absl::StatusOr<ApplyOutcome> out = f.sm->ApplyEntry(e);
    if (!out.ok()) Die("apply", out.status());
    if (!out->status.ok()) Die("put", out->status);
  }
  SetCounters(state);
}

void BM_ApplyBatch(benchmark::State& state) {
  Fixture f;
  const std::vector<v1::Command> puts = MakePuts(static_cast<uint64_t>(state.range(0)));
  std::vector<raft::Payload> payloads;
  for (const v1::Command& c : puts) payloads.emplace_back(c.SerializeAsString());
  std::vector<raft::Entry> entries(static_cast<size_t>(state.range(1)));
  const std::map<raft::Index, raft::ConfState> no_conf_changes;
  raft::Index next = 1;
  for (auto _ : state) {
    for (raft::Entry& e : entries) {
      e.term = 1;
      e.index = next++;
      e.data = payloads[e.index % kPrepared];
    }
    absl::StatusOr<std::vector<ApplyOutcome>> out = f.sm->ApplyBatch(entries, no_conf_changes);
    if (!out.ok()) Die("apply", out.status());
    for (const ApplyOutcome& o : *out) {
      if (!o.status.ok()) Die("put", o.status);
    }
  }
  SetCounters(state, static_cast<double>(entries.size()));
}

BENCHMARK(BM_ApplyPut)->ArgName("keys")->Arg(1000)->Arg(100000);
BENCHMARK(BM_ApplyPutEntry)->ArgName("keys")->Arg(100000);
BENCHMARK(BM_ApplyBatch)->ArgNames({"keys", "batch"})->ArgsProduct({{10000, 100000}, {16, 64}});

}  // namespace
}  // namespace raftkv::storage

int main(int argc, char** argv) {
  benchmark::AddCustomContext("bench_dir", raftkv::bench::BenchBaseDir());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
