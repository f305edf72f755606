// Tests of kvctl's txn text format (src/kvctl/txn_parser.h): valid inputs
// become the expected TxnRequest, invalid ones name their line.
#include "src/kvctl/txn_parser.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace raftkv::kvctl {
namespace {

namespace v1 = raftkv::v1;

v1::TxnRequest MustParse(absl::string_view text) {
  absl::StatusOr<v1::TxnRequest> txn = ParseTxn(text);
  EXPECT_TRUE(txn.ok()) << txn.status();
  return txn.ok() ? *txn : v1::TxnRequest();
}

// The error message of parsing text, which must fail with InvalidArgument.
std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<v1::TxnRequest> txn = ParseTxn(text);
  EXPECT_FALSE(txn.ok()) << "parsed: " << txn->ShortDebugString();
  if (txn.ok()) return "";
  EXPECT_EQ(txn.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(txn.status().message());
}

TEST(TxnParserTest, ThreeSections) {
  const v1::TxnRequest txn = MustParse(
      "value(\"k\") = \"v\"\n"
      "version(\"k\") > 3\n"
      "\n"
      "put k v2\n"
      "get k\n"
      "\n"
      "del k\n");
  ASSERT_EQ(txn.compare_size(), 2);
  EXPECT_EQ(txn.compare(0).target(), v1::Compare::VALUE);
  EXPECT_EQ(txn.compare(0).result(), v1::Compare::EQUAL);
  EXPECT_EQ(txn.compare(0).key(), "k");
  EXPECT_EQ(txn.compare(0).value(), "v");
  EXPECT_EQ(txn.compare(1).target(), v1::Compare::VERSION);
  EXPECT_EQ(txn.compare(1).result(), v1::Compare::GREATER);
  EXPECT_EQ(txn.compare(1).version(), 3u);
  ASSERT_EQ(txn.success_size(), 2);
  EXPECT_EQ(txn.success(0).request_put().key(), "k");
  EXPECT_EQ(txn.success(0).request_put().value(), "v2");
  EXPECT_EQ(txn.success(1).request_range().key(), "k");
  EXPECT_EQ(txn.success(1).request_range().range_end(), "");
  ASSERT_EQ(txn.failure_size(), 1);
  EXPECT_EQ(txn.failure(0).request_delete_range().key(), "k");
}

TEST(TxnParserTest, EveryTargetAndOperator) {
  const v1::TxnRequest txn = MustParse(
      "mod(\"a\") < 10\n"
      "create(\"b\") = 0\n"
      "ver(\"c\") != \"2\"\n"  // numbers may be quoted, as etcdctl writes them
      "val(d) == bare\n"
      "mod_revision(\"e\")>5\n"
      "create_revision( \"f\" ) = 7\n");
  ASSERT_EQ(txn.compare_size(), 6);
  EXPECT_EQ(txn.compare(0).target(), v1::Compare::MOD);
  EXPECT_EQ(txn.compare(0).result(), v1::Compare::LESS);
  EXPECT_EQ(txn.compare(0).mod_revision(), 10u);
  EXPECT_EQ(txn.compare(1).target(), v1::Compare::CREATE);
  EXPECT_EQ(txn.compare(1).create_revision(), 0u);
  EXPECT_EQ(txn.compare(1).target_union_case(), v1::Compare::kCreateRevision);
  EXPECT_EQ(txn.compare(2).result(), v1::Compare::NOT_EQUAL);
  EXPECT_EQ(txn.compare(2).version(), 2u);
  EXPECT_EQ(txn.compare(3).key(), "d");
  EXPECT_EQ(txn.compare(3).value(), "bare");
  EXPECT_EQ(txn.compare(4).mod_revision(), 5u);
  EXPECT_EQ(txn.compare(4).result(), v1::Compare::GREATER);
  EXPECT_EQ(txn.compare(5).key(), "f");
  EXPECT_EQ(txn.success_size(), 0);
  EXPECT_EQ(txn.failure_size(), 0);
}

TEST(TxnParserTest, QuotingAndEscapes) {
  const v1::TxnRequest txn = MustParse(
      "value(\"my key\") = \"say \\\"hi\\\"\"\n"
      "\n"
      "put \"my key\" \"a b\\n\\x00\\xff\"\n"
      "put k \"\"\n");
  EXPECT_EQ(txn.compare(0).key(), "my key");
  EXPECT_EQ(txn.compare(0).value(), "say \"hi\"");
  EXPECT_EQ(txn.success(0).request_put().key(), "my key");
  EXPECT_EQ(txn.success(0).request_put().value(), std::string("a b\n\0\xff", 6));
  EXPECT_EQ(txn.success(1).request_put().value(), "");
}

TEST(TxnParserTest, RangeOps) {
  const v1::TxnRequest txn = MustParse(
      "\n"
      "get a b\n"
      "get p --prefix --keys-only --limit 5\n"
      "get f --from-key --count-only\n"
      "\n"
      "del a b --prev-kv\n"
      "delete p --prefix\n");
  EXPECT_EQ(txn.compare_size(), 0);
  ASSERT_EQ(txn.success_size(), 3);
  EXPECT_EQ(txn.success(0).request_range().range_end(), "b");
  EXPECT_TRUE(txn.success(1).request_range().prefix());
  EXPECT_TRUE(txn.success(1).request_range().keys_only());
  EXPECT_EQ(txn.success(1).request_range().limit(), 5u);
  EXPECT_EQ(txn.success(2).request_range().range_end(), std::string(1, '\0'));
  EXPECT_TRUE(txn.success(2).request_range().count_only());
  ASSERT_EQ(txn.failure_size(), 2);
  EXPECT_EQ(txn.failure(0).request_delete_range().range_end(), "b");
  EXPECT_TRUE(txn.failure(0).request_delete_range().prev_kv());
  EXPECT_TRUE(txn.failure(1).request_delete_range().prefix());
}

TEST(TxnParserTest, CommentsWhitespaceAndCrlf) {
  const v1::TxnRequest txn = MustParse(
      "# check first\r\n"
      "  value(\"k\") = \"v\"  \r\n"
      "\r\n"
      "\tput k v\r\n");
  EXPECT_EQ(txn.compare_size(), 1);
  EXPECT_EQ(txn.compare(0).value(), "v");
  ASSERT_EQ(txn.success_size(), 1);
  EXPECT_EQ(txn.success(0).request_put().value(), "v");
}

TEST(TxnParserTest, EmptyInputIsAnEmptyTxn) {
  const v1::TxnRequest txn = MustParse("");
  EXPECT_EQ(txn.compare_size() + txn.success_size() + txn.failure_size(), 0);
}

TEST(TxnParserTest, TrailingBlankLinesAreIgnored) {
  const v1::TxnRequest txn = MustParse("\nput a 1\n\nput b 2\n\n\n");
  EXPECT_EQ(txn.success_size(), 1);
  EXPECT_EQ(txn.failure_size(), 1);
}

TEST(TxnParserTest, ErrorsNameTheLineAndSection) {
  EXPECT_EQ(ErrorOf("value(\"k\") = \"v\"\nfoo(\"k\") = 1\n"),
            "line 2 (compares): \"foo\" is not a compare target; expected value, version, "
            "create or mod, as in value(\"k\") = \"v\"");
  EXPECT_EQ(ErrorOf("\nput k\n"),
            "line 2 (success ops): put takes a key and a value; usage: put KEY VALUE (quote a "
            "value with spaces)");
  EXPECT_EQ(ErrorOf("\n\nget\n"),
            "line 3 (failure ops): get takes a key and an optional range end; usage: get KEY "
            "[END] [--prefix | --from-key] [--limit N] [--keys-only] [--count-only]");
  EXPECT_EQ(ErrorOf("\nfrob k\n"),
            "line 2 (success ops): \"frob\" is not an op; expected put, get or del");
  EXPECT_EQ(ErrorOf("\n\nput a 1\n\nput b 2\n"),
            "line 5: text after the failure ops (a txn has three sections: compares, success "
            "ops, failure ops, separated by one blank line; line 4 is a fourth separator)");
}

TEST(TxnParserTest, CompareErrors) {
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"k\") > abc"),
                                "version compares with a non-negative integer, not \"abc\""));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"k\") > -1"), "non-negative integer"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"k\") >= 1"), "<= and >= are not supported"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"k\") ~ 1"), "expected one of = == != < >"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version \"k\" = 1"), "expected ( after version"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"k\" = 1"), "expected ) after the key"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("version(\"\") = 1"), "the compared key is empty"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("value(\"k\") ="), "missing the value"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("value(\"k\") = a b"), "unexpected \"b\""));
  EXPECT_TRUE(absl::StrContains(ErrorOf("value(\"k) = 1"), "unterminated quoted string"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("value(\"k\") = \"\\q\""), "unknown escape \\q"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("value(\"k\") = \"\\x4\""), "two hex digits"));
}

TEST(TxnParserTest, OpErrors) {
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nget a --frob"), "unknown flag --frob for get"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\ndel a --limit 3"), "unknown flag --limit for del"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nget a --limit x"), "--limit needs"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nget a b --prefix"), "exclude each other"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nget b a"), "must sort after the key"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nput \"\" v"), "put: the key is empty"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\ndel \"\""), "del: the key is empty"));
  EXPECT_TRUE(absl::StrContains(ErrorOf("\nput a \"b"), "line 2 (success ops): unterminated"));
}

}  // namespace
}  // namespace raftkv::kvctl
