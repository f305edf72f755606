// Randomized tests of the checker: histories of a simulated register
// (linearizable by construction) are accepted, stale-read mutations of them
// rejected, and on small random histories the checker agrees with a naive
// brute force that tries every order. Seeded; a failure names its seed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/rng.h"
#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability.h"
#include "tests/chaos/checker/linearizability_internal.h"
#include "tests/chaos/checker/random_history.h"

namespace raftkv::chaos {
namespace {

using internal::CheckLinearizableWith;
using internal::Engine;
using testing::RandomHistoryOptions;

constexpr Engine kEngines[] = {Engine::kAuto, Engine::kDepthFirst, Engine::kFrontier};

const char* Name(Engine engine) {
  switch (engine) {
    case Engine::kAuto:
      return "auto";
    case Engine::kDepthFirst:
      return "depth-first";
    case Engine::kFrontier:
      return "frontier";
  }
  return "?";
}
using testing::SimulateRegisterHistory;

std::string Dump(const History& history) {
  std::string out;
  for (const Operation& op : history) absl::StrAppend(&out, FormatOperation(op), "\n");
  return out;
}

// The naive checker: every subset of the indeterminate writes/deletes/cas,
// every order of the chosen operations that respects real time (a before b
// when a completed before b was invoked), replayed against a register per key.
bool BruteForceLinearizable(const History& history) {
  std::vector<const Operation*> required, optional;
  for (const Operation& op : history) {
    if (op.outcome == Outcome::kFailed) continue;
    if (op.outcome == Outcome::kOk) {
      required.push_back(&op);
    } else if (op.type != OpType::kRead) {
      optional.push_back(&op);
    }
  }
  auto complete = [](const Operation* op) {
    return op->outcome == Outcome::kOk ? op->complete_ns : kNeverCompleted;
  };
  auto valid = [&](const std::vector<const Operation*>& order) {
    for (size_t i = 0; i < order.size(); ++i) {
      for (size_t j = i + 1; j < order.size(); ++j) {
        if (complete(order[j]) < order[i]->invoke_ns) return false;
      }
    }
    std::map<std::string, std::optional<std::string>> reg;
    for (const Operation* op : order) {
      std::optional<std::string>& value = reg[op->key];
      const bool ok = op->outcome == Outcome::kOk;
      switch (op->type) {
        case OpType::kRead:
          if (value != op->read_value) return false;
          break;
        case OpType::kWrite:
          value = op->value;
          break;
        case OpType::kDelete:
          value.reset();
          break;
        case OpType::kCas:
          if (ok && op->cas_succeeded != (value == op->expected)) return false;
          if (value == op->expected) value = op->value;
          break;
      }
    }
    return true;
  };
  for (uint32_t mask = 0; mask < (1u << optional.size()); ++mask) {
    std::vector<const Operation*> order = required;
    for (size_t i = 0; i < optional.size(); ++i) {
      if (mask & (1u << i)) order.push_back(optional[i]);
    }
    std::sort(order.begin(), order.end());
    do {
      if (valid(order)) return true;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return false;
}

// A plain search, with none of the checker's reductions: from a set of
// linearized operations and the registers, any pending operation may come
// next unless a pending ok operation completed before it was invoked; an
// indeterminate one may also never come; memoized on (set, registers).
// Exponential in the number of operations (fine up to ~16).
bool ReferenceLinearizable(const History& history) {
  std::vector<const Operation*> ops;
  for (const Operation& op : history) {
    if (op.outcome == Outcome::kOk ||
        (op.outcome == Outcome::kIndeterminate && op.type != OpType::kRead)) {
      ops.push_back(&op);
    }
  }
  uint32_t required_mask = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i]->outcome == Outcome::kOk) required_mask |= 1u << i;
  }
  using Registers = std::map<std::string, std::optional<std::string>>;
  std::set<std::pair<uint32_t, Registers>> failed;
  std::function<bool(uint32_t, const Registers&)> search = [&](uint32_t done,
                                                               const Registers& regs) {
    if ((done & required_mask) == required_mask) return true;
    if (failed.count({done, regs}) != 0) return false;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (done & (1u << i)) continue;
      bool blocked = false;
      for (size_t j = 0; j < ops.size() && !blocked; ++j) {
        blocked = j != i && !(done & (1u << j)) && (required_mask & (1u << j)) &&
                  ops[j]->complete_ns < ops[i]->invoke_ns;
      }
      if (blocked) continue;
      const Operation& op = *ops[i];
      Registers next = regs;
      std::optional<std::string>& value = next[op.key];
      const bool ok = op.outcome == Outcome::kOk;
      bool legal = true;
      switch (op.type) {
        case OpType::kRead:
          legal = value == op.read_value;
          break;
        case OpType::kWrite:
          value = op.value;
          break;
        case OpType::kDelete:
          value.reset();
          break;
        case OpType::kCas:
          legal = !ok || op.cas_succeeded == (value == op.expected);
          if (value == op.expected) value = op.value;
          break;
      }
      if (legal && search(done | (1u << i), next)) return true;
    }
    failed.insert({done, regs});
    return false;
  };
  return search(0, Registers{});
}

// Up to 7 operations with arbitrary results: mostly not linearizable.
History ArbitrarySmallHistory(Rng& rng) {
  const int n = 1 + static_cast<int>(rng.Uniform(7));
  const int keys = 1 + static_cast<int>(rng.Uniform(2));
  auto some_value = [&]() -> std::optional<std::string> {
    const uint64_t pick = rng.Uniform(static_cast<uint64_t>(n) + 1);
    if (pick == 0) return std::nullopt;
    return absl::StrCat("v", pick - 1);
  };
  History history;
  for (int i = 0; i < n; ++i) {
    Operation op;
    op.id = i;
    op.process = i;
    op.key = absl::StrCat("k", rng.Uniform(static_cast<uint64_t>(keys)));
    op.type = static_cast<OpType>(rng.Uniform(4));
    if (op.type == OpType::kWrite || op.type == OpType::kCas) op.value = absl::StrCat("v", i);
    if (op.type == OpType::kCas) {
      op.expected = some_value();
      op.cas_succeeded = rng.OneIn(2);
    }
    if (op.type == OpType::kRead) op.read_value = some_value();
    op.invoke_ns = static_cast<int64_t>(rng.Uniform(20));
    op.complete_ns = op.invoke_ns + static_cast<int64_t>(rng.Uniform(8));
    const uint64_t outcome = rng.Uniform(100);
    if (outcome < 18) {
      op.outcome = Outcome::kIndeterminate;
      op.complete_ns = kNeverCompleted;
    } else if (outcome < 30) {
      op.outcome = Outcome::kFailed;
    }
    history.push_back(op);
  }
  return history;
}

// Replaces one ok read's result by another value of the history (or absent).
History MutateOneRead(History history, Rng& rng) {
  std::vector<size_t> reads;
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].type == OpType::kRead && history[i].outcome == Outcome::kOk) reads.push_back(i);
  }
  if (reads.empty()) return history;
  Operation& read = history[reads[rng.Uniform(reads.size())]];
  std::vector<std::optional<std::string>> values = {std::nullopt};
  for (const Operation& op : history) {
    if (op.value.has_value()) values.push_back(op.value);
  }
  read.read_value = values[rng.Uniform(values.size())];
  return history;
}

TEST(LinearizabilityRandomTest, AgreesWithBruteForceOnSmallHistories) {
  constexpr uint64_t kSeeds = 4000;
  int linearizable = 0, not_linearizable = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Rng rng(seed);
    History history;
    switch (seed % 3) {
      case 0:
        history = ArbitrarySmallHistory(rng);
        break;
      case 1:
      case 2: {
        RandomHistoryOptions options;
        options.seed = seed;
        options.ops = 1 + static_cast<int>(rng.Uniform(7));
        options.keys = 1 + static_cast<int>(rng.Uniform(2));
        options.clients = 2 + static_cast<int>(rng.Uniform(3));
        options.indeterminate_fraction = 0.25;
        options.cas_weight = static_cast<int>(rng.Uniform(60));
        options.delete_weight = static_cast<int>(rng.Uniform(20));
        options.failed_fraction = 0.1;
        options.max_gap_ns = 5;
        options.max_duration_ns = 10;
        options.max_indeterminate_delay_ns = 30;
        history = SimulateRegisterHistory(options);
        if (seed % 3 == 2) history = MutateOneRead(std::move(history), rng);
        break;
      }
    }
    const bool expected = BruteForceLinearizable(history);
    for (const Engine engine : kEngines) {
      const CheckResult result = CheckLinearizableWith(history, {}, engine);
      ASSERT_EQ(result.ok(), expected)
          << "seed " << seed << ", " << Name(engine) << " search\n"
          << Dump(history) << (result.ok() ? "" : result.violations[0].explanation);
    }
    (expected ? linearizable : not_linearizable)++;
  }
  // Both verdicts are well represented.
  EXPECT_GT(linearizable, 800);
  EXPECT_GT(not_linearizable, 800);
}

TEST(LinearizabilityRandomTest, AgreesWithAPlainSearchOnMediumHistories) {
  constexpr uint64_t kSeeds = 3000;
  int linearizable = 0, not_linearizable = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Rng rng(seed * 7919);
    RandomHistoryOptions options;
    options.seed = seed;
    options.ops = 8 + static_cast<int>(rng.Uniform(7));
    options.keys = 1 + static_cast<int>(rng.OneIn(4));
    options.clients = 2 + static_cast<int>(rng.Uniform(4));
    options.indeterminate_fraction = 0.1 + 0.3 * static_cast<double>(rng.Uniform(3));
    options.failed_fraction = 0.05;
    options.cas_weight = static_cast<int>(rng.Uniform(60));
    options.delete_weight = static_cast<int>(rng.Uniform(30));
    options.max_gap_ns = 5;
    options.max_duration_ns = 12;
    options.max_indeterminate_delay_ns = 40;
    History history = SimulateRegisterHistory(options);
    if (rng.OneIn(2)) history = MutateOneRead(std::move(history), rng);
    if (rng.OneIn(3)) {  // flip one ok cas's result
      for (Operation& op : history) {
        if (op.type == OpType::kCas && op.outcome == Outcome::kOk && rng.OneIn(2)) {
          op.cas_succeeded = !op.cas_succeeded;
          break;
        }
      }
    }
    const bool expected = ReferenceLinearizable(history);
    for (const Engine engine : kEngines) {
      const CheckResult result = CheckLinearizableWith(history, {}, engine);
      ASSERT_EQ(result.ok(), expected)
          << "seed " << seed << ", " << Name(engine) << " search\n"
          << Dump(history) << (result.ok() ? "" : result.violations[0].explanation);
    }
    (expected ? linearizable : not_linearizable)++;
  }
  EXPECT_GT(linearizable, kSeeds / 5);
  EXPECT_GT(not_linearizable, kSeeds / 5);
}

struct Shape {
  int ops, keys, clients;
  double indeterminate;
  testing::CasExpectation cas_expects;
};

TEST(LinearizabilityRandomTest, SimulatedRegisterHistoriesAreAccepted) {
  using testing::CasExpectation;
  const Shape shapes[] = {
      {300, 1, 3, 0.0, CasExpectation::kLastSeen},
      {500, 1, 6, 0.05, CasExpectation::kLastSeen},
      {1000, 3, 8, 0.03, CasExpectation::kLastSeen},
      {2000, 5, 10, 0.02, CasExpectation::kLastSeen},
      {500, 1, 6, 0.05, CasExpectation::kRecentWrite},
      {2000, 5, 10, 0.05, CasExpectation::kRecentWrite},
  };
  for (const Shape& shape : shapes) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      RandomHistoryOptions options;
      options.seed = seed;
      options.ops = shape.ops;
      options.keys = shape.keys;
      options.clients = shape.clients;
      options.indeterminate_fraction = shape.indeterminate;
      options.cas_expects = shape.cas_expects;
      const History history = SimulateRegisterHistory(options);
      ASSERT_TRUE(CheckWellFormed(history).ok()) << CheckWellFormed(history);
      for (const Engine engine : kEngines) {
        const CheckResult result = CheckLinearizableWith(history, {}, engine);
        ASSERT_TRUE(result.ok()) << "seed " << seed << " ops " << shape.ops << ", " << Name(engine)
                                 << " search\n"
                                 << result.violations[0].explanation;
        for (const KeyResult& key : result.keys) {
          ASSERT_TRUE(key.linearizable)
              << "seed " << seed << " key " << key.key << ", " << Name(engine) << " search";
        }
      }
    }
  }
}

// Makes an ok read on a key return the value of an ok write w1 although
// another ok write w2 (or delete, or swapped cas) followed w1 in real time and
// completed before the read began: certainly not linearizable. Returns the
// read's id, or -1 when the history has no such triple.
int64_t MutateToStaleRead(History& history, Rng& rng) {
  std::vector<size_t> reads;
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].type == OpType::kRead && history[i].outcome == Outcome::kOk) reads.push_back(i);
  }
  auto changes = [](const Operation& op) {
    return op.outcome == Outcome::kOk && (op.type == OpType::kWrite || op.type == OpType::kDelete ||
                                          (op.type == OpType::kCas && op.cas_succeeded));
  };
  for (int attempt = 0; attempt < 100 && !reads.empty(); ++attempt) {
    Operation& read = history[reads[rng.Uniform(reads.size())]];
    // The latest-completing change before the read, and a write before it.
    const Operation* w2 = nullptr;
    for (const Operation& op : history) {
      if (op.key == read.key && changes(op) && op.complete_ns < read.invoke_ns &&
          (w2 == nullptr || op.complete_ns > w2->complete_ns)) {
        w2 = &op;
      }
    }
    if (w2 == nullptr) continue;
    const Operation* w1 = nullptr;
    for (const Operation& op : history) {
      if (op.key == read.key && changes(op) && op.type != OpType::kDelete &&
          op.complete_ns < w2->invoke_ns) {
        w1 = &op;
      }
    }
    if (w1 == nullptr) continue;
    read.read_value = w1->value;
    return read.id;
  }
  return -1;
}

TEST(LinearizabilityRandomTest, StaleReadMutationsAreRejected) {
  int mutated = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    RandomHistoryOptions options;
    options.seed = seed;
    options.ops = 400 + static_cast<int>(seed * 20);
    options.keys = 1 + static_cast<int>(seed % 4);
    options.clients = 3 + static_cast<int>(seed % 6);
    options.indeterminate_fraction = 0.03;
    options.cas_expects =
        seed % 2 == 0 ? testing::CasExpectation::kLastSeen : testing::CasExpectation::kRecentWrite;
    History history = SimulateRegisterHistory(options);
    Rng rng(seed);
    const int64_t read_id = MutateToStaleRead(history, rng);
    if (read_id < 0) continue;
    ++mutated;
    for (const Engine engine : kEngines) {
      const CheckResult result = CheckLinearizableWith(history, {}, engine);
      ASSERT_FALSE(result.ok()) << "seed " << seed << ": stale read #" << read_id
                                << " not caught by the " << Name(engine) << " search";
      ASSERT_EQ(result.violations.size(), 1u) << "seed " << seed << ", " << Name(engine);
      EXPECT_THAT(result.violations[0].op_ids, ::testing::Contains(read_id))
          << "seed " << seed << ", " << Name(engine) << "\n"
          << result.violations[0].explanation;
      for (const KeyResult& key : result.keys) {
        ASSERT_FALSE(key.unknown) << "seed " << seed << ", " << Name(engine);
      }
    }
  }
  EXPECT_GT(mutated, 50);
}

// The size the harness produces; the time is measured by checker_bench.
TEST(LinearizabilityRandomTest, LargeHistoryIsAccepted) {
  RandomHistoryOptions options;
  options.seed = 7;
  options.ops = 50'000;
  options.keys = 8;
  options.clients = 10;
  options.indeterminate_fraction = 0.02;
  const History history = SimulateRegisterHistory(options);
  const CheckResult result = CheckLinearizable(history);
  ASSERT_TRUE(result.ok()) << result.violations[0].explanation;
  EXPECT_EQ(result.keys.size(), 8u);
  for (const KeyResult& key : result.keys) EXPECT_TRUE(key.linearizable) << key.key;
}

}  // namespace
}  // namespace raftkv::chaos
