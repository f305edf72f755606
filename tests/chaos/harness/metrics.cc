#include "tests/chaos/harness/metrics.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace raftkv::chaos {

namespace {

bool IsOkWrite(const Operation& op) {
  return op.outcome == Outcome::kOk && op.type != OpType::kRead;
}

}  // namespace

Availability ComputeAvailability(const History& history, const std::vector<FaultWindow>& faults,
                                 int64_t end_ns) {
  Availability out;
  for (size_t i = 0; i < faults.size(); ++i) {
    const FaultWindow& f = faults[i];
    if (f.leader_kill) {
      int64_t first = -1;
      for (const Operation& op : history) {
        if (!IsOkWrite(op) || op.invoke_ns < f.inject_ns) continue;
        if (first < 0 || op.complete_ns < first) first = op.complete_ns;
      }
      out.failover_ns.push_back(first < 0 ? -1 : first - f.inject_ns);
    }
    int64_t first_after_heal = end_ns;
    for (const Operation& op : history) {
      if (IsOkWrite(op) && op.complete_ns >= f.heal_ns) {
        first_after_heal = std::min(first_after_heal, op.complete_ns);
      }
    }
    if (out.longest_after_fault < 0 ||
        first_after_heal - f.heal_ns > out.longest_no_write_after_heal_ns) {
      out.longest_no_write_after_heal_ns = first_after_heal - f.heal_ns;
      out.longest_after_fault = static_cast<int>(i);
    }
  }
  return out;
}

OpCounts CountOutcomes(const History& history) {
  OpCounts c;
  for (const Operation& op : history) {
    switch (op.outcome) {
      case Outcome::kOk:
        ++c.ok;
        break;
      case Outcome::kFailed:
        ++c.failed;
        break;
      case Outcome::kIndeterminate:
        ++c.indeterminate;
        break;
    }
  }
  return c;
}

int64_t MedianNs(std::vector<int64_t> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](int64_t v) { return v < 0; }),
               values.end());
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int64_t MaxNs(const std::vector<int64_t>& values) {
  int64_t m = -1;
  for (int64_t v : values) m = std::max(m, v);
  return m;
}

std::string Seconds(int64_t ns) {
  if (ns < 0) return "n/a";
  return absl::StrFormat("%.2fs", static_cast<double>(ns) / 1e9);
}

}  // namespace raftkv::chaos
