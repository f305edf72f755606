#include "src/storage/raft_log_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "proto/raft.pb.h"
#include "src/common/status_macros.h"
#include "src/raft/codec.h"
#include "src/storage/keys.h"
#include "src/storage/rocks_status.h"

namespace raftkv::storage {

namespace {

using raft::Index;
using raft::Term;

std::string EncodeEntry(const raft::Entry& e) {
  raftpb::Entry pb;
  raft::ToProto(e, &pb);
  return pb.SerializeAsString();
}

absl::StatusOr<raft::Entry> DecodeEntry(const rocksdb::Slice& value, Index want_index) {
  raftpb::Entry pb;
  if (!pb.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("raft log entry ", want_index, " does not parse"));
  }
  ASSIGN_OR_RETURN(raft::Entry e, raft::FromProto(pb));
  if (e.index != want_index) {
    return absl::DataLossError(
        absl::StrCat("raft log key ", want_index, " holds the entry of index ", e.index));
  }
  return e;
}

// Reads only the term (field 1) of a serialized raftpb::Entry.
std::optional<Term> DecodeTerm(const rocksdb::Slice& value) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(value.data()),
                                            static_cast<int>(value.size()));
  Term term = 0;
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
      if (!in.ReadVarint64(&term)) return std::nullopt;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
  if (!in.ConsumedEntireMessage()) return std::nullopt;
  return term;
}

std::string EncodeIndexTerm(Index index, Term term) {
  std::string out = EncodeUint64(index);
  AppendUint64(&out, term);
  return out;
}

std::string Serialize(const raft::HardState& hs) {
  raftpb::HardState pb;
  raft::ToProto(hs, &pb);
  return pb.SerializeAsString();
}

std::string Serialize(const raft::ConfState& cs) {
  raftpb::ConfState pb;
  raft::ToProto(cs, &pb);
  return pb.SerializeAsString();
}

std::string Serialize(const raft::SnapshotMetadata& m) {
  raft::Snapshot snap;
  snap.metadata = m;
  raftpb::Snapshot pb;
  raft::ToProto(snap, &pb);
  return pb.metadata().SerializeAsString();
}

// The whole raft_log key space.
const std::string& LogKeyMin() {
  static const std::string* k = new std::string(LogKey(0));
  return *k;
}
const std::string& LogKeyMax() {
  static const std::string* k = new std::string(LogKey(std::numeric_limits<Index>::max()));
  return *k;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RaftLogStore>> RaftLogStore::Open(Db* db,
                                                                 uint64_t tail_cache_bytes) {
  auto store = std::unique_ptr<RaftLogStore>(new RaftLogStore(db, tail_cache_bytes));
  RETURN_IF_ERROR(store->Recover());
  return store;
}

absl::Status RaftLogStore::Recover() {
  constexpr absl::string_view kCtx = "recovering the raft log";
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(auto hs, db_->Get(db_->raft_meta(), kMetaHardState, kCtx));
  if (hs) {
    raftpb::HardState pb;
    if (!pb.ParseFromString(*hs))
      return absl::DataLossError("the stored hard state does not parse");
    hard_state_ = raft::FromProto(pb);
  }
  ASSIGN_OR_RETURN(auto snap, db_->Get(db_->raft_meta(), kMetaSnapshot, kCtx));
  if (snap) {
    raftpb::Snapshot pb;
    if (!pb.mutable_metadata()->ParseFromString(*snap)) {
      return absl::DataLossError("the stored snapshot metadata does not parse");
    }
    snapshot_ = raft::FromProto(pb).metadata;
  }
  ASSIGN_OR_RETURN(auto start, db_->Get(db_->raft_meta(), kMetaLogStart, kCtx));
  if (start) {
    std::optional<uint64_t> index = DecodeUint64(*start, 0);
    std::optional<uint64_t> term = DecodeUint64(*start, 8);
    if (!index || !term) return absl::DataLossError("the stored log start is damaged");
    log_start_index_ = *index;
    log_start_term_ = *term;
  }
  last_index_ = log_start_index_;
  runs_.assign(1, TermRun{log_start_index_, log_start_term_});

  // Scan the log once for its last index and its term runs; check it is
  // contiguous and its terms never decrease.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->rocks()->NewIterator(rocksdb::ReadOptions(), db_->raft_log()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<uint64_t> index =
        DecodeUint64(absl::string_view(it->key().data(), it->key().size()));
    if (!index || it->key().size() != 8) {
      return absl::DataLossError("the raft log holds a malformed key");
    }
    if (*index != last_index_ + 1) {
      return absl::DataLossError(absl::StrCat("the raft log has entry ", *index, " after entry ",
                                              last_index_, " (expected ", last_index_ + 1,
                                              "); restore this node from a healthy replica"));
    }
    std::optional<Term> term = DecodeTerm(it->value());
    if (!term)
      return absl::DataLossError(absl::StrCat("raft log entry ", *index, " does not parse"));
    if (*term < runs_.back().term) {
      return absl::DataLossError(absl::StrCat("raft log entry ", *index, " has term ", *term,
                                              ", below the term ", runs_.back().term,
                                              " of an earlier entry"));
    }
    last_index_ = *index;
    AppendRun(*index, *term);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), kCtx));
  if (hard_state_.commit > last_index_) {
    return absl::DataLossError(absl::StrCat("the hard state's commit index ", hard_state_.commit,
                                            " is past the last log entry ", last_index_,
                                            "; the log lost committed entries"));
  }
  return absl::OkStatus();
}

absl::StatusOr<raft::ConfState> RaftLogStore::ReadConfState() const {
  ASSIGN_OR_RETURN(auto cs, db_->Get(db_->raft_meta(), kMetaConfState, "reading the conf state"));
  if (!cs) return raft::ConfState();
  raftpb::ConfState pb;
  if (!pb.ParseFromString(*cs)) return absl::DataLossError("the stored conf state does not parse");
  return raft::FromProto(pb);
}

absl::StatusOr<raft::InitialState> RaftLogStore::GetInitialState() const {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(raft::ConfState cs, ReadConfState());
  return raft::InitialState{hard_state_, std::move(cs)};
}

absl::StatusOr<std::vector<raft::Entry>> RaftLogStore::Entries(Index lo, Index hi,
                                                               uint64_t max_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (lo <= log_start_index_) return raft::CompactedError();
  RAFTKV_CHECK_MSG(hi <= last_index_ + 1,
                   absl::StrCat("entries [", lo, ",", hi, ") past last ", last_index_));
  std::vector<raft::Entry> out;
  if (lo >= hi) return out;
  if (!tail_.empty() && lo >= tail_.front().index) {
    // hi <= LastIndex()+1, and the tail ends at LastIndex().
    uint64_t bytes = 0;
    for (auto it = tail_.begin() + (lo - tail_.front().index); it != tail_.end() && it->index < hi;
         ++it) {
      bytes += it->ByteSize();
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(*it);
    }
    return out;
  }
  std::string upper = LogKey(hi);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->rocks()->NewIterator(ro, db_->raft_log()));
  uint64_t bytes = 0;
  Index want = lo;
  for (it->Seek(LogKey(lo)); it->Valid(); it->Next(), ++want) {
    ASSIGN_OR_RETURN(raft::Entry e, DecodeEntry(it->value(), want));
    if (absl::string_view(it->key().data(), it->key().size()) != LogKey(want)) {
      return absl::DataLossError(absl::StrCat("raft log entry ", want, " is missing"));
    }
    bytes += e.ByteSize();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(e));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading raft log entries"));
  if (out.empty() || (want < hi && bytes <= max_bytes)) {
    return absl::DataLossError(
        absl::StrCat("raft log entries [", want, ",", hi, ") are missing from disk"));
  }
  return out;
}

raft::Term RaftLogStore::TermAtLocked(Index i) const {
  auto it = std::upper_bound(runs_.begin(), runs_.end(), i,
                             [](Index x, const TermRun& r) { return x < r.first; });
  RAFTKV_CHECK(it != runs_.begin());
  return std::prev(it)->term;
}

absl::StatusOr<raft::Term> RaftLogStore::TermAt(Index i) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (i < log_start_index_) return raft::CompactedError();
  RAFTKV_CHECK_MSG(i <= last_index_, absl::StrCat("term of ", i, " past last ", last_index_));
  return TermAtLocked(i);
}

absl::StatusOr<raft::Index> RaftLogStore::FirstIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_start_index_ + 1;
}

absl::StatusOr<raft::Index> RaftLogStore::LastIndex() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_index_;
}

absl::StatusOr<raft::Snapshot> RaftLogStore::GetSnapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  raft::Snapshot snap;
  snap.metadata = snapshot_;
  return snap;
}

raft::HardState RaftLogStore::hard_state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hard_state_;
}

bool RaftLogStore::IsEmpty() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!hard_state_.IsEmpty() || last_index_ != 0 || snapshot_.index != 0) return false;
  absl::StatusOr<raft::ConfState> cs = ReadConfState();
  return cs.ok() && cs->voters.empty() && cs->learners.empty();
}

absl::Status RaftLogStore::Bootstrap(const raft::ConfState& cs) {
  if (!IsEmpty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot bootstrap: the raft log in ", db_->dir(),
                     " already has state; a node bootstraps only from an empty directory"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  raft::SnapshotMetadata meta;
  meta.conf_state = cs;
  rocksdb::WriteBatch batch;
  batch.Put(db_->raft_meta(), std::string(kMetaConfState), Serialize(cs));
  batch.Put(db_->raft_meta(), std::string(kMetaSnapshot), Serialize(meta));
  RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/true, "bootstrapping the raft log"));
  snapshot_ = meta;
  return absl::OkStatus();
}

void RaftLogStore::CacheAppended(const std::vector<raft::Entry>& entries, size_t skip) {
  if (tail_cache_bytes_ == 0) return;
  const Index start = entries[skip].index;
  // Forget what the append overwrote; by the tail invariant (and Save's
  // start <= LastIndex()+1) the rest of the tail ends at start-1.
  while (!tail_.empty() && tail_.back().index >= start) {
    tail_bytes_ -= tail_.back().ByteSize();
    tail_.pop_back();
  }
  RAFTKV_CHECK_MSG(tail_.empty() || tail_.back().index + 1 == start,
                   absl::StrCat("log tail cache ends at ", tail_.back().index,
                                " but the append starts at ", start));
  for (size_t i = skip; i < entries.size(); ++i) {
    tail_.push_back(entries[i]);
    tail_bytes_ += entries[i].ByteSize();
  }
  while (!tail_.empty() && tail_bytes_ > tail_cache_bytes_) {
    tail_bytes_ -= tail_.front().ByteSize();
    tail_.pop_front();
  }
}

void RaftLogStore::DropCachedBelowOrAt(Index index) {
  while (!tail_.empty() && tail_.front().index <= index) {
    tail_bytes_ -= tail_.front().ByteSize();
    tail_.pop_front();
  }
}

void RaftLogStore::TruncateRunsFrom(Index from) {
  while (runs_.size() > 1 && runs_.back().first >= from) runs_.pop_back();
}

void RaftLogStore::AppendRun(Index index, Term term) {
  RAFTKV_CHECK_MSG(term >= runs_.back().term,
                   absl::StrCat("entry ", index, " has term ", term, " below ", runs_.back().term));
  if (term != runs_.back().term) runs_.push_back(TermRun{index, term});
}

absl::Status RaftLogStore::Save(const raft::HardState& hs, const std::vector<raft::Entry>& entries,
                                bool sync) {
  std::lock_guard<std::mutex> lock(mu_);
  rocksdb::WriteBatch batch;
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= log_start_index_) ++skip;
  const bool append = skip < entries.size();
  Index start = 0;
  Index new_last = last_index_;
  if (append) {
    start = entries[skip].index;
    if (start > last_index_ + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("append at ", start, " leaves a gap after ", last_index_));
    }
    for (size_t i = skip; i < entries.size(); ++i) {
      RAFTKV_CHECK_MSG(entries[i].index == start + (i - skip),
                       absl::StrCat("entries to save are not contiguous at ", entries[i].index));
      batch.Put(db_->raft_log(), LogKey(entries[i].index), EncodeEntry(entries[i]));
    }
    new_last = entries.back().index;
    if (new_last < last_index_) {
      batch.DeleteRange(db_->raft_log(), LogKey(new_last + 1), LogKey(last_index_ + 1));
    }
  }
  if (!hs.IsEmpty()) batch.Put(db_->raft_meta(), std::string(kMetaHardState), Serialize(hs));
  if (batch.Count() == 0) return absl::OkStatus();
  RETURN_IF_ERROR(db_->Write(
      &batch, sync,
      append ? absl::StrCat("saving raft log entries [", start, ", ", new_last, "] and hard state")
             : std::string("saving the hard state")));
  if (append) {
    TruncateRunsFrom(start);
    for (size_t i = skip; i < entries.size(); ++i) AppendRun(entries[i].index, entries[i].term);
    last_index_ = new_last;
    CacheAppended(entries, skip);
  }
  if (!hs.IsEmpty()) hard_state_ = hs;
  return absl::OkStatus();
}

// Not under mu_: the node loop goes on saving while the WAL syncs.
absl::Status RaftLogStore::Sync() { return db_->SyncWal(); }

absl::StatusOr<raft::Snapshot> RaftLogStore::CreateSnapshot(Index i, const raft::ConfState* cs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (i <= snapshot_.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot at ", i, " is not newer than ", snapshot_.index));
  }
  if (i < log_start_index_) return raft::CompactedError();
  RAFTKV_CHECK_MSG(i <= last_index_, absl::StrCat("snapshot ", i, " past last ", last_index_));
  raft::SnapshotMetadata meta;
  meta.index = i;
  meta.term = TermAtLocked(i);
  if (cs != nullptr) {
    meta.conf_state = *cs;
  } else {
    ASSIGN_OR_RETURN(meta.conf_state, ReadConfState());
  }
  rocksdb::WriteBatch batch;
  batch.Put(db_->raft_meta(), std::string(kMetaSnapshot), Serialize(meta));
  RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/true, absl::StrCat("recording snapshot at ", i)));
  snapshot_ = meta;
  raft::Snapshot snap;
  snap.metadata = std::move(meta);
  return snap;
}

absl::Status RaftLogStore::ApplySnapshot(const raft::Snapshot& snap) {
  std::lock_guard<std::mutex> lock(mu_);
  const raft::SnapshotMetadata& meta = snap.metadata;
  if (meta.index < snapshot_.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot at ", meta.index, " is older than ", snapshot_.index));
  }
  rocksdb::WriteBatch batch;
  batch.DeleteRange(db_->raft_log(), LogKeyMin(), LogKeyMax());
  batch.Put(db_->raft_meta(), std::string(kMetaSnapshot), Serialize(meta));
  batch.Put(db_->raft_meta(), std::string(kMetaConfState), Serialize(meta.conf_state));
  batch.Put(db_->raft_meta(), std::string(kMetaLogStart), EncodeIndexTerm(meta.index, meta.term));
  RETURN_IF_ERROR(
      db_->Write(&batch, /*sync=*/true, absl::StrCat("installing snapshot at ", meta.index)));
  snapshot_ = meta;
  log_start_index_ = meta.index;
  log_start_term_ = meta.term;
  last_index_ = meta.index;
  runs_.assign(1, TermRun{meta.index, meta.term});
  tail_.clear();
  tail_bytes_ = 0;
  return absl::OkStatus();
}

absl::Status RaftLogStore::Compact(Index compact_index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (compact_index <= log_start_index_) return raft::CompactedError();
  RAFTKV_CHECK_MSG(compact_index <= last_index_,
                   absl::StrCat("compact ", compact_index, " past last ", last_index_));
  Term term = TermAtLocked(compact_index);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(db_->raft_log(), LogKey(log_start_index_ + 1), LogKey(compact_index + 1));
  batch.Put(db_->raft_meta(), std::string(kMetaLogStart), EncodeIndexTerm(compact_index, term));
  // Not synced: a crash before the next sync only brings back entries that
  // were safe to keep.
  RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/false,
                             absl::StrCat("compacting the raft log up to ", compact_index)));
  log_start_index_ = compact_index;
  log_start_term_ = term;
  // Drop runs wholly before compact_index; the run holding it now starts there.
  auto it = std::upper_bound(runs_.begin(), runs_.end(), compact_index,
                             [](Index x, const TermRun& r) { return x < r.first; });
  std::vector<TermRun> kept;
  kept.push_back(TermRun{compact_index, term});
  kept.insert(kept.end(), it, runs_.end());
  runs_ = std::move(kept);
  DropCachedBelowOrAt(compact_index);
  return absl::OkStatus();
}

}  // namespace raftkv::storage
