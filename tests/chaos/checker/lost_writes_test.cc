// FindLostWrites: acknowledged writes contradicted by the final state with
// nothing that could have overwritten them.
#include "tests/chaos/checker/lost_writes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

namespace raftkv::chaos {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

Operation Write(int64_t id, const std::string& key, const std::string& value, int64_t t0,
                int64_t t1, Outcome outcome = Outcome::kOk) {
  Operation op;
  op.id = id;
  op.process = static_cast<int>(id);
  op.type = OpType::kWrite;
  op.key = key;
  op.value = value;
  op.invoke_ns = t0;
  op.complete_ns = outcome == Outcome::kIndeterminate ? kNeverCompleted : t1;
  op.outcome = outcome;
  return op;
}

Operation Delete(int64_t id, const std::string& key, int64_t t0, int64_t t1,
                 Outcome outcome = Outcome::kOk) {
  Operation op = Write(id, key, "", t0, t1, outcome);
  op.type = OpType::kDelete;
  op.value.reset();
  return op;
}

Operation Cas(int64_t id, const std::string& key, std::optional<std::string> expected,
              const std::string& value, bool swapped, int64_t t0, int64_t t1,
              Outcome outcome = Outcome::kOk) {
  Operation op = Write(id, key, value, t0, t1, outcome);
  op.type = OpType::kCas;
  op.expected = std::move(expected);
  op.cas_succeeded = swapped;
  return op;
}

Operation Read(int64_t id, const std::string& key, std::optional<std::string> value, int64_t t0,
               int64_t t1) {
  Operation op = Write(id, key, "", t0, t1);
  op.type = OpType::kRead;
  op.value.reset();
  op.read_value = std::move(value);
  return op;
}

TEST(LostWritesTest, NothingLostWhenTheFinalValueIsTheLastWrite) {
  const History h = {Write(1, "k", "a", 0, 1), Write(2, "k", "b", 2, 3)};
  EXPECT_THAT(FindLostWrites(h, {{"k", "b"}}), IsEmpty());
}

TEST(LostWritesTest, TheLastAcknowledgedWriteIsGone) {
  const History h = {Write(1, "k", "a", 0, 1), Write(2, "k", "b", 2, 3),
                     Read(3, "k", "b", 4, 5)};  // reads do not overwrite
  const auto lost = FindLostWrites(h, {});      // k absent at the end
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].write.id, 2);
  EXPECT_EQ(lost[0].final_value_description, "absent");
  EXPECT_THAT(lost[0].explanation, HasSubstr("#2 p2 write k 'b' -> ok"));
  EXPECT_THAT(lost[0].explanation, HasSubstr("the last one, #1, completed 1 ns before"));
  EXPECT_THAT(lost[0].explanation, HasSubstr("the final value is absent instead of 'b'"));

  const auto older = FindLostWrites(h, {{"k", "a"}});
  ASSERT_EQ(older.size(), 1u);
  EXPECT_EQ(older[0].write.id, 2);
  EXPECT_EQ(older[0].final_value_description, "'a' (written by #1)");
}

TEST(LostWritesTest, ConcurrentWritesExcuseEachOther) {
  const History h = {Write(1, "k", "a", 0, 10), Write(2, "k", "b", 5, 6)};
  EXPECT_THAT(FindLostWrites(h, {{"k", "a"}}), IsEmpty());
  EXPECT_THAT(FindLostWrites(h, {{"k", "b"}}), IsEmpty());
  // Even a value neither wrote: b may follow a (b completed at 6, after a
  // began at 0) and a may follow b (a completed at 10, after b began at 5).
  // The lost-write check is not a linearizability check.
  EXPECT_THAT(FindLostWrites(h, {{"k", "zz"}}), IsEmpty());
}

TEST(LostWritesTest, IndeterminateOperationsMayTakeEffectAnyTime) {
  const History h = {Delete(1, "k", 0, 0, Outcome::kIndeterminate), Write(2, "k", "a", 5, 6)};
  EXPECT_THAT(FindLostWrites(h, {}), IsEmpty());  // the delete may have come last
  const History w = {Write(1, "k", "x", 0, 0, Outcome::kIndeterminate), Write(2, "k", "a", 5, 6)};
  EXPECT_THAT(FindLostWrites(w, {{"k", "x"}}), IsEmpty());
}

TEST(LostWritesTest, FailedOperationsAndFailedComparesDoNotExcuse) {
  const History h = {Write(1, "k", "a", 0, 1), Write(2, "k", "b", 5, 6, Outcome::kFailed),
                     Cas(3, "k", "zz", "c", false, 7, 8)};
  const auto lost = FindLostWrites(h, {{"k", "b"}});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].write.id, 1);
  EXPECT_EQ(lost[0].final_value_description, "'b' (written by #2)");
  EXPECT_THAT(lost[0].explanation, HasSubstr("there is none that changes the register"));
}

TEST(LostWritesTest, ASwappedCasIsAnAcknowledgedWrite) {
  const History h = {Cas(1, "k", std::nullopt, "a", true, 0, 1)};
  const auto lost = FindLostWrites(h, {});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].write.id, 1);
  // A cas that did not swap wrote nothing.
  EXPECT_THAT(FindLostWrites({Cas(1, "k", std::nullopt, "a", false, 0, 1)}, {}), IsEmpty());
}

TEST(LostWritesTest, AFinalValueNoOperationWrote) {
  const History h = {Write(1, "k", "a", 0, 1)};
  const auto lost = FindLostWrites(h, {{"k", "ghost"}});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].final_value_description, "'ghost' (written by no operation in the history)");
}

TEST(LostWritesTest, KeysAreIndependentAndOrdered) {
  const History h = {Write(1, "y", "y1", 0, 1), Write(2, "x", "x1", 0, 1),
                     Write(3, "z", "z1", 0, 1), Delete(4, "z", 2, 3)};
  const auto lost = FindLostWrites(h, {{"z", "z1"}});
  ASSERT_EQ(lost.size(), 2u);  // x and y are absent; z's write was deleted after
  EXPECT_EQ(lost[0].write.key, "x");
  EXPECT_EQ(lost[1].write.key, "y");
}

}  // namespace
}  // namespace raftkv::chaos
