// Tests of request validation: structure and the configured limits.
#include "src/storage/validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raftkv::storage {
namespace {

using ::testing::HasSubstr;

v1::PutRequest Put(const std::string& key, const std::string& value = "v") {
  v1::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  return req;
}

TEST(ValidationTest, DefaultLimits) {
  Limits limits;
  EXPECT_EQ(limits.max_key_bytes, 4096u);
  EXPECT_EQ(limits.max_request_bytes, 1572864u);  // 1.5 MiB
  EXPECT_EQ(limits.max_txn_ops, 128u);
}

TEST(ValidationTest, EmptyKeyIsInvalid) {
  absl::Status s = ValidatePut(Put(""), Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("key is empty"));
  v1::RangeRequest range;
  EXPECT_EQ(ValidateRange(range, Limits()).code(), absl::StatusCode::kInvalidArgument);
  v1::DeleteRangeRequest del;
  EXPECT_EQ(ValidateDeleteRange(del, Limits()).code(), absl::StatusCode::kInvalidArgument);
  // An empty key with prefix selects every key.
  range.set_prefix(true);
  EXPECT_TRUE(ValidateRange(range, Limits()).ok());
  del.set_prefix(true);
  EXPECT_TRUE(ValidateDeleteRange(del, Limits()).ok());
}

TEST(ValidationTest, KeyLimitNamesTheLimit) {
  EXPECT_TRUE(ValidatePut(Put(std::string(4096, 'k')), Limits()).ok());
  absl::Status s = ValidatePut(Put(std::string(4097, 'k')), Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("4097 bytes"));
  EXPECT_THAT(s.message(), HasSubstr("limit of 4096 bytes (max_key_bytes)"));

  v1::RangeRequest range;
  range.set_key("a");
  range.set_range_end(std::string(5000, 'z'));
  EXPECT_THAT(ValidateRange(range, Limits()).message(), HasSubstr("range_end"));

  Limits small;
  small.max_key_bytes = 3;
  EXPECT_EQ(ValidatePut(Put("abcd"), small).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, RequestLimitNamesTheLimit) {
  EXPECT_TRUE(ValidatePut(Put("k", std::string(1 << 20, 'v')), Limits()).ok());
  absl::Status s = ValidatePut(Put("k", std::string(1572864, 'v')), Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("limit of 1572864 bytes (max_request_bytes)"));

  v1::Command cmd;
  *cmd.mutable_put() = Put("k", std::string(1572864, 'v'));
  EXPECT_EQ(ValidateCommand(cmd, Limits()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateCommand(cmd, Limits::Structural()).ok());
}

TEST(ValidationTest, TxnOpLimit) {
  v1::TxnRequest txn;
  for (int i = 0; i < 128; ++i) {
    *txn.add_success()->mutable_request_put() = Put("k" + std::to_string(i));
  }
  EXPECT_TRUE(ValidateTxn(txn, Limits()).ok());
  *txn.add_success()->mutable_request_put() = Put("one too many");
  absl::Status s = ValidateTxn(txn, Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("129 success ops, over the limit of 128 (max_txn_ops)"));

  v1::TxnRequest failures;
  for (int i = 0; i < 129; ++i)
    failures.add_failure()->mutable_request_delete_range()->set_key("k");
  EXPECT_THAT(ValidateTxn(failures, Limits()).message(), HasSubstr("failure"));

  v1::TxnRequest compares;
  for (int i = 0; i < 129; ++i) compares.add_compare()->set_key("k");
  EXPECT_THAT(ValidateTxn(compares, Limits()).message(), HasSubstr("compares"));
}

TEST(ValidationTest, TxnStructure) {
  v1::TxnRequest txn;
  txn.add_success();  // no request set
  EXPECT_EQ(ValidateTxn(txn, Limits()).code(), absl::StatusCode::kInvalidArgument);

  v1::TxnRequest mismatch;
  v1::Compare* c = mismatch.add_compare();
  c->set_key("k");
  c->set_target(v1::Compare::VALUE);
  c->set_version(3);
  absl::Status s = ValidateTxn(mismatch, Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("VALUE"));

  v1::TxnRequest empty_compare_key;
  empty_compare_key.add_compare()->set_target(v1::Compare::VERSION);
  EXPECT_EQ(ValidateTxn(empty_compare_key, Limits()).code(), absl::StatusCode::kInvalidArgument);

  v1::TxnRequest bad_op_key;
  bad_op_key.add_failure()->mutable_request_range()->set_key("");
  EXPECT_EQ(ValidateTxn(bad_op_key, Limits()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, RangeShape) {
  v1::RangeRequest both;
  both.set_key("a");
  both.set_prefix(true);
  both.set_range_end("b");
  EXPECT_THAT(ValidateRange(both, Limits()).message(), HasSubstr("not both"));
  v1::RangeRequest past;
  past.set_key("a");
  past.set_revision(7);
  EXPECT_EQ(ValidateRange(past, Limits()).code(), absl::StatusCode::kUnimplemented);
}

TEST(ValidationTest, CommandNeedsAnOp) {
  v1::Command cmd;
  EXPECT_EQ(ValidateCommand(cmd, Limits()).code(), absl::StatusCode::kInvalidArgument);
  cmd.mutable_noop();
  EXPECT_TRUE(ValidateCommand(cmd, Limits()).ok());
  cmd.mutable_delete_range()->set_key("");
  EXPECT_EQ(ValidateCommand(cmd, Limits()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace raftkv::storage
