#include "src/kvctl/txn_parser.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"
#include "src/kvctl/args.h"

namespace raftkv::kvctl {

namespace v1 = raftkv::v1;

namespace {

enum class Section { kCompares, kSuccess, kFailure };

const char* SectionName(Section s) {
  switch (s) {
    case Section::kCompares:
      return "compares";
    case Section::kSuccess:
      return "success ops";
    case Section::kFailure:
      return "failure ops";
  }
  return "?";
}

// Reads the quoted string starting at text[*pos] == '"', handling escapes;
// leaves *pos after the closing quote.
absl::StatusOr<std::string> ReadQuoted(absl::string_view text, size_t* pos) {
  std::string out;
  size_t i = *pos + 1;
  while (i < text.size()) {
    const char c = text[i++];
    if (c == '"') {
      *pos = i;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i >= text.size()) break;
    const char e = text[i++];
    switch (e) {
      case '"':
      case '\\':
        out.push_back(e);
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'x': {
        int value = 0;
        for (int k = 0; k < 2; ++k) {
          if (i >= text.size() || !absl::ascii_isxdigit(text[i])) {
            return absl::InvalidArgumentError("\\x needs two hex digits");
          }
          const char h = absl::ascii_tolower(text[i++]);
          value = value * 16 + (absl::ascii_isdigit(h) ? h - '0' : h - 'a' + 10);
        }
        out.push_back(static_cast<char>(value));
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown escape \\", std::string(1, e), " (known: \\\" \\\\ \\n \\t \\r \\0 \\xHH)"));
    }
  }
  return absl::InvalidArgumentError("unterminated quoted string (missing \")");
}

// Splits an op line into words: whitespace separates, "double quotes" group.
absl::StatusOr<std::vector<std::string>> SplitWords(absl::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    if (absl::ascii_isspace(line[i])) {
      ++i;
      continue;
    }
    std::string word;
    while (i < line.size() && !absl::ascii_isspace(line[i])) {
      if (line[i] == '"') {
        ASSIGN_OR_RETURN(std::string quoted, ReadQuoted(line, &i));
        word += quoted;
      } else {
        word.push_back(line[i++]);
      }
    }
    words.push_back(std::move(word));
  }
  return words;
}

void SkipSpaces(absl::string_view text, size_t* pos) {
  while (*pos < text.size() && absl::ascii_isspace(text[*pos])) ++*pos;
}

// A quoted string, or a bare word ending at whitespace or at `stop`.
absl::StatusOr<std::string> ReadWord(absl::string_view text, size_t* pos, char stop) {
  if (*pos < text.size() && text[*pos] == '"') return ReadQuoted(text, pos);
  const size_t start = *pos;
  while (*pos < text.size() && !absl::ascii_isspace(text[*pos]) && text[*pos] != stop) ++*pos;
  return std::string(text.substr(start, *pos - start));
}

absl::StatusOr<v1::Compare> ParseCompare(absl::string_view line) {
  v1::Compare compare;
  size_t i = 0;
  while (i < line.size() && (absl::ascii_isalpha(line[i]) || line[i] == '_')) ++i;
  const std::string target = absl::AsciiStrToLower(line.substr(0, i));
  if (target == "value" || target == "val") {
    compare.set_target(v1::Compare::VALUE);
  } else if (target == "version" || target == "ver") {
    compare.set_target(v1::Compare::VERSION);
  } else if (target == "create" || target == "create_revision") {
    compare.set_target(v1::Compare::CREATE);
  } else if (target == "mod" || target == "mod_revision") {
    compare.set_target(v1::Compare::MOD);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", line.substr(0, i == 0 ? line.size() : i),
                     "\" is not a compare target; expected value, version, create or mod, "
                     "as in value(\"k\") = \"v\""));
  }
  SkipSpaces(line, &i);
  if (i >= line.size() || line[i] != '(') {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ( after ", target, ", as in ", target, "(\"k\")"));
  }
  ++i;
  SkipSpaces(line, &i);
  ASSIGN_OR_RETURN(std::string key, ReadWord(line, &i, ')'));
  if (key.empty()) return absl::InvalidArgumentError("the compared key is empty");
  compare.set_key(key);
  SkipSpaces(line, &i);
  if (i >= line.size() || line[i] != ')') {
    return absl::InvalidArgumentError(absl::StrCat("expected ) after the key of ", target));
  }
  ++i;
  SkipSpaces(line, &i);

  const absl::string_view rest = line.substr(i);
  struct OpName {
    absl::string_view text;
    v1::Compare::CompareResult result;
  };
  // Longest first, so "==" is not read as "=".
  static constexpr OpName kOps[] = {{"==", v1::Compare::EQUAL},
                                    {"!=", v1::Compare::NOT_EQUAL},
                                    {"=", v1::Compare::EQUAL},
                                    {"<", v1::Compare::LESS},
                                    {">", v1::Compare::GREATER}};
  if (rest.substr(0, 2) == "<=" || rest.substr(0, 2) == ">=") {
    return absl::InvalidArgumentError(
        "<= and >= are not supported (as in etcd); use < or > with the next number");
  }
  bool found = false;
  for (const OpName& op : kOps) {
    if (rest.substr(0, op.text.size()) == op.text) {
      compare.set_result(op.result);
      i += op.text.size();
      found = true;
      break;
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one of = == != < > after ", target, "(\"", key, "\")"));
  }
  SkipSpaces(line, &i);
  if (i >= line.size()) {
    return absl::InvalidArgumentError("missing the value to compare with after the operator");
  }
  const bool quoted = line[i] == '"';
  ASSIGN_OR_RETURN(std::string arg, ReadWord(line, &i, '\0'));
  SkipSpaces(line, &i);
  if (i < line.size()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected \"", line.substr(i),
                                                   "\" after the compared value",
                                                   quoted ? "" : " (quote a value with spaces)"));
  }
  if (compare.target() == v1::Compare::VALUE) {
    compare.set_value(arg);
    return compare;
  }
  uint64_t number = 0;
  if (!absl::SimpleAtoi(arg, &number) || arg.empty() || arg[0] == '+' || arg[0] == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat(target, " compares with a non-negative integer, not \"", arg, "\""));
  }
  switch (compare.target()) {
    case v1::Compare::VERSION:
      compare.set_version(number);
      break;
    case v1::Compare::CREATE:
      compare.set_create_revision(number);
      break;
    default:
      compare.set_mod_revision(number);
      break;
  }
  return compare;
}

// Reads KEY [END] and the range flags of a get or del.
struct RangeArgs {
  KeySelection selection;
  uint64_t limit = 0;
  bool keys_only = false;
  bool count_only = false;
  bool prev_kv = false;
};

absl::StatusOr<RangeArgs> ParseRangeArgs(const std::vector<std::string>& words, bool is_get) {
  const std::string& verb = words[0];
  const std::string usage =
      is_get ? "get KEY [END] [--prefix | --from-key] [--limit N] [--keys-only] [--count-only]"
             : "del KEY [END] [--prefix | --from-key] [--prev-kv]";
  RangeArgs args;
  std::vector<std::string> positional;
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--prefix") {
      args.selection.prefix = true;
    } else if (w == "--from-key") {
      args.selection.from_key = true;
    } else if (is_get && w == "--keys-only") {
      args.keys_only = true;
    } else if (is_get && w == "--count-only") {
      args.count_only = true;
    } else if (is_get && w == "--limit") {
      if (i + 1 >= words.size() || !absl::SimpleAtoi(words[i + 1], &args.limit)) {
        return absl::InvalidArgumentError("--limit needs a non-negative integer");
      }
      ++i;
    } else if (!is_get && w == "--prev-kv") {
      args.prev_kv = true;
    } else if (w.size() > 2 && w.substr(0, 2) == "--") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", w, " for ", verb, "; usage: ", usage));
    } else {
      positional.push_back(w);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(verb, " takes a key and an optional range end", "; usage: ", usage));
  }
  args.selection.key = positional[0];
  if (positional.size() == 2) args.selection.range_end = positional[1];
  return args;
}

absl::StatusOr<v1::RequestOp> ParseOp(absl::string_view line) {
  ASSIGN_OR_RETURN(std::vector<std::string> words, SplitWords(line));
  v1::RequestOp op;
  const std::string verb = words.empty() ? "" : words[0];
  if (verb == "put") {
    if (words.size() != 3) {
      return absl::InvalidArgumentError(
          "put takes a key and a value; usage: put KEY VALUE (quote a value with spaces)");
    }
    if (words[1].empty()) return absl::InvalidArgumentError("put: the key is empty");
    v1::PutRequest* put = op.mutable_request_put();
    put->set_key(words[1]);
    put->set_value(words[2]);
    return op;
  }
  if (verb == "get") {
    ASSIGN_OR_RETURN(RangeArgs args, ParseRangeArgs(words, /*is_get=*/true));
    v1::RangeRequest* range = op.mutable_request_range();
    absl::Status s = SelectKeys(args.selection, range);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("get: ", s.message()));
    range->set_limit(args.limit);
    range->set_keys_only(args.keys_only);
    range->set_count_only(args.count_only);
    return op;
  }
  if (verb == "del" || verb == "delete") {
    ASSIGN_OR_RETURN(RangeArgs args, ParseRangeArgs(words, /*is_get=*/false));
    v1::DeleteRangeRequest* del = op.mutable_request_delete_range();
    absl::Status s = SelectKeys(args.selection, del);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("del: ", s.message()));
    del->set_prev_kv(args.prev_kv);
    return op;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", verb, "\" is not an op; expected put, get or del"));
}

}  // namespace

absl::StatusOr<v1::TxnRequest> ParseTxn(absl::string_view text) {
  v1::TxnRequest txn;
  Section section = Section::kCompares;
  // Blank lines seen after the failure section (allowed only at the end).
  std::optional<int> trailing_blank_line;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty()) {
      if (section == Section::kCompares) {
        section = Section::kSuccess;
      } else if (section == Section::kSuccess) {
        section = Section::kFailure;
      } else if (!trailing_blank_line.has_value()) {
        trailing_blank_line = line_number;
      }
      continue;
    }
    if (line[0] == '#') continue;
    if (trailing_blank_line.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number,
                       ": text after the failure ops (a txn has three sections: "
                       "compares, success ops, failure ops, separated by one blank line; line ",
                       *trailing_blank_line, " is a fourth separator)"));
    }
    absl::Status error;
    if (section == Section::kCompares) {
      absl::StatusOr<v1::Compare> compare = ParseCompare(line);
      if (compare.ok()) {
        *txn.add_compare() = std::move(*compare);
      } else {
        error = compare.status();
      }
    } else {
      absl::StatusOr<v1::RequestOp> op = ParseOp(line);
      if (op.ok()) {
        *(section == Section::kSuccess ? txn.add_success() : txn.add_failure()) = std::move(*op);
      } else {
        error = op.status();
      }
    }
    if (!error.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, " (", SectionName(section), "): ", error.message()));
    }
  }
  return txn;
}

}  // namespace raftkv::kvctl
