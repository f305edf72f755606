// raftkv_check_history: re-checks a kept chaos history.
//
//   raftkv_check_history HISTORY.jsonl [--final FINAL.json] [--max-states N]
//
// Reads HISTORY.jsonl (history_io.h), checks that it is well formed, then
// checks each key for linearizability (linearizability.h) and, given
// --final (a JSON object key -> value string, or null for absent), for lost
// acknowledged writes (lost_writes.h). Prints one line per key, then every
// violation and lost write with its explanation, then a result line.
// Exit status: 0 no violation (keys whose search budget ran out are listed as
// unknown), 1 a violation or lost write, 2 bad usage or bad input (one line on
// stderr saying what was wrong).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "tests/chaos/checker/flat_json.h"
#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability.h"
#include "tests/chaos/checker/lost_writes.h"

namespace raftkv::chaos {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitViolation = 1;
constexpr int kExitBadInput = 2;

constexpr char kUsage[] =
    "usage: raftkv_check_history HISTORY.jsonl [--final FINAL.json] [--max-states N]";

struct Args {
  std::string history_path;
  std::string final_path;  // empty: no lost-write check
  CheckOptions options;
};

absl::StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--final" || arg == "--max-states") {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
      const std::string value = argv[++i];
      if (arg == "--final") {
        args.final_path = value;
      } else if (!absl::SimpleAtoi(value, &args.options.max_states_per_key) ||
                 args.options.max_states_per_key <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--max-states: \"", value, "\" is not a positive integer"));
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg, "; ", kUsage));
    } else if (args.history_path.empty()) {
      args.history_path = arg;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument ", arg, "; ", kUsage));
    }
  }
  if (args.history_path.empty()) return absl::InvalidArgumentError(kUsage);
  return args;
}

absl::StatusOr<std::map<std::string, std::string>> ReadFinalState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto object = json::ParseObject(text.str());
  if (!object.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", object.status().message()));
  }
  std::map<std::string, std::string> state;
  for (const auto& [key, value] : *object) {
    if (value.kind == json::Value::Kind::kNull) continue;
    if (value.kind != json::Value::Kind::kString) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": key ", json::Quote(key),
                                                     ": expected a string or null, got ",
                                                     json::KindName(value.kind)));
    }
    state[key] = value.string;
  }
  return state;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "raftkv_check_history: %s\n", std::string(status.message()).c_str());
  return kExitBadInput;
}

int Main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) return Fail(args.status());
  auto history = ReadHistory(args->history_path);
  if (!history.ok()) return Fail(history.status());
  if (absl::Status s = CheckWellFormed(*history); !s.ok()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(args->history_path, ": ", s.message())));
  }
  std::map<std::string, std::string> final_state;
  if (!args->final_path.empty()) {
    auto state = ReadFinalState(args->final_path);
    if (!state.ok()) return Fail(state.status());
    final_state = std::move(*state);
  }

  const CheckResult result = CheckLinearizable(*history, args->options);
  std::printf("%s: %zu operations on %zu keys\n", args->history_path.c_str(), history->size(),
              result.keys.size());
  size_t unknown = 0;
  for (const KeyResult& key : result.keys) {
    const char* verdict = key.linearizable ? "linearizable"
                          : key.unknown    ? "UNKNOWN (search budget exhausted)"
                                           : "NOT LINEARIZABLE";
    if (key.unknown) ++unknown;
    std::printf("key %s: %s (%zu operations, %lld states explored)\n", FormatValue(key.key).c_str(),
                verdict, key.ops, static_cast<long long>(key.states_explored));
  }
  for (const Violation& v : result.violations) std::printf("\n%s", v.explanation.c_str());

  std::vector<LostWrite> lost;
  if (!args->final_path.empty()) {
    lost = FindLostWrites(*history, final_state);
    std::printf("\nlost writes: %zu\n", lost.size());
    for (const LostWrite& l : lost) std::printf("  %s\n", l.explanation.c_str());
  }

  const bool violated = !result.ok() || !lost.empty();
  std::printf("\nresult: %s (%zu linearizability violations, %s, %zu keys unknown)\n",
              violated ? "VIOLATION" : "ok", result.violations.size(),
              args->final_path.empty() ? "lost writes not checked (no --final)"
                                       : absl::StrCat(lost.size(), " lost writes").c_str(),
              unknown);
  return violated ? kExitViolation : kExitOk;
}

}  // namespace
}  // namespace raftkv::chaos

int main(int argc, char** argv) { return raftkv::chaos::Main(argc, argv); }
