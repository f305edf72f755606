#include "tests/chaos/checker/history_io.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/status_macros.h"
#include "tests/chaos/checker/flat_json.h"

namespace raftkv::chaos {
namespace {

const char* TypeName(OpType type) {
  switch (type) {
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

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kIndeterminate:
      return "indeterminate";
  }
  return "?";
}

std::string OptionalJson(const std::optional<std::string>& s) {
  return s.has_value() ? json::Quote(*s) : "null";
}

std::string OperationJson(const Operation& op) {
  return absl::StrCat(
      "{\"id\":", op.id, ",\"process\":", op.process, ",\"type\":\"", TypeName(op.type),
      "\",\"key\":", json::Quote(op.key), ",\"value\":", OptionalJson(op.value),
      ",\"expected\":", OptionalJson(op.expected), ",\"read_value\":", OptionalJson(op.read_value),
      ",\"cas_succeeded\":", op.cas_succeeded ? "true" : "false", ",\"outcome\":\"",
      OutcomeName(op.outcome), "\",\"invoke_ns\":", op.invoke_ns, ",\"complete_ns\":",
      op.complete_ns == kNeverCompleted ? std::string("null") : absl::StrCat(op.complete_ns),
      ",\"note\":", json::Quote(op.note), "}\n");
}

// Fills `op` from one parsed line.
absl::Status OperationFromJson(const json::Object& object, Operation* op) {
  using Kind = json::Value::Kind;
  bool seen_id = false, seen_process = false, seen_type = false, seen_key = false,
       seen_outcome = false, seen_invoke = false;
  op->complete_ns = kNeverCompleted;
  for (const auto& [name, value] : object) {
    auto want = [&](Kind kind, bool nullable) -> absl::Status {
      if (value.kind == kind || (nullable && value.kind == Kind::kNull)) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("member \"", name, "\": expected ", json::KindName(kind),
                       nullable ? " or null" : "", ", got ", json::KindName(value.kind)));
    };
    auto optional_string = [&]() -> std::optional<std::string> {
      if (value.kind == Kind::kNull) return std::nullopt;
      return value.string;
    };
    if (name == "id") {
      RETURN_IF_ERROR(want(Kind::kInt, false));
      op->id = value.integer;
      seen_id = true;
    } else if (name == "process") {
      RETURN_IF_ERROR(want(Kind::kInt, false));
      if (value.integer < std::numeric_limits<int>::min() ||
          value.integer > std::numeric_limits<int>::max()) {
        return absl::InvalidArgumentError("member \"process\": out of range");
      }
      op->process = static_cast<int>(value.integer);
      seen_process = true;
    } else if (name == "type") {
      RETURN_IF_ERROR(want(Kind::kString, false));
      if (value.string == "read") {
        op->type = OpType::kRead;
      } else if (value.string == "write") {
        op->type = OpType::kWrite;
      } else if (value.string == "delete") {
        op->type = OpType::kDelete;
      } else if (value.string == "cas") {
        op->type = OpType::kCas;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("member \"type\": ", json::Quote(value.string),
                         " is not one of read, write, delete, cas"));
      }
      seen_type = true;
    } else if (name == "key") {
      RETURN_IF_ERROR(want(Kind::kString, false));
      op->key = value.string;
      seen_key = true;
    } else if (name == "value") {
      RETURN_IF_ERROR(want(Kind::kString, true));
      op->value = optional_string();
    } else if (name == "expected") {
      RETURN_IF_ERROR(want(Kind::kString, true));
      op->expected = optional_string();
    } else if (name == "read_value") {
      RETURN_IF_ERROR(want(Kind::kString, true));
      op->read_value = optional_string();
    } else if (name == "cas_succeeded") {
      RETURN_IF_ERROR(want(Kind::kBool, false));
      op->cas_succeeded = value.boolean;
    } else if (name == "outcome") {
      RETURN_IF_ERROR(want(Kind::kString, false));
      if (value.string == "ok") {
        op->outcome = Outcome::kOk;
      } else if (value.string == "failed") {
        op->outcome = Outcome::kFailed;
      } else if (value.string == "indeterminate") {
        op->outcome = Outcome::kIndeterminate;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("member \"outcome\": ", json::Quote(value.string),
                         " is not one of ok, failed, indeterminate"));
      }
      seen_outcome = true;
    } else if (name == "invoke_ns") {
      RETURN_IF_ERROR(want(Kind::kInt, false));
      op->invoke_ns = value.integer;
      seen_invoke = true;
    } else if (name == "complete_ns") {
      RETURN_IF_ERROR(want(Kind::kInt, true));
      op->complete_ns = value.kind == Kind::kNull ? kNeverCompleted : value.integer;
    } else if (name == "note") {
      RETURN_IF_ERROR(want(Kind::kString, false));
      op->note = value.string;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown member ", json::Quote(name)));
    }
  }
  const std::pair<bool, const char*> required[] = {
      {seen_id, "id"},   {seen_process, "process"}, {seen_type, "type"},
      {seen_key, "key"}, {seen_outcome, "outcome"}, {seen_invoke, "invoke_ns"},
  };
  for (const auto& [seen, name] : required) {
    if (!seen) return absl::InvalidArgumentError(absl::StrCat("missing member \"", name, "\""));
  }
  return absl::OkStatus();
}

// Bytes as FormatOperation shows them: printable ASCII as is, '\'' and '\\'
// escaped, anything else \xNN; cut after kMaxShownBytes.
constexpr size_t kMaxShownBytes = 48;

std::string Printable(const std::string& s) {
  std::string out;
  const size_t shown = std::min(s.size(), kMaxShownBytes);
  for (size_t i = 0; i < shown; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (s[i] == '\'' || s[i] == '\\') {
      out.push_back('\\');
      out.push_back(s[i]);
    } else if (b >= 0x20 && b <= 0x7e) {
      out.push_back(s[i]);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", b);
    }
  }
  if (shown < s.size()) absl::StrAppend(&out, "...(", s.size(), " bytes)");
  return out;
}

std::string Seconds(int64_t ns, int64_t origin_ns) {
  if (ns == kNeverCompleted) return "never";
  return absl::StrFormat("%.6fs", static_cast<double>(ns - origin_ns) / 1e9);
}

absl::Status Malformed(const Operation& op, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed history: ", what, ": ", FormatOperation(op)));
}

}  // namespace

absl::Status WriteHistory(const History& history, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  bool ok = true;
  for (const Operation& op : history) {
    const std::string line = OperationJson(op);
    if (std::fwrite(line.data(), 1, line.size(), file) != line.size()) {
      ok = false;
      break;
    }
  }
  const int saved_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(ok ? errno : saved_errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<History> ReadHistory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  History history;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto object = json::ParseObject(line);
    absl::Status status = object.status();
    Operation op;
    if (status.ok()) status = OperationFromJson(*object, &op);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", line_number, ": ", status.message()));
    }
    history.push_back(std::move(op));
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("cannot read ", path, " after line ", line_number));
  }
  return history;
}

std::string FormatValue(const std::optional<std::string>& value) {
  return value.has_value() ? absl::StrCat("'", Printable(*value), "'") : "absent";
}

std::string FormatOperation(const Operation& op) { return FormatOperation(op, 0); }

std::string FormatOperation(const Operation& op, int64_t origin_ns) {
  std::string out =
      absl::StrCat("#", op.id, " p", op.process, " ", TypeName(op.type), " ", Printable(op.key));
  switch (op.type) {
    case OpType::kRead:
    case OpType::kDelete:
      break;
    case OpType::kWrite:
      absl::StrAppend(&out, " ", FormatValue(op.value));
      break;
    case OpType::kCas:
      absl::StrAppend(&out, " ", FormatValue(op.expected), "->", FormatValue(op.value));
      break;
  }
  absl::StrAppend(&out, " -> ", OutcomeName(op.outcome));
  if (op.outcome == Outcome::kOk) {
    if (op.type == OpType::kRead) absl::StrAppend(&out, "(", FormatValue(op.read_value), ")");
    if (op.type == OpType::kCas)
      absl::StrAppend(&out, op.cas_succeeded ? "(swapped)" : "(not swapped)");
  }
  absl::StrAppend(&out, " [", Seconds(op.invoke_ns, origin_ns), ", ",
                  Seconds(op.complete_ns, origin_ns), "]");
  if (!op.note.empty()) absl::StrAppend(&out, " (", Printable(op.note), ")");
  return out;
}

absl::Status CheckWellFormed(const History& history) {
  std::map<int64_t, const Operation*> by_id;
  std::map<std::string, const Operation*> writer_of;
  std::map<int, std::vector<const Operation*>> by_process;
  for (const Operation& op : history) {
    auto [it, inserted] = by_id.emplace(op.id, &op);
    if (!inserted) {
      return Malformed(op, absl::StrCat("id ", op.id, " is used twice (also by ",
                                        FormatOperation(*it->second), ")"));
    }
    if (op.key.empty()) return Malformed(op, "empty key");
    if (op.outcome == Outcome::kIndeterminate) {
      if (op.complete_ns != kNeverCompleted) {
        return Malformed(op, "an indeterminate operation has a completion time");
      }
    } else {
      if (op.complete_ns == kNeverCompleted) {
        return Malformed(op, "a completed (ok or failed) operation has no completion time");
      }
      if (op.complete_ns < op.invoke_ns) return Malformed(op, "completed before it was invoked");
    }
    if ((op.type == OpType::kWrite || op.type == OpType::kCas) && !op.value.has_value()) {
      return Malformed(op, "a write or cas without a value");
    }
    if (op.type == OpType::kWrite || op.type == OpType::kCas) {
      auto [w, fresh] = writer_of.emplace(*op.value, &op);
      if (!fresh) {
        return Malformed(
            op, absl::StrCat("value ", FormatValue(op.value), " is written twice (also by ",
                             FormatOperation(*w->second), ")"));
      }
    }
    by_process[op.process].push_back(&op);
  }
  for (auto& [process, ops] : by_process) {
    std::stable_sort(ops.begin(), ops.end(), [](const Operation* a, const Operation* b) {
      return a->invoke_ns < b->invoke_ns;
    });
    for (size_t i = 1; i < ops.size(); ++i) {
      const Operation& prev = *ops[i - 1];
      if (ops[i]->invoke_ns < prev.complete_ns || prev.complete_ns == kNeverCompleted) {
        return Malformed(*ops[i],
                         absl::StrCat("process ", process,
                                      " has two operations outstanding at once (the other: ",
                                      FormatOperation(prev), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace raftkv::chaos
