#include "src/storage/rocks_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace raftkv::storage {

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(context, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(
          absl::StrCat(msg,
                       " (the database is corrupt; restore this node from a healthy "
                       "replica or a backup)"));
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) {
        return absl::ResourceExhaustedError(absl::StrCat(msg, " (the disk is full)"));
      }
      return absl::InternalError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace raftkv::storage
