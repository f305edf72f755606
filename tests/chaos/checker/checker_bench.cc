// Checking time of generated histories of the sizes the chaos harness
// produces (random_history.h: clients against a simulated register, so each
// history is linearizable), and of the same histories with one stale read
// planted near the end (a violation: the search must exhaust every
// configuration before it). Clients behave as the harness's (random_history.h
// defaults: 40% reads, 30% writes, 10% deletes, 20% cas expecting what the
// client last saw). Counters: operations, configurations explored (all keys).
//
//   build-checker/bin/checker_bench [--benchmark_filter=...]
// Arguments: ops / keys / clients / indeterminate per mille.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "tests/chaos/checker/linearizability.h"
#include "tests/chaos/checker/random_history.h"

namespace raftkv::chaos {
namespace {

History Generate(const benchmark::State& state) {
  testing::RandomHistoryOptions options;
  options.seed = 42;
  options.ops = static_cast<int>(state.range(0));
  options.keys = static_cast<int>(state.range(1));
  options.clients = static_cast<int>(state.range(2));
  options.indeterminate_fraction = static_cast<double>(state.range(3)) / 1000;
  return testing::SimulateRegisterHistory(options);
}

// Makes the last ok read of key k0 that has a completed write/delete/swap
// w2 before it, itself preceded by a completed write w1, return w1's value.
void PlantStaleRead(History& history) {
  auto changes = [](const Operation& op) {
    return op.outcome == Outcome::kOk && (op.type == OpType::kWrite || op.type == OpType::kDelete ||
                                          (op.type == OpType::kCas && op.cas_succeeded));
  };
  for (auto r = history.rbegin(); r != history.rend(); ++r) {
    if (r->key != "k0" || r->type != OpType::kRead || r->outcome != Outcome::kOk) continue;
    const Operation* w2 = nullptr;
    for (const Operation& op : history) {
      if (op.key == r->key && changes(op) && op.complete_ns < r->invoke_ns &&
          (w2 == nullptr || op.complete_ns > w2->complete_ns)) {
        w2 = &op;
      }
    }
    const Operation* w1 = nullptr;
    for (const Operation& op : history) {
      if (w2 != nullptr && op.key == r->key && changes(op) && op.type != OpType::kDelete &&
          op.complete_ns < w2->invoke_ns) {
        w1 = &op;
      }
    }
    if (w1 == nullptr) continue;
    r->read_value = w1->value;
    return;
  }
}

void Report(benchmark::State& state, const History& history, const CheckResult& result,
            bool expect_ok) {
  int64_t states = 0;
  for (const KeyResult& key : result.keys) {
    states += key.states_explored;
    if (key.unknown) state.SkipWithError("a key's search budget ran out");
  }
  if (result.ok() != expect_ok) state.SkipWithError("unexpected verdict");
  state.counters["ops"] = static_cast<double>(history.size());
  state.counters["states"] = static_cast<double>(states);
}

void BM_Linearizable(benchmark::State& state) {
  const History history = Generate(state);
  CheckResult result;
  for (auto _ : state) {
    result = CheckLinearizable(history);
    benchmark::DoNotOptimize(result);
  }
  Report(state, history, result, true);
}

void BM_StaleReadNearTheEnd(benchmark::State& state) {
  History history = Generate(state);
  PlantStaleRead(history);
  CheckResult result;
  for (auto _ : state) {
    result = CheckLinearizable(history);
    benchmark::DoNotOptimize(result);
  }
  Report(state, history, result, false);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({5'000, 5, 5, 20});
  b->Args({50'000, 10, 10, 20});
  b->Args({50'000, 5, 10, 20});
  b->Args({50'000, 5, 10, 50});
  b->Args({20'000, 1, 10, 20});  // one hot key: every client on it
  b->Unit(benchmark::kMillisecond);
  b->Iterations(1);  // the large ones take seconds; the counters matter more
}

BENCHMARK(BM_Linearizable)->Apply(Shapes);
BENCHMARK(BM_StaleReadNearTheEnd)->Apply(Shapes);

}  // namespace
}  // namespace raftkv::chaos

BENCHMARK_MAIN();
