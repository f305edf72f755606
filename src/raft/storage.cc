#include "src/raft/storage.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace raftkv::raft {

namespace {
constexpr char kCompactedMsg[] = "requested index is unavailable due to compaction";
constexpr char kSnapUnavailableMsg[] = "snapshot is temporarily unavailable";
}  // namespace

absl::Status CompactedError() { return absl::OutOfRangeError(kCompactedMsg); }
bool IsCompacted(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == kCompactedMsg;
}
absl::Status SnapshotTemporarilyUnavailableError() {
  return absl::UnavailableError(kSnapUnavailableMsg);
}
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable && s.message() == kSnapUnavailableMsg;
}

MemoryStorage::MemoryStorage() : ents_(1) {}

std::unique_ptr<MemoryStorage> MemoryStorage::Clone() const {
  auto copy = std::make_unique<MemoryStorage>();
  std::lock_guard<std::mutex> lock(mu_);
  copy->hard_state_ = hard_state_;
  copy->snapshot_ = snapshot_;
  copy->ents_ = ents_;
  return copy;
}

void MemoryStorage::Bootstrap(const ConfState& cs) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_.metadata.conf_state = cs;
}

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  std::lock_guard<std::mutex> lock(mu_);
  return InitialState{hard_state_, snapshot_.metadata.conf_state};
}

absl::StatusOr<std::vector<Entry>> MemoryStorage::Entries(Index lo, Index hi,
                                                          uint64_t max_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  Index offset = ents_[0].index;
  if (lo <= offset) return CompactedError();
  RAFTKV_CHECK_MSG(hi <= LastIndexLocked() + 1,
                   absl::StrCat("entries [", lo, ",", hi, ") past last ", LastIndexLocked()));
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = ents_[i - offset];
    bytes += e.ByteSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> MemoryStorage::TermAt(Index i) const {
  std::lock_guard<std::mutex> lock(mu_);
  Index offset = ents_[0].index;
  if (i < offset) return CompactedError();
  RAFTKV_CHECK_MSG(i - offset < ents_.size(),
                   absl::StrCat("term of ", i, " past last ", LastIndexLocked()));
  return ents_[i - offset].term;
}

absl::StatusOr<Index> MemoryStorage::FirstIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return FirstIndexLocked();
}

absl::StatusOr<Index> MemoryStorage::LastIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return LastIndexLocked();
}

absl::StatusOr<Snapshot> MemoryStorage::GetSnapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void MemoryStorage::SetHardState(const HardState& hs) {
  std::lock_guard<std::mutex> lock(mu_);
  hard_state_ = hs;
}

absl::Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  Index first = FirstIndexLocked();
  Index last = entries.back().index;
  if (last < first) return absl::OkStatus();  // all already compacted
  size_t skip = first > entries[0].index ? first - entries[0].index : 0;
  Index start = entries[skip].index;
  Index offset = ents_[0].index;
  if (start - offset > ents_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("append at ", start, " leaves a gap after ", LastIndexLocked()));
  }
  ents_.resize(start - offset);
  ents_.insert(ents_.end(), entries.begin() + skip, entries.end());
  return absl::OkStatus();
}

absl::Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  std::lock_guard<std::mutex> lock(mu_);
  if (snap.metadata.index < snapshot_.metadata.index) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at ", snap.metadata.index,
                                                      " is older than ", snapshot_.metadata.index));
  }
  snapshot_ = snap;
  ents_.assign(1, Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, {}});
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryStorage::CreateSnapshot(Index i, const ConfState* cs, Payload data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (i <= snapshot_.metadata.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot at ", i, " is not newer than ", snapshot_.metadata.index));
  }
  Index offset = ents_[0].index;
  RAFTKV_CHECK_MSG(i <= LastIndexLocked(),
                   absl::StrCat("snapshot ", i, " past last ", LastIndexLocked()));
  snapshot_.metadata.index = i;
  snapshot_.metadata.term = ents_[i - offset].term;
  if (cs != nullptr) snapshot_.metadata.conf_state = *cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

absl::Status MemoryStorage::Compact(Index compact_index) {
  std::lock_guard<std::mutex> lock(mu_);
  Index offset = ents_[0].index;
  if (compact_index <= offset) return CompactedError();
  RAFTKV_CHECK_MSG(compact_index <= LastIndexLocked(),
                   absl::StrCat("compact ", compact_index, " past last ", LastIndexLocked()));
  size_t i = compact_index - offset;
  std::vector<Entry> kept;
  kept.reserve(ents_.size() - i);
  kept.push_back(Entry{ents_[i].term, ents_[i].index, EntryType::kNormal, {}});
  kept.insert(kept.end(), ents_.begin() + i + 1, ents_.end());
  ents_ = std::move(kept);
  return absl::OkStatus();
}

}  // namespace raftkv::raft
