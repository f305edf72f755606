#include "tests/chaos/checker/random_history.h"

#include <algorithm>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/rng.h"

namespace raftkv::chaos::testing {
namespace {

using Value = std::optional<std::string>;

// The simulated registers: effects queued at their instants, applied in order.
class Registers {
 public:
  explicit Registers(History* history) : history_(history) {}

  void Schedule(int64_t effect_ns, size_t op) { effects_.emplace(effect_ns, op); }

  // Applies every effect before `now_ns`.
  void AdvanceTo(int64_t now_ns) {
    while (!effects_.empty() && effects_.top().first < now_ns) {
      Apply((*history_)[effects_.top().second]);
      effects_.pop();
    }
  }

  void Finish() { AdvanceTo(kNeverCompleted); }

 private:
  void Apply(Operation& op) {
    Value& value = values_[op.key];
    switch (op.type) {
      case OpType::kRead:
        op.read_value = value;
        break;
      case OpType::kWrite:
        value = op.value;
        break;
      case OpType::kDelete:
        value.reset();
        break;
      case OpType::kCas:
        op.cas_succeeded = value == op.expected;
        if (op.cas_succeeded) value = op.value;
        op.read_value = value;  // what the harness's cas reads back on a failed compare
        break;
    }
  }

  using Effect = std::pair<int64_t, size_t>;
  std::priority_queue<Effect, std::vector<Effect>, std::greater<Effect>> effects_;
  std::map<std::string, Value> values_;
  History* history_;
};

}  // namespace

History SimulateRegisterHistory(const RandomHistoryOptions& options) {
  Rng rng(options.seed);
  auto uniform = [&](int64_t lo, int64_t hi) {  // in [lo, hi]
    return lo + static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(hi - lo + 1)));
  };
  History history;
  history.reserve(static_cast<size_t>(options.ops));
  Registers registers(&history);
  struct Client {
    int64_t next_invoke_ns = 0;
    int process = 0;
    std::optional<size_t> last_op;      // its previous ok operation, if any
    std::map<std::string, Value> seen;  // what it last saw of each key
  };
  std::vector<Client> clients(options.clients);
  int next_process = 0;
  for (Client& c : clients) {
    c.process = next_process++;
    c.next_invoke_ns = uniform(1, options.max_gap_ns);
  }
  std::map<std::string, std::vector<std::string>> recent;  // written values per key
  const int total_weight =
      options.read_weight + options.write_weight + options.delete_weight + options.cas_weight;

  for (int i = 0; i < options.ops; ++i) {
    // Operations are generated in invoke order, so effects are applied in order.
    Client& client = *std::min_element(
        clients.begin(), clients.end(),
        [](const Client& a, const Client& b) { return a.next_invoke_ns < b.next_invoke_ns; });
    Operation op;
    op.id = i;
    op.process = client.process;
    op.invoke_ns = client.next_invoke_ns;
    // Everything that took effect before this invoke is known, including the
    // result of the client's previous operation.
    registers.AdvanceTo(op.invoke_ns);
    if (client.last_op.has_value()) {
      const Operation& last = history[*client.last_op];
      switch (last.type) {
        case OpType::kRead:
          client.seen[last.key] = last.read_value;
          break;
        case OpType::kWrite:
          client.seen[last.key] = last.value;
          break;
        case OpType::kDelete:
          client.seen[last.key] = std::nullopt;
          break;
        case OpType::kCas:
          client.seen[last.key] = last.read_value;
          break;
      }
      client.last_op.reset();
    }

    op.key = absl::StrCat("k", rng.Uniform(static_cast<uint64_t>(options.keys)));
    const int pick = static_cast<int>(rng.Uniform(static_cast<uint64_t>(total_weight)));
    if (pick < options.read_weight) {
      op.type = OpType::kRead;
    } else if (pick < options.read_weight + options.write_weight) {
      op.type = OpType::kWrite;
    } else if (pick < options.read_weight + options.write_weight + options.delete_weight) {
      op.type = OpType::kDelete;
    } else {
      op.type = OpType::kCas;
    }
    if (op.type == OpType::kWrite || op.type == OpType::kCas) op.value = absl::StrCat("v", i);
    if (op.type == OpType::kCas) {
      if (options.cas_expects == CasExpectation::kLastSeen) {
        auto seen = client.seen.find(op.key);
        if (seen != client.seen.end()) op.expected = seen->second;
      } else {
        std::vector<std::string>& r = recent[op.key];
        const size_t choice = rng.Uniform(r.size() + 1);
        if (choice < r.size()) op.expected = r[r.size() - 1 - choice];
      }
    }
    if (op.value.has_value()) {
      std::vector<std::string>& r = recent[op.key];
      r.push_back(*op.value);
      if (r.size() > 3) r.erase(r.begin());
    }

    const int64_t complete = op.invoke_ns + uniform(0, options.max_duration_ns);
    const size_t index = history.size();
    if (rng.Chance(options.indeterminate_fraction)) {
      op.outcome = Outcome::kIndeterminate;
      op.complete_ns = kNeverCompleted;
      if (rng.OneIn(2)) {
        registers.Schedule(uniform(op.invoke_ns, op.invoke_ns + options.max_indeterminate_delay_ns),
                           index);
      }
      client.process = next_process++;  // the harness's rule: a new process
      client.seen.clear();
    } else if (rng.Chance(options.failed_fraction)) {
      op.outcome = Outcome::kFailed;
      op.complete_ns = complete;
      op.note = "refused";
    } else {
      op.complete_ns = complete;
      registers.Schedule(uniform(op.invoke_ns, complete), index);
      client.last_op = index;
    }
    client.next_invoke_ns = complete + uniform(1, options.max_gap_ns);
    history.push_back(std::move(op));
  }
  registers.Finish();
  for (Operation& op : history) {
    if (op.outcome != Outcome::kOk) op.cas_succeeded = false;
    if (op.outcome != Outcome::kOk || op.type == OpType::kCas) op.read_value.reset();
  }
  return history;
}

}  // namespace raftkv::chaos::testing
