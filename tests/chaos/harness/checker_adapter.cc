#include "tests/chaos/harness/checker_adapter.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/chaos/checker/flat_json.h"
#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability.h"
#include "tests/chaos/checker/lost_writes.h"

namespace raftkv::chaos {

namespace {

std::string JsonString(const std::string& s) { return json::Quote(s); }

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

}  // namespace raftkv::chaos
