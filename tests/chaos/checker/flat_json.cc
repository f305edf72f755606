#include "tests/chaos/checker/flat_json.h"

#include <cstdio>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace raftkv::chaos::json {
namespace {

// A cursor over the text; every error names the byte offset.
class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Object> ParseTopLevel() {
    SkipSpace();
    ASSIGN_OR_RETURN(Object object, ParseObjectBody());
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the object");
    return object;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " (at byte ", pos_, ")"));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }

  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<Object> ParseObjectBody() {
    if (!Consume('{')) return Error("expected '{'");
    Object object;
    SkipSpace();
    if (Consume('}')) return object;
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a member name");
      ASSIGN_OR_RETURN(std::string name, ParseString());
      for (const auto& member : object) {
        if (member.first == name) return Error(absl::StrCat("duplicate member ", Quote(name)));
      }
      SkipSpace();
      if (!Consume(':')) return Error("expected ':'");
      SkipSpace();
      ASSIGN_OR_RETURN(Value value, ParseValue(name));
      object.emplace_back(std::move(name), std::move(value));
      SkipSpace();
      if (Consume('}')) return object;
      if (!Consume(',')) return Error("expected ',' or '}'");
    }
  }

  absl::StatusOr<Value> ParseValue(const std::string& name) {
    Value value;
    if (pos_ >= text_.size()) return Error("expected a value");
    const char c = text_[pos_];
    if (c == '"') {
      value.kind = Value::Kind::kString;
      ASSIGN_OR_RETURN(value.string, ParseString());
      return value;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = Value::Kind::kInt;
      ASSIGN_OR_RETURN(value.integer, ParseInteger(name));
      return value;
    }
    if (ConsumeWord("null")) return value;
    if (ConsumeWord("true")) {
      value.kind = Value::Kind::kBool;
      value.boolean = true;
      return value;
    }
    if (ConsumeWord("false")) {
      value.kind = Value::Kind::kBool;
      return value;
    }
    if (c == '{' || c == '[') {
      return Error(absl::StrCat("member ", Quote(name),
                                ": nested objects and arrays are not "
                                "supported"));
    }
    return Error(absl::StrCat("member ", Quote(name), ": not a JSON value"));
  }

  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::StatusOr<int64_t> ParseInteger(const std::string& name) {
    const size_t start = pos_;
    const bool negative = Consume('-');
    uint64_t magnitude = 0;
    const uint64_t limit = negative ? uint64_t{1} << 63 : std::numeric_limits<int64_t>::max();
    size_t digits = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const uint64_t d = static_cast<uint64_t>(text_[pos_] - '0');
      if (magnitude > (limit - d) / 10) {
        pos_ = start;
        return Error(absl::StrCat("member ", Quote(name), ": integer out of range"));
      }
      magnitude = magnitude * 10 + d;
      ++pos_;
      ++digits;
    }
    if (digits == 0) return Error(absl::StrCat("member ", Quote(name), ": expected digits"));
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return Error(absl::StrCat("member ", Quote(name), ": not an integer"));
    }
    if (negative) {
      return magnitude == (uint64_t{1} << 63) ? std::numeric_limits<int64_t>::min()
                                              : -static_cast<int64_t>(magnitude);
    }
    return static_cast<int64_t>(magnitude);
  }

  absl::StatusOr<uint32_t> ParseHex4() {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        code |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        code |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return Error("bad hex digit in \\u escape");
      }
    }
    return code;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (code >> 6)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
    }
    out->push_back(static_cast<char>(0x80 | (code & 0x3f)));
  }

  // At the opening quote.
  absl::StatusOr<std::string> ParseString() {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return Error("raw control character in a string (must be escaped)");
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          ASSIGN_OR_RETURN(uint32_t code, ParseHex4());
          if (code <= 0xff) {
            out.push_back(static_cast<char>(code));
          } else if (code >= 0xd800 && code <= 0xdbff) {
            if (!ConsumeWord("\\u")) return Error("unpaired surrogate in \\u escape");
            ASSIGN_OR_RETURN(uint32_t low, ParseHex4());
            if (low < 0xdc00 || low > 0xdfff) return Error("unpaired surrogate in \\u escape");
            AppendUtf8(0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00), &out);
          } else if (code >= 0xdc00 && code <= 0xdfff) {
            return Error("unpaired surrogate in \\u escape");
          } else {
            AppendUtf8(code, &out);
          }
          break;
        }
        default:
          --pos_;
          return Error("unknown escape in a string");
      }
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Object> ParseObject(absl::string_view text) { return Parser(text).ParseTopLevel(); }

std::string Quote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b >= 0x20 && b <= 0x7e) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(b));
      out += buf;
    }
  }
  out.push_back('"');
  return out;
}

const char* KindName(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kBool:
      return "boolean";
    case Value::Kind::kInt:
      return "integer";
    case Value::Kind::kString:
      return "string";
  }
  return "?";
}

}  // namespace raftkv::chaos::json
