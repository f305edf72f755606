// kvctl: the command-line client of raftkv, in the spirit of etcdctl.
//
//   kvctl [--endpoints A,B,C] [--timeout 5s] [--dial-timeout 2s] [--output simple|json] CMD
//   put KEY [VALUE] [--prev-kv]     VALUE from stdin (verbatim) when absent
//   get KEY [END | --from END] [--prefix | --from-key] [--limit N] [--keys-only] [--count-only]
//                 [--consistency linearizable|serializable]
//   del KEY [END] [--prefix | --from-key] [--prev-kv]
//   txn                             reads the txn from stdin (src/kvctl/txn_parser.h)
//   status                          one row per endpoint
//   member list
//
// Exit codes: 0 success; 1 the request failed (message on stderr); 2 usage
// error (bad flag or argument). Every error is one line on stderr starting
// with "kvctl: ". Output formats: src/kvctl/output.h.
// Threads: single-threaded (the client library may use its own).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/client/client.h"
#include "src/kvctl/args.h"
#include "src/kvctl/output.h"
#include "src/kvctl/txn_parser.h"

namespace raftkv::kvctl {
namespace {

namespace v1 = raftkv::v1;

constexpr char kDefaultEndpoints[] = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
// Larger than any request the server accepts (1.5 MiB by default), so the
// server, not kvctl, says what the limit is; small enough to fail cleanly.
constexpr size_t kStdinBytesMax = 64u << 20;

constexpr int kExitRequestError = 1;
constexpr int kExitUsageError = 2;

// command: the subcommand whose help to point at ("" for the top level).
int UsageError(absl::string_view message, absl::string_view command = "") {
  std::cerr << "kvctl: " << message << " (see kvctl " << command << (command.empty() ? "" : " ")
            << "--help)\n";
  return kExitUsageError;
}

int RequestError(const absl::Status& status) {
  std::cerr << "kvctl: " << status.message() << "\n";
  return kExitRequestError;
}

absl::StatusOr<std::string> ReadStdin() {
  std::string data;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), stdin)) > 0) {
    data.append(buffer, n);
    if (data.size() > kStdinBytesMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("stdin holds more than ", kStdinBytesMax >> 20, " MiB"));
    }
  }
  if (std::ferror(stdin)) return absl::UnavailableError("reading stdin failed");
  return data;
}

int Print(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::cerr << "kvctl: writing the output failed\n";
    return kExitRequestError;
  }
  return 0;
}

struct Flags {
  std::string endpoints = kDefaultEndpoints;
  std::string timeout = "5s";
  std::string dial_timeout = "2s";
  std::string output = "simple";

  // put / get / del
  std::string key;
  std::string value_or_end;
  bool prev_kv = false;
  bool prefix = false;
  bool from_key = false;
  uint64_t limit = 0;
  bool keys_only = false;
  bool count_only = false;
  std::string consistency = "linearizable";
};

// What main() parsed, checked; the client to talk through.
struct Context {
  OutputFormat format = OutputFormat::kSimple;
  std::unique_ptr<raftkv::client::Client> client;
};

// Checks the global flags and creates the client. An error is a usage error.
absl::StatusOr<Context> MakeContext(const Flags& flags) {
  Context ctx;
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(flags.output);
  if (!format.ok()) return format.status();
  ctx.format = *format;
  absl::StatusOr<absl::Duration> timeout = ParseDuration("--timeout", flags.timeout);
  if (!timeout.ok()) return timeout.status();
  absl::StatusOr<absl::Duration> dial = ParseDuration("--dial-timeout", flags.dial_timeout);
  if (!dial.ok()) return dial.status();
  absl::StatusOr<std::vector<std::string>> endpoints =
      raftkv::client::ParseEndpoints(flags.endpoints);
  if (!endpoints.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--endpoints: ", endpoints.status().message()));
  }
  raftkv::client::Options options;
  options.endpoints = *endpoints;
  options.call_timeout = *timeout;
  options.dial_timeout = std::min(*dial, *timeout);
  // A fresh seed per process: concurrent kvctl runs should not back off in step.
  options.seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<std::unique_ptr<raftkv::client::Client>> client =
      raftkv::client::Client::Create(std::move(options));
  if (!client.ok()) return client.status();
  ctx.client = std::move(*client);
  return ctx;
}

int RunPut(Context& ctx, const Flags& flags, bool has_value) {
  std::string value = flags.value_or_end;
  if (!has_value) {
    absl::StatusOr<std::string> in = ReadStdin();
    if (!in.ok()) return RequestError(in.status());
    value = std::move(*in);
  }
  if (flags.key.empty()) return UsageError("put: the key is empty", "put");
  absl::StatusOr<v1::PutResponse> r = ctx.client->Put(flags.key, value, flags.prev_kv);
  if (!r.ok()) return RequestError(r.status());
  return Print(FormatPut(*r, ctx.format));
}

KeySelection Selection(const Flags& flags, bool has_end) {
  KeySelection s;
  s.key = flags.key;
  if (has_end) s.range_end = flags.value_or_end;
  s.prefix = flags.prefix;
  s.from_key = flags.from_key;
  return s;
}

int RunGet(Context& ctx, const Flags& flags, bool has_end) {
  v1::RangeRequest request;
  if (absl::Status s = SelectKeys(Selection(flags, has_end), &request); !s.ok()) {
    return UsageError(absl::StrCat("get: ", s.message()), "get");
  }
  absl::StatusOr<v1::ReadConsistency> consistency = ParseConsistency(flags.consistency);
  if (!consistency.ok()) return UsageError(consistency.status().message(), "get");
  request.set_consistency(*consistency);
  request.set_limit(flags.limit);
  request.set_keys_only(flags.keys_only);
  request.set_count_only(flags.count_only);
  absl::StatusOr<v1::RangeResponse> r = ctx.client->Range(request);
  if (!r.ok()) return RequestError(r.status());
  return Print(FormatRange(*r, flags.keys_only, flags.count_only, ctx.format));
}

int RunDel(Context& ctx, const Flags& flags, bool has_end) {
  v1::DeleteRangeRequest request;
  if (absl::Status s = SelectKeys(Selection(flags, has_end), &request); !s.ok()) {
    return UsageError(absl::StrCat("del: ", s.message()), "del");
  }
  request.set_prev_kv(flags.prev_kv);
  absl::StatusOr<v1::DeleteRangeResponse> r = ctx.client->DeleteRange(request);
  if (!r.ok()) return RequestError(r.status());
  return Print(FormatDelete(*r, ctx.format));
}

int RunTxn(Context& ctx) {
  absl::StatusOr<std::string> in = ReadStdin();
  if (!in.ok()) return RequestError(in.status());
  absl::StatusOr<v1::TxnRequest> request = ParseTxn(*in);
  if (!request.ok()) return UsageError(absl::StrCat("txn: ", request.status().message()), "txn");
  absl::StatusOr<v1::TxnResponse> r = ctx.client->Txn(*request);
  if (!r.ok()) return RequestError(r.status());
  return Print(FormatTxn(*request, *r, ctx.format));
}

int RunStatus(Context& ctx) {
  std::vector<raftkv::client::EndpointStatus> statuses = ctx.client->StatusAll();
  const int printed = Print(FormatStatus(statuses, ctx.format));
  if (printed != 0) return printed;
  for (const auto& s : statuses) {
    if (s.status.ok()) return 0;
  }
  std::cerr << "kvctl: no endpoint answered\n";
  return kExitRequestError;
}

int RunMemberList(Context& ctx) {
  absl::StatusOr<v1::MemberListResponse> r = ctx.client->MemberList();
  if (!r.ok()) return RequestError(r.status());
  return Print(FormatMembers(*r, ctx.format));
}

constexpr char kTxnHelp[] =
    R"(The txn is read from stdin: compares, a blank line, success ops, a blank
line, failure ops. Lines starting with # are comments.
  compares:  value("k") = "v"   version("k") > 3   mod("k") < 10   create("k") = 0
             (targets value|version|create|mod; operators = == != < >)
  ops:       put KEY VALUE
             get KEY [END] [--prefix | --from-key] [--limit N] [--keys-only] [--count-only]
             del KEY [END] [--prefix | --from-key] [--prev-kv]
Quote words with spaces: put "my key" "a value"; escapes \" \\ \n \t \r \0 \xHH.
Example:
  printf 'value("k") = "v1"\n\nput k v2\n\nget k\n' | kvctl txn)";

int Main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"kvctl: the command-line client of raftkv"};
  app.require_subcommand(1);
  // Global flags may also follow the command (kvctl get k --output json).
  app.fallthrough();
  app.add_option("--endpoints", flags.endpoints,
                 "Comma-separated client addresses (host:port) of the cluster's nodes")
      ->envname("RAFTKV_ENDPOINTS")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout,
                 "Deadline of the whole command, retries included (e.g. 5s, 500ms)")
      ->capture_default_str();
  app.add_option("--dial-timeout", flags.dial_timeout,
                 "How long to wait for a connection to one endpoint before trying the next")
      ->capture_default_str();
  app.add_option("--output,-w", flags.output, "Output format: simple or json")
      ->capture_default_str();
  app.footer(
      "Keys and values are byte strings; simple output prints them raw.\n"
      "Exit codes: 0 ok, 1 request failed, 2 usage error.");

  CLI::App* put = app.add_subcommand("put", "Set KEY to VALUE (VALUE read from stdin if absent)");
  put->add_option("key", flags.key, "The key")->required();
  CLI::Option* put_value = put->add_option("value", flags.value_or_end, "The value");
  put->add_flag("--prev-kv", flags.prev_kv, "Also print the previous key and value");

  CLI::App* get = app.add_subcommand("get", "Read a key or a range of keys");
  get->add_option("key", flags.key, "The key (or the start of the range)")->required();
  CLI::Option* get_end =
      get->add_option("range_end", flags.value_or_end, "Read the range [key, range_end)");
  CLI::Option* get_from = get->add_option("--from", flags.value_or_end,
                                          "Read the range [key, K2): the same as giving range_end")
                              ->option_text("K2")
                              ->excludes(get_end);
  get->add_flag("--prefix", flags.prefix, "Read every key starting with key");
  get->add_flag("--from-key", flags.from_key, "Read every key >= key");
  get->add_option("--limit", flags.limit, "Read at most this many keys (0: no limit)");
  get->add_flag("--keys-only", flags.keys_only, "Print keys only");
  get->add_flag("--count-only", flags.count_only, "Print the number of keys only");
  get->add_option("--consistency", flags.consistency, "linearizable or serializable")
      ->capture_default_str();
  get->footer("Simple output: each key on a line, its value on the next.");

  CLI::App* del = app.add_subcommand("del", "Delete a key or a range of keys; prints the count");
  del->add_option("key", flags.key, "The key (or the start of the range)")->required();
  CLI::Option* del_end =
      del->add_option("range_end", flags.value_or_end, "Delete the range [key, range_end)");
  del->add_flag("--prefix", flags.prefix, "Delete every key starting with key");
  del->add_flag("--from-key", flags.from_key, "Delete every key >= key");
  del->add_flag("--prev-kv", flags.prev_kv, "Also print the deleted keys and values");

  CLI::App* txn = app.add_subcommand("txn", "Run a transaction read from stdin");
  txn->footer(kTxnHelp);

  CLI::App* status = app.add_subcommand("status", "Show every endpoint's Raft status");
  CLI::App* member = app.add_subcommand("member", "Cluster membership");
  member->require_subcommand(1);
  CLI::App* member_list = member->add_subcommand("list", "List the cluster's members");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return UsageError(e.what());
  }

  absl::StatusOr<Context> ctx = MakeContext(flags);
  if (!ctx.ok()) return UsageError(ctx.status().message());
  if (put->parsed()) return RunPut(*ctx, flags, put_value->count() > 0);
  if (get->parsed()) return RunGet(*ctx, flags, get_end->count() + get_from->count() > 0);
  if (del->parsed()) return RunDel(*ctx, flags, del_end->count() > 0);
  if (txn->parsed()) return RunTxn(*ctx);
  if (status->parsed()) return RunStatus(*ctx);
  if (member_list->parsed()) return RunMemberList(*ctx);
  return UsageError("no command given");
}

}  // namespace
}  // namespace raftkv::kvctl

int main(int argc, char** argv) { return raftkv::kvctl::Main(argc, argv); }
