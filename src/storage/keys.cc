#include "src/storage/keys.h"

namespace raftkv::storage {

void AppendUint64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string EncodeUint64(uint64_t v) {
  std::string out;
  out.reserve(8);
  AppendUint64(&out, v);
  return out;
}

std::optional<uint64_t> DecodeUint64(absl::string_view data, size_t offset) {
  if (data.size() < offset + 8) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(data[offset + i]);
  }
  return v;
}

std::string DataKey(absl::string_view user_key) {
  std::string out;
  out.reserve(user_key.size() + 1);
  out.push_back(kDataPrefix);
  out.append(user_key.data(), user_key.size());
  return out;
}

std::string DataKeyEnd() { return std::string(1, kDataPrefix + 1); }

absl::string_view UserKey(absl::string_view data_key) { return data_key.substr(1); }

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<uint8_t>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

}  // namespace raftkv::storage
