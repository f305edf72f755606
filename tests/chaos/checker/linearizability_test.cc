// Hand-made histories: linearizable ones accepted, known violations rejected
// with an explanation that names the right operations; per-key partitioning;
// the search budget.
#include "tests/chaos/checker/linearizability.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability_internal.h"

namespace raftkv::chaos {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Builds a history; every operation gets the next id (from 1) and its own
// process unless one is given.
class Builder {
 public:
  Operation& Read(const std::string& key, std::optional<std::string> value, int64_t t0,
                  int64_t t1) {
    Operation& op = Add(OpType::kRead, key, t0, t1);
    op.read_value = std::move(value);
    return op;
  }
  Operation& Write(const std::string& key, const std::string& value, int64_t t0, int64_t t1) {
    Operation& op = Add(OpType::kWrite, key, t0, t1);
    op.value = value;
    return op;
  }
  Operation& Delete(const std::string& key, int64_t t0, int64_t t1) {
    return Add(OpType::kDelete, key, t0, t1);
  }
  Operation& Cas(const std::string& key, std::optional<std::string> expected,
                 const std::string& value, bool succeeded, int64_t t0, int64_t t1) {
    Operation& op = Add(OpType::kCas, key, t0, t1);
    op.expected = std::move(expected);
    op.value = value;
    op.cas_succeeded = succeeded;
    return op;
  }
  const History& history() const { return history_; }

 private:
  Operation& Add(OpType type, const std::string& key, int64_t t0, int64_t t1) {
    Operation op;
    op.id = static_cast<int64_t>(history_.size()) + 1;
    op.process = static_cast<int>(op.id);
    op.type = type;
    op.key = key;
    op.invoke_ns = t0;
    op.complete_ns = t1;
    history_.push_back(op);
    return history_.back();
  }
  History history_;
};

Operation& Indeterminate(Operation& op) {
  op.outcome = Outcome::kIndeterminate;
  op.complete_ns = kNeverCompleted;
  op.cas_succeeded = false;
  return op;
}

Operation& Failed(Operation& op) {
  op.outcome = Outcome::kFailed;
  return op;
}

std::string Explain(const CheckResult& result) {
  std::string out;
  for (const Violation& v : result.violations) out += v.explanation;
  return out;
}

// Each way of checking: the public entry point and each search engine alone.
std::vector<std::pair<const char*, CheckResult>> CheckAllWays(const History& history,
                                                              const CheckOptions& options = {}) {
  return {
      {"CheckLinearizable", CheckLinearizable(history, options)},
      {"depth-first",
       internal::CheckLinearizableWith(history, options, internal::Engine::kDepthFirst)},
      {"frontier", internal::CheckLinearizableWith(history, options, internal::Engine::kFrontier)},
  };
}

void ExpectLinearizable(const History& history) {
  for (const auto& [how, result] : CheckAllWays(history)) {
    EXPECT_TRUE(result.ok()) << how << "\n" << Explain(result);
    for (const KeyResult& key : result.keys) {
      EXPECT_TRUE(key.linearizable) << how << " " << key.key;
      EXPECT_FALSE(key.unknown) << how << " " << key.key;
    }
  }
}

// The single violation, found every way; its op_ids must include `ids`.
std::vector<Violation> ExpectViolation(const History& history, std::initializer_list<int64_t> ids) {
  std::vector<Violation> found;
  for (const auto& [how, result] : CheckAllWays(history)) {
    EXPECT_FALSE(result.ok()) << how;
    if (result.violations.size() != 1) {
      ADD_FAILURE() << how << ": expected one violation, got " << result.violations.size();
      continue;
    }
    const Violation& v = result.violations[0];
    for (const int64_t id : ids)
      EXPECT_THAT(v.op_ids, Contains(id)) << how << "\n" << v.explanation;
    EXPECT_EQ(result.keys.size(), 1u) << how;
    if (!result.keys.empty()) {
      EXPECT_FALSE(result.keys[0].linearizable) << how;
      EXPECT_FALSE(result.keys[0].unknown) << how;
    }
    found.push_back(v);
  }
  return found;
}

TEST(LinearizabilityTest, EmptyHistory) {
  const CheckResult result = CheckLinearizable({});
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(result.keys, IsEmpty());
}

TEST(LinearizabilityTest, SequentialHistory) {
  Builder b;
  b.Read("k", std::nullopt, 0, 1);
  b.Write("k", "a", 2, 3);
  b.Read("k", "a", 4, 5);
  b.Cas("k", "a", "b", true, 6, 7);
  b.Cas("k", "a", "c", false, 8, 9);
  b.Read("k", "b", 10, 11);
  b.Delete("k", 12, 13);
  b.Read("k", std::nullopt, 14, 15);
  b.Cas("k", std::nullopt, "d", true, 16, 17);
  b.Read("k", "d", 18, 19);
  ExpectLinearizable(b.history());
  const CheckResult result = CheckLinearizable(b.history());
  ASSERT_EQ(result.keys.size(), 1u);
  EXPECT_EQ(result.keys[0].key, "k");
  EXPECT_EQ(result.keys[0].ops, 10u);
  EXPECT_GT(result.keys[0].states_explored, 0);
}

TEST(LinearizabilityTest, ConcurrentWritesReadInEitherOrder) {
  for (const char* last : {"a", "b"}) {
    Builder b;
    b.Write("k", "a", 0, 10);
    b.Write("k", "b", 2, 12);
    b.Read("k", std::nullopt, 1, 3);  // before both
    b.Read("k", "b", 5, 6);           // b first ...
    b.Read("k", last, 20, 21);        // ... then a, or b stays
    ExpectLinearizable(b.history());
  }
  Builder b;  // reads concurrent with the writes see them in opposite orders over time
  b.Write("k", "a", 0, 10);
  b.Write("k", "b", 0, 10);
  b.Read("k", "a", 1, 9);
  b.Read("k", "b", 1, 9);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, TouchingIntervalsAreConcurrent) {
  Builder b;
  b.Write("k", "a", 0, 5);
  b.Read("k", std::nullopt, 5, 6);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, IndeterminateWriteSeenLater) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Write("k", "b", 2, 3));
  b.Read("k", "a", 50, 51);  // not yet
  b.Read("k", "b", 100, 101);
  b.Read("k", "b", 102, 103);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, IndeterminateWriteNeverSeen) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Write("k", "b", 2, 3));
  b.Read("k", "a", 50, 51);
  b.Read("k", "a", 100, 101);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, IndeterminateReadsAndFailedOperationsAreDropped) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Read("k", "zz", 2, 3));
  Failed(b.Write("k", "b", 4, 5));
  Failed(b.Read("k", "b", 6, 7));
  b.Read("k", "a", 8, 9);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, FailedCompareOfCas) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Cas("k", "b", "c", false, 2, 3);
  b.Cas("k", std::nullopt, "d", false, 4, 5);
  b.Read("k", "a", 6, 7);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, CasChain) {
  Builder b;
  b.Cas("k", std::nullopt, "a", true, 0, 10);
  b.Cas("k", "a", "b", true, 1, 11);  // concurrent with the first, but after it
  b.Cas("k", "b", "c", true, 12, 13);
  b.Cas("k", "b", "x", false, 14, 15);
  b.Read("k", "c", 16, 17);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, IndeterminateCasChainSeenLater) {
  Builder b;
  Indeterminate(b.Cas("k", std::nullopt, "a", false, 0, 1));
  Indeterminate(b.Cas("k", "a", "b", false, 2, 3));
  b.Read("k", "b", 10, 11);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, IndeterminateDeleteSeen) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Delete("k", 2, 3));
  b.Read("k", "a", 4, 5);
  b.Read("k", std::nullopt, 10, 11);
  ExpectLinearizable(b.history());
}

TEST(LinearizabilityTest, UnseenIndeterminateWriteExplainsAFailedCompare) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Write("k", "x", 2, 3));
  b.Cas("k", "a", "c", false, 5, 6);
  ExpectLinearizable(b.history());

  Builder without;  // the same, without the indeterminate write
  without.Write("k", "a", 0, 1);
  without.Cas("k", "a", "c", false, 5, 6);
  const std::vector<Violation> v = ExpectViolation(without.history(), {1, 2});
  for (const Violation& e : v) EXPECT_THAT(e.explanation, HasSubstr("did not swap"));
}

TEST(LinearizabilityTest, EachIndeterminateDeleteTakesEffectAtMostOnce) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Indeterminate(b.Delete("k", 2, 3));
  b.Write("k", "b", 3, 4);
  b.Read("k", std::nullopt, 5, 6);
  Indeterminate(b.Delete("k", 6, 7));
  b.Write("k", "c", 7, 8);
  b.Read("k", std::nullopt, 9, 10);
  ExpectLinearizable(b.history());

  Builder one;  // the same with only the first delete: the last read is impossible
  one.Write("k", "a", 0, 1);
  Indeterminate(one.Delete("k", 2, 3));
  one.Write("k", "b", 3, 4);
  one.Read("k", std::nullopt, 5, 6);
  one.Write("k", "c", 7, 8);
  one.Read("k", std::nullopt, 9, 10);
  ExpectViolation(one.history(), {6, 5});
}

// --- Violations -----------------------------------------------------------

TEST(LinearizabilityTest, StaleRead) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Write("k", "b", 2, 3);
  const Operation& read = b.Read("k", "a", 4, 5);
  const std::string line = FormatOperation(read, 0);
  const std::vector<Violation> v = ExpectViolation(b.history(), {3, 2});
  for (const Violation& e : v) EXPECT_EQ(e.key, "k");
  for (const Violation& e : v) EXPECT_THAT(e.explanation, HasSubstr(line));
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation, HasSubstr("reads 'a' (written by #1), but the register holds 'b'"));
}

TEST(LinearizabilityTest, LostWrite) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Read("k", std::nullopt, 2, 3);
  b.Read("k", std::nullopt, 4, 5);
  const std::vector<Violation> v = ExpectViolation(b.history(), {1, 2});
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation, HasSubstr("reads absent, but the register holds 'a' (left by #1)"));
}

TEST(LinearizabilityTest, ReadOfAValueNeverWritten) {
  Builder b;
  b.Write("k", "a", 0, 1);
  Failed(b.Write("k", "f", 1, 2));
  b.Read("k", "zz", 2, 3);
  b.Read("k", "f", 4, 5);
  const std::vector<Violation> v = ExpectViolation(b.history(), {3});
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation, HasSubstr("'zz' (written by no operation)"));

  Builder only_failed;
  Failed(only_failed.Write("k", "f", 1, 2));
  only_failed.Read("k", "f", 4, 5);
  const std::vector<Violation> w = ExpectViolation(only_failed.history(), {2});
  for (const Violation& e : w) EXPECT_THAT(e.explanation, HasSubstr("written only by failed #1"));
}

TEST(LinearizabilityTest, CasAppliedTwice) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Cas("k", "a", "b", true, 2, 10);
  b.Cas("k", "a", "c", true, 3, 11);  // concurrent, same expectation, both swapped
  const std::vector<Violation> v = ExpectViolation(b.history(), {2, 3});
  for (const Violation& e : v) EXPECT_THAT(e.explanation, HasSubstr("swapped expecting 'a'"));
}

TEST(LinearizabilityTest, ReadOfADeletedValueAfterTheDelete) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Delete("k", 2, 3);
  b.Read("k", "a", 4, 5);
  const std::vector<Violation> v = ExpectViolation(b.history(), {2, 3});
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation, HasSubstr("the register holds absent (left by #2)"));
}

TEST(LinearizabilityTest, CasSwappedAgainstAValueThatWasNotCurrent) {
  Builder b;
  b.Write("k", "a", 0, 1);
  b.Write("k", "b", 2, 3);
  b.Cas("k", "a", "c", true, 4, 5);
  const std::vector<Violation> v = ExpectViolation(b.history(), {2, 3});
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation,
                HasSubstr("swapped expecting 'a' (written by #1), but the register holds 'b'"));
}

TEST(LinearizabilityTest, IndeterminateWriteObservedBeforeItWasInvoked) {
  Builder b;
  b.Read("k", "a", 0, 1);
  Indeterminate(b.Write("k", "a", 5, 6));
  const std::vector<Violation> v = ExpectViolation(b.history(), {});
  for (const Violation& e : v)
    EXPECT_THAT(e.explanation, HasSubstr("#2, its writer, invoked only after it completed"));
}

TEST(LinearizabilityTest, ExplanationTimesAreRelativeToTheKeysFirstOperation) {
  Builder b;
  b.Write("k", "a", 5'000'000'000, 5'001'000'000);
  b.Read("k", std::nullopt, 5'002'000'000, 5'003'000'000);
  const std::vector<Violation> v = ExpectViolation(b.history(), {1, 2});
  for (const Violation& e : v) EXPECT_THAT(e.explanation, HasSubstr("[0.000000s, 0.001000s]"));
  for (const Violation& e : v) EXPECT_THAT(e.explanation, HasSubstr("[0.002000s, 0.003000s]"));
}

TEST(LinearizabilityTest, KeysAreCheckedIndependently) {
  Builder b;
  b.Write("x", "x1", 0, 1);
  b.Write("x", "x2", 2, 3);
  b.Read("x", "x1", 4, 5);  // stale
  b.Write("y", "y1", 0, 1);
  b.Read("y", "y1", 2, 3);  // fine
  b.Write("z", "z1", 0, 1);
  b.Read("z", "zz", 2, 3);  // never written
  for (const auto& [how, result] : CheckAllWays(b.history())) {
    SCOPED_TRACE(how);
    EXPECT_FALSE(result.ok());
    ASSERT_EQ(result.violations.size(), 2u);
    EXPECT_EQ(result.violations[0].key, "x");
    EXPECT_EQ(result.violations[1].key, "z");
    ASSERT_EQ(result.keys.size(), 3u);
    EXPECT_FALSE(result.keys[0].linearizable);
    EXPECT_TRUE(result.keys[1].linearizable);
    EXPECT_FALSE(result.keys[2].linearizable);
    EXPECT_EQ(result.keys[1].ops, 2u);
  }
}

// Many concurrent writes and a read nobody can explain at the end: the search
// must visit many configurations to refute it.
History HardViolation() {
  Builder b;
  for (int i = 0; i < 8; ++i) b.Write("k", "w" + std::to_string(i), 0, 100);
  for (int i = 0; i < 8; ++i) b.Read("k", "w" + std::to_string(i), 1, 99);
  b.Read("k", std::nullopt, 200, 201);
  return b.history();
}

TEST(LinearizabilityTest, ExhaustedBudgetIsUnknownNotAViolation) {
  CheckOptions small;
  small.max_states_per_key = 50;
  for (const auto& [how, result] : CheckAllWays(HardViolation(), small)) {
    SCOPED_TRACE(how);
    EXPECT_TRUE(result.ok());
    ASSERT_EQ(result.keys.size(), 1u);
    EXPECT_TRUE(result.keys[0].unknown);
    EXPECT_FALSE(result.keys[0].linearizable);
    EXPECT_GT(result.keys[0].states_explored, 50);
  }
  for (const auto& [how, result] : CheckAllWays(HardViolation())) {
    SCOPED_TRACE(how);
    EXPECT_FALSE(result.ok());
    ASSERT_EQ(result.keys.size(), 1u);
    EXPECT_FALSE(result.keys[0].unknown);
    EXPECT_GT(result.keys[0].states_explored, 50);
  }
}

}  // namespace
}  // namespace raftkv::chaos
