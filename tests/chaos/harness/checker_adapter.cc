#include "tests/chaos/harness/checker_adapter.h"

#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#ifdef RAFTKV_CHAOS_HAVE_CHECKER
#include "tests/chaos/checker/flat_json.h"
#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability.h"
#include "tests/chaos/checker/lost_writes.h"
#endif

namespace raftkv::chaos {

namespace {

std::string JsonString(const std::string& s) {
#ifdef RAFTKV_CHAOS_HAVE_CHECKER
  return json::Quote(s);
#else
  return absl::StrCat("\"", absl::CEscape(s), "\"");
#endif
}

}  // namespace

absl::Status SaveFinalState(const std::vector<std::string>& keys,
                            const std::map<std::string, std::string>& final_state,
                            const std::string& path) {
  std::ofstream out(path);
  out << "{";
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = final_state.find(keys[i]);
    out << (i == 0 ? "" : ", ") << JsonString(keys[i]) << ": "
        << (it == final_state.end() ? "null" : JsonString(it->second));
  }
  out << "}\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

#ifdef RAFTKV_CHAOS_HAVE_CHECKER

absl::Status SaveHistory(const History& history, const std::string& path) {
  return WriteHistory(history, path);
}

CheckReport CheckHistory(const History& history,
                         const std::map<std::string, std::string>& final_state) {
  CheckReport report;
  report.available = true;
  report.well_formed = CheckWellFormed(history);
  if (!report.well_formed.ok()) {
    report.findings.push_back(
        absl::StrCat("history is not well formed: ", report.well_formed.message()));
    return report;
  }
  CheckResult result = CheckLinearizable(history);
  report.violations = static_cast<int>(result.violations.size());
  for (const Violation& v : result.violations) {
    std::string ids;
    for (int64_t id : v.op_ids) absl::StrAppend(&ids, " #", id);
    report.findings.push_back(absl::StrCat("linearizability violation on key ", v.key,
                                           " (operations", ids, "):\n", v.explanation));
  }
  for (const KeyResult& k : result.keys) {
    report.states_explored += k.states_explored;
    if (k.unknown) report.undecided_keys.push_back(k.key);
  }
  std::vector<LostWrite> lost = FindLostWrites(history, final_state);
  report.lost_writes = static_cast<int>(lost.size());
  for (const LostWrite& l : lost) {
    report.findings.push_back(absl::StrCat("lost write: ", FormatOperation(l.write),
                                           "\n  final value: ", l.final_value_description, "\n  ",
                                           l.explanation));
  }
  return report;
}

#else  // !RAFTKV_CHAOS_HAVE_CHECKER

namespace {

const char* TypeName(OpType t) {
  switch (t) {
    case OpType::kRead:
      return "read";
    case OpType::kWrite:
      return "write";
    case OpType::kDelete:
      return "delete";
    case OpType::kCas:
      return "cas";
  }
  return "?";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kIndeterminate:
      return "indeterminate";
  }
  return "?";
}

std::string Json(const std::optional<std::string>& s) { return s ? JsonString(*s) : "null"; }

}  // namespace

absl::Status SaveHistory(const History& history, const std::string& path) {
  std::ofstream out(path);
  for (const Operation& op : history) {
    out << "{\"id\":" << op.id << ",\"process\":" << op.process << ",\"type\":\""
        << TypeName(op.type) << "\",\"key\":\"" << absl::CEscape(op.key)
        << "\",\"value\":" << Json(op.value) << ",\"expected\":" << Json(op.expected)
        << ",\"read_value\":" << Json(op.read_value)
        << ",\"cas_succeeded\":" << (op.cas_succeeded ? "true" : "false") << ",\"outcome\":\""
        << OutcomeName(op.outcome) << "\",\"invoke_ns\":" << op.invoke_ns
        << ",\"complete_ns\":" << op.complete_ns << ",\"note\":\"" << absl::CEscape(op.note)
        << "\"}\n";
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

CheckReport CheckHistory(const History&, const std::map<std::string, std::string>&) {
  CheckReport report;
  report.available = false;
  report.findings.push_back(
      "the checker library (tests/chaos/checker) was not built into this harness: the history "
      "was not checked");
  return report;
}

#endif  // RAFTKV_CHAOS_HAVE_CHECKER

}  // namespace raftkv::chaos
