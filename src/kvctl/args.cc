#include "src/kvctl/args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace raftkv::kvctl {

namespace v1 = raftkv::v1;

namespace {

// The range_end meaning "every key >= key" (proto/kv.proto).
const std::string& FromKeyEnd() {
  static const std::string* const kEnd = new std::string(1, '\0');
  return *kEnd;
}

// Checks a selection and returns the range_end to send.
absl::StatusOr<std::string> RangeEnd(const KeySelection& s) {
  const int modes = (s.range_end.has_value() ? 1 : 0) + (s.prefix ? 1 : 0) + (s.from_key ? 1 : 0);
  if (modes > 1) {
    return absl::InvalidArgumentError(
        "a range end, --prefix and --from-key exclude each other; give at most one");
  }
  if (s.key.empty() && !s.prefix && !s.from_key) {
    return absl::InvalidArgumentError(
        "the key is empty (use --prefix \"\" or --from-key \"\" for every key)");
  }
  if (s.range_end.has_value()) {
    if (s.range_end->empty()) return absl::InvalidArgumentError("the range end is empty");
    if (*s.range_end <= s.key) {
      return absl::InvalidArgumentError(absl::StrCat("the range end \"", *s.range_end,
                                                     "\" must sort after the key \"", s.key,
                                                     "\" (the range is [key, end))"));
    }
    return *s.range_end;
  }
  // The server takes an empty key only with prefix; "every key >= """ is
  // every key, which SelectKeys sends as prefix "".
  if (s.from_key && !s.key.empty()) return FromKeyEnd();
  return std::string();
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view flag, absl::string_view text) {
  const std::string trimmed(absl::StripAsciiWhitespace(text));
  absl::Duration d;
  const bool has_unit = !trimmed.empty() && absl::ascii_isalpha(trimmed.back());
  if (!has_unit || !absl::ParseDuration(trimmed, &d) || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not a duration with a unit (e.g. 5s, 500ms, 1.5s, 1m)"));
  }
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", text, "\" must be positive"));
  }
  return d;
}

absl::StatusOr<v1::ReadConsistency> ParseConsistency(absl::string_view text) {
  if (text == "linearizable") return v1::LINEARIZABLE;
  if (text == "serializable") return v1::SERIALIZABLE;
  return absl::InvalidArgumentError(
      absl::StrCat("--consistency: \"", text, "\" is not one of linearizable, serializable"));
}

namespace {
// Range and DeleteRange requests select keys with the same three fields.
template <typename Request>
absl::Status SelectKeysInto(const KeySelection& selection, Request* request) {
  absl::StatusOr<std::string> end = RangeEnd(selection);
  if (!end.ok()) return end.status();
  request->set_key(selection.key);
  request->set_range_end(*end);
  request->set_prefix(selection.prefix || (selection.from_key && selection.key.empty()));
  return absl::OkStatus();
}
}  // namespace

absl::Status SelectKeys(const KeySelection& selection, v1::RangeRequest* request) {
  return SelectKeysInto(selection, request);
}

absl::Status SelectKeys(const KeySelection& selection, v1::DeleteRangeRequest* request) {
  return SelectKeysInto(selection, request);
}

}  // namespace raftkv::kvctl
