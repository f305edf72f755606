#include "src/storage/validation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/common/status_macros.h"

namespace raftkv::storage {

namespace {

absl::Status CheckRequestSize(const google::protobuf::Message& req, absl::string_view what,
                              const Limits& limits) {
  uint64_t size = req.ByteSizeLong();
  if (size > limits.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", size, " bytes, over the limit of ",
                                                   limits.max_request_bytes,
                                                   " bytes (max_request_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status CheckKey(absl::string_view key, absl::string_view field, const Limits& limits) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  if (key.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", key.size(),
                                                   " bytes, over the limit of ",
                                                   limits.max_key_bytes, " bytes (max_key_bytes)"));
  }
  return absl::OkStatus();
}

// key / range_end / prefix as in RangeRequest.
absl::Status CheckKeyRange(absl::string_view key, absl::string_view range_end, bool prefix,
                           const Limits& limits) {
  if (prefix) {
    if (!range_end.empty()) {
      return absl::InvalidArgumentError("give either prefix or range_end, not both");
    }
    // An empty key with prefix means every key.
    if (!key.empty()) RETURN_IF_ERROR(CheckKey(key, "key", limits));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckKey(key, "key", limits));
  if (range_end.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("range_end is ", range_end.size(),
                                                   " bytes, over the limit of ",
                                                   limits.max_key_bytes, " bytes (max_key_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePutOp(const v1::PutRequest& req, const Limits& limits) {
  return CheckKey(req.key(), "key", limits);
}

absl::Status ValidateRangeOp(const v1::RangeRequest& req, const Limits& limits) {
  if (req.revision() != 0) {
    return absl::UnimplementedError(
        "reads at a past revision are not supported yet; leave revision 0 to read the latest");
  }
  return CheckKeyRange(req.key(), req.range_end(), req.prefix(), limits);
}

absl::Status ValidateDeleteRangeOp(const v1::DeleteRangeRequest& req, const Limits& limits) {
  return CheckKeyRange(req.key(), req.range_end(), req.prefix(), limits);
}

absl::Status ValidateCompare(const v1::Compare& c, const Limits& limits) {
  RETURN_IF_ERROR(CheckKey(c.key(), "compare key", limits));
  if (!v1::Compare::CompareResult_IsValid(c.result()) ||
      !v1::Compare::CompareTarget_IsValid(c.target())) {
    return absl::InvalidArgumentError("compare has an unknown result or target");
  }
  using TU = v1::Compare::TargetUnionCase;
  TU want = TU::TARGET_UNION_NOT_SET;
  switch (c.target()) {
    case v1::Compare::VERSION:
      want = TU::kVersion;
      break;
    case v1::Compare::CREATE:
      want = TU::kCreateRevision;
      break;
    case v1::Compare::MOD:
      want = TU::kModRevision;
      break;
    case v1::Compare::VALUE:
      want = TU::kValue;
      break;
    default:
      break;
  }
  // Unset means the zero value of the target.
  if (c.target_union_case() != TU::TARGET_UNION_NOT_SET && c.target_union_case() != want) {
    return absl::InvalidArgumentError(absl::StrCat("compare on key '", c.key(),
                                                   "' sets a value that does not match its target ",
                                                   v1::Compare::CompareTarget_Name(c.target())));
  }
  return absl::OkStatus();
}

absl::Status ValidateOps(const google::protobuf::RepeatedPtrField<v1::RequestOp>& ops,
                         absl::string_view branch, const Limits& limits) {
  if (static_cast<uint64_t>(ops.size()) > limits.max_txn_ops) {
    return absl::InvalidArgumentError(absl::StrCat("txn has ", ops.size(), " ", branch,
                                                   " ops, over the limit of ", limits.max_txn_ops,
                                                   " (max_txn_ops)"));
  }
  for (const v1::RequestOp& op : ops) {
    switch (op.request_case()) {
      case v1::RequestOp::kRequestRange:
        RETURN_IF_ERROR(ValidateRangeOp(op.request_range(), limits));
        break;
      case v1::RequestOp::kRequestPut:
        RETURN_IF_ERROR(ValidatePutOp(op.request_put(), limits));
        break;
      case v1::RequestOp::kRequestDeleteRange:
        RETURN_IF_ERROR(ValidateDeleteRangeOp(op.request_delete_range(), limits));
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("a txn ", branch, " op has no request set"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTxnOp(const v1::TxnRequest& req, const Limits& limits) {
  if (static_cast<uint64_t>(req.compare_size()) > limits.max_txn_ops) {
    return absl::InvalidArgumentError(absl::StrCat("txn has ", req.compare_size(),
                                                   " compares, over the limit of ",
                                                   limits.max_txn_ops, " (max_txn_ops)"));
  }
  for (const v1::Compare& c : req.compare()) RETURN_IF_ERROR(ValidateCompare(c, limits));
  RETURN_IF_ERROR(ValidateOps(req.success(), "success", limits));
  return ValidateOps(req.failure(), "failure", limits);
}

}  // namespace

absl::Status ValidatePut(const v1::PutRequest& req, const Limits& limits) {
  RETURN_IF_ERROR(CheckRequestSize(req, "put request", limits));
  return ValidatePutOp(req, limits);
}

absl::Status ValidateRange(const v1::RangeRequest& req, const Limits& limits) {
  RETURN_IF_ERROR(CheckRequestSize(req, "range request", limits));
  return ValidateRangeOp(req, limits);
}

absl::Status ValidateDeleteRange(const v1::DeleteRangeRequest& req, const Limits& limits) {
  RETURN_IF_ERROR(CheckRequestSize(req, "delete_range request", limits));
  return ValidateDeleteRangeOp(req, limits);
}

absl::Status ValidateTxn(const v1::TxnRequest& req, const Limits& limits) {
  RETURN_IF_ERROR(CheckRequestSize(req, "txn request", limits));
  return ValidateTxnOp(req, limits);
}

absl::Status ValidateCommand(const v1::Command& cmd, const Limits& limits) {
  RETURN_IF_ERROR(CheckRequestSize(cmd, "command", limits));
  switch (cmd.op_case()) {
    case v1::Command::kPut:
      return ValidatePutOp(cmd.put(), limits);
    case v1::Command::kDeleteRange:
      return ValidateDeleteRangeOp(cmd.delete_range(), limits);
    case v1::Command::kTxn:
      return ValidateTxnOp(cmd.txn(), limits);
    case v1::Command::kNoop:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("command has no op set");
  }
}

}  // namespace raftkv::storage
