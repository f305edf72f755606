// raftkv::chaos::json: the small piece of JSON the checker reads and writes:
// one flat object per line (history.jsonl) and the final-state object
// (final.json). Values are strings, integers, booleans or null; nested
// objects, arrays and non-integer numbers are refused with a reason.
//
// Strings are byte strings. Quote() escapes '"', '\\' and every byte outside
// printable ASCII (0x20..0x7e) as \u00XX, so any bytes round-trip and the
// output is plain ASCII. Parse() reads \u0000..\u00ff back as that single
// byte; a larger code point (or a surrogate pair) becomes its UTF-8 bytes; raw
// bytes >= 0x80 inside a string are kept as they are.
//
// Threads: pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace raftkv::chaos::json {

struct Value {
  enum class Kind { kNull, kBool, kInt, kString };
  Kind kind = Kind::kNull;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
};

// Members in the order written. Invariant: no two members share a name.
using Object = std::vector<std::pair<std::string, Value>>;

// Parses one object, surrounded by optional whitespace and nothing else.
// Errors say what was wrong and at which byte offset of `text`.
absl::StatusOr<Object> ParseObject(absl::string_view text);

// `s` as a JSON string literal, quotes included (see the escaping above).
std::string Quote(absl::string_view s);

// "string", "integer", ... for error messages.
const char* KindName(Value::Kind kind);

}  // namespace raftkv::chaos::json
