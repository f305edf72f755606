// Tests of kvctl's argument checks (src/kvctl/args.h) and output formatting
// (src/kvctl/output.h).
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "src/kvctl/args.h"
#include "src/kvctl/output.h"

namespace raftkv::kvctl {
namespace {

namespace v1 = raftkv::v1;

TEST(ParseDurationTest, AcceptsDurationsWithUnits) {
  EXPECT_EQ(*ParseDuration("--timeout", "5s"), absl::Seconds(5));
  EXPECT_EQ(*ParseDuration("--timeout", "500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("--timeout", "1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDuration("--timeout", "1m"), absl::Minutes(1));
  EXPECT_EQ(*ParseDuration("--timeout", "2m30s"), absl::Seconds(150));
  EXPECT_EQ(*ParseDuration("--timeout", " 10s "), absl::Seconds(10));
}

TEST(ParseDurationTest, RejectsBadDurations) {
  for (const char* bad : {"", "5", "0", "abc", "5 s", "inf", "-1s", "0s", "5parsecs"}) {
    absl::StatusOr<absl::Duration> d = ParseDuration("--timeout", bad);
    EXPECT_FALSE(d.ok()) << bad;
    EXPECT_TRUE(absl::StartsWith(d.status().message(), "--timeout: ")) << d.status();
  }
  EXPECT_EQ(ParseDuration("--timeout", "5").status().message(),
            "--timeout: \"5\" is not a duration with a unit (e.g. 5s, 500ms, 1.5s, 1m)");
  EXPECT_EQ(ParseDuration("--dial-timeout", "0s").status().message(),
            "--dial-timeout: \"0s\" must be positive");
}

TEST(ParseConsistencyTest, Names) {
  EXPECT_EQ(*ParseConsistency("linearizable"), v1::LINEARIZABLE);
  EXPECT_EQ(*ParseConsistency("serializable"), v1::SERIALIZABLE);
  EXPECT_FALSE(ParseConsistency("strong").ok());
}

TEST(SelectKeysTest, Modes) {
  v1::RangeRequest r;
  ASSERT_TRUE(SelectKeys({"a", std::nullopt, false, false}, &r).ok());
  EXPECT_EQ(r.key(), "a");
  EXPECT_EQ(r.range_end(), "");
  EXPECT_FALSE(r.prefix());

  ASSERT_TRUE(SelectKeys({"a", std::string("c"), false, false}, &r).ok());
  EXPECT_EQ(r.range_end(), "c");

  ASSERT_TRUE(SelectKeys({"p/", std::nullopt, true, false}, &r).ok());
  EXPECT_TRUE(r.prefix());
  EXPECT_EQ(r.range_end(), "");

  ASSERT_TRUE(SelectKeys({"m", std::nullopt, false, true}, &r).ok());
  EXPECT_EQ(r.range_end(), std::string(1, '\0'));
  EXPECT_FALSE(r.prefix());

  // Every key: --prefix "" or --from-key "" (sent as prefix "").
  v1::DeleteRangeRequest d;
  ASSERT_TRUE(SelectKeys({"", std::nullopt, false, true}, &d).ok());
  EXPECT_TRUE(d.prefix());
  EXPECT_EQ(d.range_end(), "");
  ASSERT_TRUE(SelectKeys({"", std::nullopt, true, false}, &d).ok());
  EXPECT_TRUE(d.prefix());
}

TEST(SelectKeysTest, Errors) {
  v1::RangeRequest r;
  EXPECT_FALSE(SelectKeys({"a", std::string("b"), true, false}, &r).ok());
  EXPECT_FALSE(SelectKeys({"a", std::nullopt, true, true}, &r).ok());
  EXPECT_FALSE(SelectKeys({"", std::nullopt, false, false}, &r).ok());
  EXPECT_FALSE(SelectKeys({"b", std::string("a"), false, false}, &r).ok());
  EXPECT_FALSE(SelectKeys({"a", std::string("a"), false, false}, &r).ok());
  EXPECT_FALSE(SelectKeys({"a", std::string(""), false, false}, &r).ok());
}

v1::KeyValue Kv(const std::string& key, const std::string& value) {
  v1::KeyValue kv;
  kv.set_key(key);
  kv.set_value(value);
  kv.set_create_revision(2);
  kv.set_mod_revision(3);
  kv.set_version(2);
  return kv;
}

TEST(OutputTest, Put) {
  v1::PutResponse r;
  EXPECT_EQ(FormatPut(r, OutputFormat::kSimple), "OK\n");
  *r.mutable_prev_kv() = Kv("k", "old");
  EXPECT_EQ(FormatPut(r, OutputFormat::kSimple), "OK\nk\nold\n");
}

TEST(OutputTest, Range) {
  v1::RangeResponse r;
  *r.add_kvs() = Kv("a", "1");
  *r.add_kvs() = Kv("b", "two\nlines");
  r.set_count(2);
  EXPECT_EQ(FormatRange(r, false, false, OutputFormat::kSimple), "a\n1\nb\ntwo\nlines\n");
  EXPECT_EQ(FormatRange(r, true, false, OutputFormat::kSimple), "a\nb\n");
  EXPECT_EQ(FormatRange(r, false, true, OutputFormat::kSimple), "2\n");
  EXPECT_EQ(FormatRange(v1::RangeResponse(), false, false, OutputFormat::kSimple), "");
}

TEST(OutputTest, RangeJsonIsProtobufJsonOnOneLine) {
  v1::RangeResponse r;
  r.mutable_header()->set_revision(7);
  *r.add_kvs() = Kv("a", "1");
  r.set_count(1);
  const std::string json = FormatRange(r, false, false, OutputFormat::kJson);
  EXPECT_EQ(json,
            "{\"header\":{\"cluster_id\":\"0\",\"member_id\":\"0\",\"revision\":\"7\","
            "\"raft_term\":\"0\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":\"MQ==\","
            "\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\"}],"
            "\"more\":false,\"count\":\"1\"}\n");
}

TEST(OutputTest, Delete) {
  v1::DeleteRangeResponse r;
  r.set_deleted(2);
  EXPECT_EQ(FormatDelete(r, OutputFormat::kSimple), "2\n");
  *r.add_prev_kvs() = Kv("a", "1");
  EXPECT_EQ(FormatDelete(r, OutputFormat::kSimple), "2\na\n1\n");
}

TEST(OutputTest, Txn) {
  v1::TxnRequest request;
  request.add_success()->mutable_request_put()->set_key("k");
  request.add_success()->mutable_request_range()->set_key("k");
  v1::RangeRequest* count = request.add_success()->mutable_request_range();
  count->set_key("p");
  count->set_prefix(true);
  count->set_count_only(true);
  request.add_failure()->mutable_request_delete_range()->set_key("k");

  v1::TxnResponse response;
  response.set_succeeded(true);
  response.add_responses()->mutable_response_put();
  *response.add_responses()->mutable_response_range()->add_kvs() = Kv("k", "v");
  response.add_responses()->mutable_response_range()->set_count(4);
  EXPECT_EQ(FormatTxn(request, response, OutputFormat::kSimple), "SUCCESS\n\nOK\n\nk\nv\n\n4\n");

  v1::TxnResponse failed;
  failed.add_responses()->mutable_response_delete_range()->set_deleted(1);
  EXPECT_EQ(FormatTxn(request, failed, OutputFormat::kSimple), "FAILURE\n\n1\n");
}

std::vector<raftkv::client::EndpointStatus> SampleStatuses() {
  v1::StatusResponse leader;
  leader.set_member_id(1);
  leader.set_role(v1::ROLE_LEADER);
  leader.set_leader_id(1);
  leader.set_raft_term(3);
  leader.set_commit_index(12);
  leader.set_applied_index(12);
  leader.set_revision(5);
  leader.set_db_size_bytes(20480);
  return {{"127.0.0.1:7001", leader},
          {"127.0.0.1:7002", absl::UnavailableError("Status: 127.0.0.1:7002: connection refused")}};
}

TEST(OutputTest, StatusTable) {
  EXPECT_EQ(FormatStatus(SampleStatuses(), OutputFormat::kSimple),
            "ENDPOINT        ID  ROLE         LEADER  TERM  COMMIT  APPLIED  REVISION  DB SIZE  "
            "ERROR\n"
            "127.0.0.1:7001  1   leader       1       3     12      12       5         20 kB\n"
            "127.0.0.1:7002  -   unreachable  -       -     -       -        -         -        "
            "connection refused\n");
}

TEST(OutputTest, StatusJsonIsOneObjectPerEndpoint) {
  const std::string json = FormatStatus(SampleStatuses(), OutputFormat::kJson);
  const std::vector<std::string> lines = absl::StrSplit(json, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(absl::StartsWith(lines[0], "{\"endpoint\":\"127.0.0.1:7001\",\"status\":{"))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"role\":\"ROLE_LEADER\"")) << lines[0];
  EXPECT_TRUE(absl::EndsWith(lines[0], "}}")) << lines[0];
  EXPECT_EQ(lines[1],
            "{\"endpoint\":\"127.0.0.1:7002\",\"error\":\"Status: 127.0.0.1:7002: connection "
            "refused\"}");
}

TEST(OutputTest, Members) {
  v1::MemberListResponse r;
  v1::Member* m = r.add_members();
  m->set_id(1);
  m->set_name("node1");
  m->set_peer_address("127.0.0.1:7101");
  m->set_client_address("127.0.0.1:7001");
  EXPECT_EQ(FormatMembers(r, OutputFormat::kSimple),
            "ID  NAME   PEER ADDR       CLIENT ADDR     LEARNER\n"
            "1   node1  127.0.0.1:7101  127.0.0.1:7001  false\n");
}

TEST(OutputTest, TableBuildingBlocks) {
  EXPECT_EQ(FormatTable({{"A", "BB"}, {"ccc", ""}}), "A    BB\nccc\n");
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(999), "999 B");
  EXPECT_EQ(HumanBytes(1500), "1.5 kB");
  EXPECT_EQ(HumanBytes(20 * 1000 * 1000), "20 MB");
  EXPECT_EQ(RoleName(v1::ROLE_PRE_CANDIDATE), "pre-candidate");
  EXPECT_EQ(RoleName(v1::ROLE_UNKNOWN), "unknown");
}

TEST(OutputTest, JsonStringEscapes) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("q\"b\\n\n\t"), "\"q\\\"b\\\\n\\n\\t\"");
  EXPECT_EQ(JsonString(std::string("\x01\0", 2)), "\"\\u0001\\u0000\"");
  EXPECT_EQ(JsonString("h\xc3\xa9"), "\"h\xc3\xa9\"");      // valid UTF-8 kept
  EXPECT_EQ(JsonString("\xff\xc3"), "\"\\u00ff\\u00c3\"");  // invalid bytes escaped
}

TEST(OutputTest, ParseOutputFormat) {
  EXPECT_EQ(*ParseOutputFormat("simple"), OutputFormat::kSimple);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(ParseOutputFormat("table").status().message(),
            "--output: \"table\" is not one of simple, json");
}

}  // namespace
}  // namespace raftkv::kvctl
