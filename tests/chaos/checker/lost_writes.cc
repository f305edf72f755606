#include "tests/chaos/checker/lost_writes.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "tests/chaos/checker/history_io.h"

namespace raftkv::chaos {
namespace {

bool Acknowledged(const Operation& op) {
  return op.outcome == Outcome::kOk &&
         (op.type == OpType::kWrite || (op.type == OpType::kCas && op.cas_succeeded));
}

// Whether `op` changes the register if it takes effect at all.
bool MayChangeRegister(const Operation& op) {
  switch (op.outcome) {
    case Outcome::kOk:
      return op.type == OpType::kWrite || op.type == OpType::kDelete ||
             (op.type == OpType::kCas && op.cas_succeeded);
    case Outcome::kIndeterminate:
      return op.type != OpType::kRead;
    case Outcome::kFailed:
      return false;
  }
  return false;
}

std::string DescribeFinal(const std::optional<std::string>& final_value,
                          const std::vector<const Operation*>& ops) {
  if (!final_value.has_value()) return "absent";
  for (const Operation* op : ops) {
    if ((op->type == OpType::kWrite || op->type == OpType::kCas) && op->value == final_value) {
      return absl::StrCat(FormatValue(final_value), " (written by #", op->id, ")");
    }
  }
  return absl::StrCat(FormatValue(final_value), " (written by no operation in the history)");
}

}  // namespace

std::vector<LostWrite> FindLostWrites(const History& history,
                                      const std::map<std::string, std::string>& final_state) {
  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) by_key[op.key].push_back(&op);
  std::vector<LostWrite> lost;
  for (const auto& [key, ops] : by_key) {
    const auto it = final_state.find(key);
    const std::optional<std::string> final_value =
        it == final_state.end() ? std::nullopt : std::optional<std::string>(it->second);
    std::vector<const Operation*> writes;
    for (const Operation* op : ops) {
      if (Acknowledged(*op) && op->value != final_value) writes.push_back(op);
    }
    std::sort(writes.begin(), writes.end(),
              [](const Operation* a, const Operation* b) { return a->id < b->id; });
    // The two latest-completing operations that may change the register:
    // whether any other than w completes after w's invoke is then O(1).
    const Operation* latest = nullptr;
    const Operation* second = nullptr;
    for (const Operation* o : ops) {
      if (!MayChangeRegister(*o)) continue;
      if (latest == nullptr || o->complete_ns > latest->complete_ns) {
        second = latest;
        latest = o;
      } else if (second == nullptr || o->complete_ns > second->complete_ns) {
        second = o;
      }
    }
    for (const Operation* w : writes) {
      const Operation* other = latest == w ? second : latest;
      if (other != nullptr && other->complete_ns > w->invoke_ns) continue;
      // Lost. `other` (if any) is the last overwriter, ordered before w.
      const Operation* latest_before = other;
      LostWrite l;
      l.write = *w;
      l.final_value_description = DescribeFinal(final_value, ops);
      l.explanation = absl::StrCat(
          "lost write on key ", FormatValue(key), ": ", FormatOperation(*w),
          " was acknowledged, and no other operation on the key could take effect after it (",
          latest_before == nullptr
              ? std::string("there is none that changes the register")
              : absl::StrCat("the last one, #", latest_before->id, ", completed ",
                             w->invoke_ns - latest_before->complete_ns,
                             " ns before it was invoked"),
          "), but the final value is ", l.final_value_description, " instead of ",
          FormatValue(w->value));
      lost.push_back(std::move(l));
    }
  }
  return lost;
}

}  // namespace raftkv::chaos
