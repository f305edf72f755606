#include "src/kvctl/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace raftkv::kvctl {

namespace v1 = raftkv::v1;

namespace {

void AppendKeyValue(const v1::KeyValue& kv, bool keys_only, std::string* out) {
  absl::StrAppend(out, kv.key(), "\n");
  if (!keys_only) absl::StrAppend(out, kv.value(), "\n");
}

std::string SimplePut(const v1::PutResponse& response) {
  std::string out = "OK\n";
  if (response.has_prev_kv()) AppendKeyValue(response.prev_kv(), false, &out);
  return out;
}

std::string SimpleRange(const v1::RangeResponse& response, bool keys_only, bool count_only) {
  if (count_only) return absl::StrCat(response.count(), "\n");
  std::string out;
  for (const v1::KeyValue& kv : response.kvs()) AppendKeyValue(kv, keys_only, &out);
  return out;
}

std::string SimpleDelete(const v1::DeleteRangeResponse& response) {
  std::string out = absl::StrCat(response.deleted(), "\n");
  for (const v1::KeyValue& kv : response.prev_kvs()) AppendKeyValue(kv, false, &out);
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  uint32_t min;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text == "simple") return OutputFormat::kSimple;
  if (text == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--output: \"", text, "\" is not one of simple, json"));
}

std::string FormatPut(const v1::PutResponse& response, OutputFormat format) {
  return format == OutputFormat::kJson ? MessageJson(response) : SimplePut(response);
}

std::string FormatRange(const v1::RangeResponse& response, bool keys_only, bool count_only,
                        OutputFormat format) {
  return format == OutputFormat::kJson ? MessageJson(response)
                                       : SimpleRange(response, keys_only, count_only);
}

std::string FormatDelete(const v1::DeleteRangeResponse& response, OutputFormat format) {
  return format == OutputFormat::kJson ? MessageJson(response) : SimpleDelete(response);
}

std::string FormatTxn(const v1::TxnRequest& request, const v1::TxnResponse& response,
                      OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageJson(response);
  std::string out = response.succeeded() ? "SUCCESS\n" : "FAILURE\n";
  const auto& ops = response.succeeded() ? request.success() : request.failure();
  for (int i = 0; i < response.responses_size(); ++i) {
    const v1::ResponseOp& r = response.responses(i);
    out += "\n";
    switch (r.response_case()) {
      case v1::ResponseOp::kResponsePut:
        out += SimplePut(r.response_put());
        break;
      case v1::ResponseOp::kResponseRange: {
        const bool has_op = i < ops.size() && ops[i].has_request_range();
        const v1::RangeRequest& asked =
            has_op ? ops[i].request_range() : v1::RangeRequest::default_instance();
        out += SimpleRange(r.response_range(), asked.keys_only(), asked.count_only());
        break;
      }
      case v1::ResponseOp::kResponseDeleteRange:
        out += SimpleDelete(r.response_delete_range());
        break;
      default:
        out += "(empty response)\n";
        break;
    }
  }
  return out;
}

std::string FormatStatus(const std::vector<raftkv::client::EndpointStatus>& statuses,
                         OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::string out;
    for (const auto& entry : statuses) {
      if (entry.status.ok()) {
        std::string status_json = MessageJson(*entry.status);
        status_json.pop_back();  // its newline: one object per line
        absl::StrAppend(&out, "{\"endpoint\":", JsonString(entry.endpoint),
                        ",\"status\":", status_json, "}\n");
      } else {
        absl::StrAppend(&out, "{\"endpoint\":", JsonString(entry.endpoint),
                        ",\"error\":", JsonString(entry.status.status().message()), "}\n");
      }
    }
    return out;
  }
  std::vector<std::vector<std::string>> rows = {{"ENDPOINT", "ID", "ROLE", "LEADER", "TERM",
                                                 "COMMIT", "APPLIED", "REVISION", "DB SIZE",
                                                 "ERROR"}};
  for (const auto& entry : statuses) {
    if (!entry.status.ok()) {
      // The message repeats the endpoint ("Status: ADDR: reason"); keep the reason.
      std::string reason(entry.status.status().message());
      const std::string prefix = absl::StrCat("Status: ", entry.endpoint, ": ");
      if (reason.compare(0, prefix.size(), prefix) == 0) reason = reason.substr(prefix.size());
      rows.push_back({entry.endpoint, "-", "unreachable", "-", "-", "-", "-", "-", "-", reason});
      continue;
    }
    const v1::StatusResponse& s = *entry.status;
    rows.push_back({entry.endpoint, absl::StrCat(s.member_id()), RoleName(s.role()),
                    s.leader_id() == 0 ? "none" : absl::StrCat(s.leader_id()),
                    absl::StrCat(s.raft_term()), absl::StrCat(s.commit_index()),
                    absl::StrCat(s.applied_index()), absl::StrCat(s.revision()),
                    HumanBytes(s.db_size_bytes()), ""});
  }
  return FormatTable(rows);
}

std::string FormatMembers(const v1::MemberListResponse& response, OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageJson(response);
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "PEER ADDR", "CLIENT ADDR", "LEARNER"}};
  for (const v1::Member& m : response.members()) {
    rows.push_back({absl::StrCat(m.id()), m.name(), m.peer_address(), m.client_address(),
                    m.is_learner() ? "true" : "false"});
  }
  return FormatTable(rows);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(kUnits)) {
    value /= 1000;
    ++unit;
  }
  // One decimal below 10 (1.5 kB), none above (20 MB).
  if (value < 9.95) return absl::StrFormat("%.1f %s", value, kUnits[unit]);
  return absl::StrFormat("%.0f %s", value, kUnits[unit]);
}

std::string RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_FOLLOWER:
      return "follower";
    case v1::ROLE_CANDIDATE:
      return "candidate";
    case v1::ROLE_PRE_CANDIDATE:
      return "pre-candidate";
    case v1::ROLE_LEADER:
      return "leader";
    case v1::ROLE_LEARNER:
      return "learner";
    default:
      return "unknown";
  }
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\u%04x", c);
    } else if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += absl::StrFormat("\\u%04x", c);
      } else {
        out.append(s.data() + i, n);
        i += n;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += "\"";
  return out;
}

std::string MessageJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    // Only a broken descriptor pool could cause this; say so rather than crash.
    return absl::StrCat("{\"error\":", JsonString(status.ToString()), "}\n");
  }
  return out + "\n";
}

}  // namespace raftkv::kvctl
