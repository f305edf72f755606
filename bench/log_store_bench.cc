// log_store_bench: the durable Raft log (storage::RaftLogStore) on this disk.
//
// One iteration is one Save: `batch` entries of 256-byte payloads plus the
// hard state, in one synced RocksDB WriteBatch (one fsync), exactly what the
// node loop does per Ready. Entry indexes keep growing, so the log grows as a
// busy leader's does (the log is compacted every kCompactEvery entries, as
// log compaction would).
//
// Counters (per second of WALL time, since the cost is the disk, not the CPU):
//   syncs/s    Saves (fsyncs) per second
//   entries/s  entries made durable per second
//   bytes/s    payload bytes made durable per second
// The unsynced variant shows what the fsync costs.
//
// The database lives in a fresh directory under $RAFTKV_BENCH_DIR, $TMPDIR or
// /tmp (printed in the context as bench_dir): put it on the disk you mean.
// Run: build/bin/log_store_bench  (see --benchmark_filter, --benchmark_min_time)
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "src/raft/types.h"
#include "src/storage/db.h"
#include "src/storage/raft_log_store.h"

namespace raftkv::storage {
namespace {

using bench::BenchDir;
using bench::Die;

constexpr int kEntryBytes = 256;
constexpr raft::Index kCompactEvery = 1 << 16;

void RunSaves(benchmark::State& state, bool sync) {
  const int batch = static_cast<int>(state.range(0));
  BenchDir dir;
  absl::StatusOr<std::unique_ptr<Db>> db = Db::Open(dir.path(), 1, 1);
  if (!db.ok()) Die("open db", db.status());
  absl::StatusOr<std::unique_ptr<RaftLogStore>> store = RaftLogStore::Open(db->get());
  if (!store.ok()) Die("open log store", store.status());
  if (absl::Status s = (*store)->Bootstrap(raft::ConfState{{1, 2, 3}, {}}); !s.ok()) {
    Die("bootstrap", s);
  }
  const raft::Payload payload(std::string(kEntryBytes, 'e'));
  std::vector<raft::Entry> entries(batch);
  raft::HardState hs{1, 1, 0};
  raft::Index next = 1;
  raft::Index compacted = 0;
  for (auto _ : state) {
    for (raft::Entry& e : entries) {
      e.term = 1;
      e.index = next++;
      e.data = payload;
    }
    hs.commit = next - 1;
    if (absl::Status s = (*store)->Save(hs, entries, sync); !s.ok()) Die("save", s);
    if (next - 1 >= compacted + kCompactEvery) {
      state.PauseTiming();
      compacted = next - 1;
      if (absl::Status s = (*store)->Compact(compacted); !s.ok()) Die("compact", s);
      state.ResumeTiming();
    }
  }
  const double saves = static_cast<double>(state.iterations());
  state.counters["syncs/s"] = benchmark::Counter(sync ? saves : 0, benchmark::Counter::kIsRate);
  state.counters["entries/s"] = benchmark::Counter(saves * batch, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] = benchmark::Counter(
      saves * batch * kEntryBytes, benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void BM_LogStoreSyncedSave(benchmark::State& state) { RunSaves(state, /*sync=*/true); }
void BM_LogStoreUnsyncedSave(benchmark::State& state) { RunSaves(state, /*sync=*/false); }

BENCHMARK(BM_LogStoreSyncedSave)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LogStoreUnsyncedSave)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace raftkv::storage

int main(int argc, char** argv) {
  benchmark::AddCustomContext("bench_dir", raftkv::bench::BenchBaseDir());
  benchmark::AddCustomContext("entry_bytes", "256");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
