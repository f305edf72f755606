// How kvctl prints results: every function returns the complete text to
// write to stdout (ending in a newline), so tests can compare it.
//
// simple (the default), in the spirit of etcdctl:
//   put        "OK"; with --prev-kv also the previous key and value lines.
//   get        for each key: the key on one line, the value on the next
//              (keys and values raw, as stored); --keys-only: keys only;
//              --count-only: the count.
//   del        the number of keys deleted; with --prev-kv also the deleted
//              keys and values.
//   txn        "SUCCESS" or "FAILURE", then each op's result after a blank
//              line, printed as the op's command prints it.
//   status     a table: ENDPOINT ID ROLE LEADER TERM COMMIT APPLIED REVISION
//              DB SIZE ERROR; an endpoint that did not answer shows
//              "unreachable" as its role and the reason under ERROR.
//   member     a table: ID NAME PEER ADDR CLIENT ADDR LEARNER.
// json: the response message in protobuf's JSON mapping on one line
// (proto field names; bytes such as keys and values are base64, uint64 are
// strings, as in etcdctl -w json). status prints one line per endpoint:
//   {"endpoint":"127.0.0.1:7001","status":{...StatusResponse...}}
//   {"endpoint":"127.0.0.1:7002","error":"Status: 127.0.0.1:7002: connection refused"}
//
// Threads: pure functions; any thread.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/kv.pb.h"
#include "src/client/client.h"

namespace raftkv::kvctl {

enum class OutputFormat { kSimple, kJson };

// "simple" or "json".
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

std::string FormatPut(const raftkv::v1::PutResponse& response, OutputFormat format);
// keys_only and count_only as asked in the request.
std::string FormatRange(const raftkv::v1::RangeResponse& response, bool keys_only, bool count_only,
                        OutputFormat format);
std::string FormatDelete(const raftkv::v1::DeleteRangeResponse& response, OutputFormat format);
// request tells how each range op asked to be printed.
std::string FormatTxn(const raftkv::v1::TxnRequest& request,
                      const raftkv::v1::TxnResponse& response, OutputFormat format);
std::string FormatStatus(const std::vector<raftkv::client::EndpointStatus>& statuses,
                         OutputFormat format);
std::string FormatMembers(const raftkv::v1::MemberListResponse& response, OutputFormat format);

// Building blocks, exposed for tests.

// rows[0] is the header; columns are padded to the widest cell and separated
// by two spaces; trailing spaces are trimmed.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);
// 0 B, 999 B, 1.5 kB, 20 MB (powers of 1000, as etcdctl).
std::string HumanBytes(uint64_t bytes);
// "leader", "follower", ...
std::string RoleName(raftkv::v1::Role role);
// s as a JSON string literal, quotes included; bytes that are not valid UTF-8
// are escaped as \u00XX of their Latin-1 reading.
std::string JsonString(absl::string_view s);
// A message in protobuf's JSON mapping on one line.
std::string MessageJson(const google::protobuf::Message& message);

}  // namespace raftkv::kvctl
