#include "src/storage/kv_state_machine.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/raft.pb.h"
#include "rocksdb/comparator.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "src/common/status_macros.h"
#include "src/raft/codec.h"
#include "src/storage/keys.h"
#include "src/storage/rocks_status.h"
#include "src/storage/validation.h"

namespace raftkv::storage {

namespace {

// A consistent read view of the kv column family.
class KvView {
 public:
  virtual ~KvView() = default;
  virtual absl::StatusOr<std::optional<std::string>> GetRaw(const std::string& key) = 0;
  // An iterator over the kv column family; upper must outlive it.
  virtual std::unique_ptr<rocksdb::Iterator> NewIterator(const rocksdb::Slice* upper) = 0;
};

// The committed state as of one RocksDB snapshot.
class SnapshotView final : public KvView {
 public:
  explicit SnapshotView(Db* db) : db_(db), snapshot_(db->rocks()->GetSnapshot()) {
    ro_.snapshot = snapshot_;
  }
  ~SnapshotView() override { db_->rocks()->ReleaseSnapshot(snapshot_); }

  absl::StatusOr<std::optional<std::string>> GetRaw(const std::string& key) override {
    std::string value;
    rocksdb::Status s = db_->rocks()->Get(ro_, db_->kv(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    RETURN_IF_ERROR(FromRocks(s, "reading the key-value state"));
    return std::optional<std::string>(std::move(value));
  }
  std::unique_ptr<rocksdb::Iterator> NewIterator(const rocksdb::Slice* upper) override {
    rocksdb::ReadOptions ro = ro_;
    ro.iterate_upper_bound = upper;
    return std::unique_ptr<rocksdb::Iterator>(db_->rocks()->NewIterator(ro, db_->kv()));
  }

 private:
  Db* db_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions ro_;
};

// The committed state overlaid with a command's pending writes.
class BatchView final : public KvView {
 public:
  BatchView(Db* db, rocksdb::WriteBatchWithIndex* batch) : db_(db), batch_(batch) {}

  absl::StatusOr<std::optional<std::string>> GetRaw(const std::string& key) override {
    std::string value;
    rocksdb::Status s =
        batch_->GetFromBatchAndDB(db_->rocks(), rocksdb::ReadOptions(), db_->kv(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    RETURN_IF_ERROR(FromRocks(s, "reading the key-value state"));
    return std::optional<std::string>(std::move(value));
  }
  std::unique_ptr<rocksdb::Iterator> NewIterator(const rocksdb::Slice* upper) override {
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = upper;
    return std::unique_ptr<rocksdb::Iterator>(
        batch_->NewIteratorWithBase(db_->kv(), db_->rocks()->NewIterator(ro, db_->kv())));
  }

 private:
  Db* db_;
  rocksdb::WriteBatchWithIndex* batch_;
};

absl::StatusOr<v1::KeyValue> DecodeKv(absl::string_view user_key, const std::string& raw) {
  v1::KeyValue kv;
  if (!kv.ParseFromString(raw)) {
    return absl::DataLossError(
        absl::StrCat("the stored value of key '", user_key, "' does not parse"));
  }
  kv.set_key(std::string(user_key));
  return kv;
}

std::string EncodeKv(const v1::KeyValue& kv) {
  v1::KeyValue stored = kv;
  stored.clear_key();  // the RocksDB key already holds it
  return stored.SerializeAsString();
}

absl::StatusOr<std::optional<v1::KeyValue>> GetKv(KvView* view, absl::string_view user_key) {
  ASSIGN_OR_RETURN(auto raw, view->GetRaw(DataKey(user_key)));
  if (!raw) return std::optional<v1::KeyValue>();
  ASSIGN_OR_RETURN(v1::KeyValue kv, DecodeKv(user_key, *raw));
  return std::optional<v1::KeyValue>(std::move(kv));
}

// The keys selected by (key, range_end, prefix), as data keys.
struct KeyRange {
  bool single = false;  // just `begin`
  std::string begin;
  std::string end;  // exclusive
};

KeyRange ResolveRange(const std::string& key, const std::string& range_end, bool prefix) {
  KeyRange r;
  r.begin = DataKey(key);
  if (prefix) {
    std::string end = PrefixEnd(key);
    r.end = end.empty() ? DataKeyEnd() : DataKey(end);
  } else if (range_end.empty()) {
    r.single = true;
  } else if (range_end == std::string(1, '\0')) {
    r.end = DataKeyEnd();
  } else {
    r.end = DataKey(range_end);
  }
  return r;
}

// Calls fn for every key in r, ascending; fn returns false to stop.
absl::Status Scan(KvView* view, const KeyRange& r, const std::function<bool(v1::KeyValue&&)>& fn) {
  if (r.single) {
    ASSIGN_OR_RETURN(auto kv, GetKv(view, absl::string_view(r.begin).substr(1)));
    if (kv) fn(std::move(*kv));
    return absl::OkStatus();
  }
  if (r.end <= r.begin) return absl::OkStatus();
  rocksdb::Slice upper(r.end);
  std::unique_ptr<rocksdb::Iterator> it = view->NewIterator(&upper);
  for (it->Seek(r.begin); it->Valid(); it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    if (key >= absl::string_view(r.end)) break;  // the batch overlay ignores the bound
    ASSIGN_OR_RETURN(v1::KeyValue kv, DecodeKv(UserKey(key), it->value().ToString()));
    if (!fn(std::move(kv))) break;
  }
  return FromRocks(it->status(), "scanning the key-value state");
}

absl::Status DoRange(KvView* view, const v1::RangeRequest& req, v1::RangeResponse* resp) {
  KeyRange r = ResolveRange(req.key(), req.range_end(), req.prefix());
  uint64_t count = 0;
  RETURN_IF_ERROR(Scan(view, r, [&](v1::KeyValue&& kv) {
    ++count;
    if (req.count_only()) return true;
    if (req.limit() != 0 && static_cast<uint64_t>(resp->kvs_size()) >= req.limit()) {
      resp->set_more(true);
      return true;  // keep counting
    }
    if (req.keys_only()) kv.clear_value();
    *resp->add_kvs() = std::move(kv);
    return true;
  }));
  resp->set_count(count);
  return absl::OkStatus();
}

bool CompareHolds(const v1::Compare& c, const std::optional<v1::KeyValue>& kv) {
  if (!kv && c.target() == v1::Compare::VALUE) return false;
  int cmp = 0;  // sign of (current - given)
  auto cmp_u64 = [](uint64_t a, uint64_t b) { return a < b ? -1 : (a > b ? 1 : 0); };
  switch (c.target()) {
    case v1::Compare::VERSION:
      cmp = cmp_u64(kv ? kv->version() : 0, c.version());
      break;
    case v1::Compare::CREATE:
      cmp = cmp_u64(kv ? kv->create_revision() : 0, c.create_revision());
      break;
    case v1::Compare::MOD:
      cmp = cmp_u64(kv ? kv->mod_revision() : 0, c.mod_revision());
      break;
    case v1::Compare::VALUE: {
      int v = kv->value().compare(c.value());
      cmp = v < 0 ? -1 : (v > 0 ? 1 : 0);
      break;
    }
    default:
      return false;
  }
  switch (c.result()) {
    case v1::Compare::EQUAL:
      return cmp == 0;
    case v1::Compare::NOT_EQUAL:
      return cmp != 0;
    case v1::Compare::GREATER:
      return cmp > 0;
    case v1::Compare::LESS:
      return cmp < 0;
    default:
      return false;
  }
}

}  // namespace

// The pending writes of a batch of commands, read back through the same batch
// so that each command (and each op of a Txn) sees the ones before it.
class KvWriter {
 public:
  KvWriter(Db* db, KeyMetaCache* meta_cache, uint64_t revision)
      : db_(db),
        meta_cache_(meta_cache),
        batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true),
        view_(db, &batch_),
        base_revision_(revision) {}
  // Staged writes that never reached RocksDB (a failed batch) must not stay
  // in the cache.
  ~KvWriter() {
    if (staged_ && !written_) meta_cache_->Clear();
  }
  KvWriter(const KvWriter&) = delete;
  KvWriter& operator=(const KvWriter&) = delete;
  // The batch is in RocksDB.
  void MarkWritten() { written_ = true; }

  KvView* view() { return &view_; }
  // Starts the next command of the batch: the previous one's revision (if it
  // changed something) becomes the base.
  void BeginCommand() {
    base_revision_ = revision();
    any_changed_ = any_changed_ || changed_;
    changed_ = false;
  }
  // The revision this command's changes take.
  uint64_t write_revision() const { return base_revision_ + 1; }
  // The revision after the current command.
  uint64_t revision() const { return changed_ ? base_revision_ + 1 : base_revision_; }
  // Whether any command of the batch changed something.
  bool changed() const { return any_changed_ || changed_; }
  rocksdb::WriteBatchWithIndex* batch() { return &batch_; }
  const KeyMetaCache& meta_cache() const { return *meta_cache_; }

  absl::Status Put(const v1::KeyValue& kv) {
    changed_ = true;
    staged_ = true;
    meta_cache_->Record(kv.key(), KeyMeta{kv.create_revision(), kv.version()});
    return FromRocks(batch_.Put(db_->kv(), DataKey(kv.key()), EncodeKv(kv)), "batching a put");
  }
  absl::Status Delete(const std::string& user_key) {
    changed_ = true;
    staged_ = true;
    meta_cache_->Forget(user_key);
    return FromRocks(batch_.Delete(db_->kv(), DataKey(user_key)), "batching a delete");
  }

 private:
  Db* db_;
  KeyMetaCache* meta_cache_;  // updated as writes are staged
  rocksdb::WriteBatchWithIndex batch_;
  BatchView view_;
  uint64_t base_revision_;
  bool changed_ = false;      // by the current command
  bool any_changed_ = false;  // by an earlier command of the batch
  bool staged_ = false;       // a Put or Delete touched the cache
  bool written_ = false;
};

namespace {

absl::Status DoPut(KvWriter* w, const v1::PutRequest& req, v1::PutResponse* resp) {
  // A new key is created at this revision, version 1.
  KeyMeta meta{w->write_revision(), 0};
  const KeyMeta* cached = req.prev_kv() ? nullptr : w->meta_cache().Find(req.key());
  if (cached != nullptr) {
    meta = *cached;
  } else {
    ASSIGN_OR_RETURN(auto prev, GetKv(w->view(), req.key()));
    if (prev) {
      meta = KeyMeta{prev->create_revision(), prev->version()};
      if (req.prev_kv()) *resp->mutable_prev_kv() = std::move(*prev);
    }
  }
  v1::KeyValue kv;
  kv.set_key(req.key());
  kv.set_value(req.value());
  kv.set_mod_revision(w->write_revision());
  kv.set_create_revision(meta.create_revision);
  kv.set_version(meta.version + 1);
  return w->Put(kv);
}

absl::Status DoDeleteRange(KvWriter* w, const v1::DeleteRangeRequest& req,
                           v1::DeleteRangeResponse* resp) {
  KeyRange r = ResolveRange(req.key(), req.range_end(), req.prefix());
  // Collect first: the batch must not change under its own iterator.
  std::vector<v1::KeyValue> doomed;
  RETURN_IF_ERROR(Scan(w->view(), r, [&](v1::KeyValue&& kv) {
    doomed.push_back(std::move(kv));
    return true;
  }));
  for (v1::KeyValue& kv : doomed) {
    RETURN_IF_ERROR(w->Delete(kv.key()));
    if (req.prev_kv()) *resp->add_prev_kvs() = std::move(kv);
  }
  resp->set_deleted(doomed.size());
  return absl::OkStatus();
}

absl::Status DoTxn(KvWriter* w, const v1::TxnRequest& req, v1::TxnResponse* resp) {
  bool succeeded = true;
  for (const v1::Compare& c : req.compare()) {
    ASSIGN_OR_RETURN(auto kv, GetKv(w->view(), c.key()));
    if (!CompareHolds(c, kv)) {
      succeeded = false;
      break;
    }
  }
  resp->set_succeeded(succeeded);
  for (const v1::RequestOp& op : succeeded ? req.success() : req.failure()) {
    v1::ResponseOp* out = resp->add_responses();
    switch (op.request_case()) {
      case v1::RequestOp::kRequestRange:
        RETURN_IF_ERROR(DoRange(w->view(), op.request_range(), out->mutable_response_range()));
        break;
      case v1::RequestOp::kRequestPut:
        RETURN_IF_ERROR(DoPut(w, op.request_put(), out->mutable_response_put()));
        break;
      case v1::RequestOp::kRequestDeleteRange:
        RETURN_IF_ERROR(
            DoDeleteRange(w, op.request_delete_range(), out->mutable_response_delete_range()));
        break;
      default:
        RAFTKV_CHECK_MSG(false, "txn op without a request passed validation");
    }
  }
  return absl::OkStatus();
}

// Sets header.revision of a txn's nested responses, once the revision is known.
void SetNestedRevisions(v1::TxnResponse* resp, uint64_t revision) {
  for (v1::ResponseOp& op : *resp->mutable_responses()) {
    switch (op.response_case()) {
      case v1::ResponseOp::kResponseRange:
        op.mutable_response_range()->mutable_header()->set_revision(revision);
        break;
      case v1::ResponseOp::kResponsePut:
        op.mutable_response_put()->mutable_header()->set_revision(revision);
        break;
      case v1::ResponseOp::kResponseDeleteRange:
        op.mutable_response_delete_range()->mutable_header()->set_revision(revision);
        break;
      default:
        break;
    }
  }
}

std::string EncodeIndexTerm(raft::Index index, raft::Term term) {
  std::string out = EncodeUint64(index);
  AppendUint64(&out, term);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvStateMachine>> KvStateMachine::Open(Db* db, size_t cached_keys) {
  auto sm = std::unique_ptr<KvStateMachine>(new KvStateMachine(db, cached_keys));
  RETURN_IF_ERROR(sm->Recover());
  return sm;
}

absl::Status KvStateMachine::Recover() {
  constexpr absl::string_view kCtx = "recovering the key-value state";
  ASSIGN_OR_RETURN(auto applied, db_->Get(db_->kv(), kSmApplied, kCtx));
  if (applied) {
    std::optional<uint64_t> index = DecodeUint64(*applied, 0);
    std::optional<uint64_t> term = DecodeUint64(*applied, 8);
    if (!index || !term) return absl::DataLossError("the stored applied index is damaged");
    applied_index_.store(*index);
    applied_term_.store(*term);
  }
  ASSIGN_OR_RETURN(auto revision, db_->Get(db_->kv(), kSmRevision, kCtx));
  if (revision) {
    std::optional<uint64_t> rev = DecodeUint64(*revision);
    if (!rev) return absl::DataLossError("the stored revision is damaged");
    revision_.store(*rev);
  }
  return absl::OkStatus();
}

absl::Status KvStateMachine::CheckIndex(raft::Index index, ApplyOutcome* outcome) const {
  raft::Index applied = AppliedIndex();
  if (index <= applied) {
    outcome->already_applied = true;
    return absl::OkStatus();
  }
  if (index != applied + 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("apply of entry ", index, " skips ahead of the applied index ", applied));
  }
  return absl::OkStatus();
}

absl::Status KvStateMachine::Execute(const v1::Command& cmd, KvWriter* writer,
                                     v1::CommandResult* result) {
  switch (cmd.op_case()) {
    case v1::Command::kPut:
      return DoPut(writer, cmd.put(), result->mutable_put());
    case v1::Command::kDeleteRange:
      return DoDeleteRange(writer, cmd.delete_range(), result->mutable_delete_range());
    case v1::Command::kTxn:
      return DoTxn(writer, cmd.txn(), result->mutable_txn());
    case v1::Command::kNoop:
      result->mutable_noop();
      return absl::OkStatus();
    default:
      RAFTKV_CHECK_MSG(false, "a command without an op passed validation");
  }
}

absl::Status KvStateMachine::Commit(raft::Index index, raft::Term term, KvWriter* writer,
                                    const raft::ConfState* cs) {
  rocksdb::WriteBatch* batch = writer->batch()->GetWriteBatch();
  RETURN_IF_ERROR(
      FromRocks(batch->Put(db_->kv(), std::string(kSmApplied), EncodeIndexTerm(index, term)),
                "batching the applied index"));
  if (writer->changed()) {
    RETURN_IF_ERROR(
        FromRocks(batch->Put(db_->kv(), std::string(kSmRevision), EncodeUint64(writer->revision())),
                  "batching the revision"));
  }
  if (cs != nullptr) {
    raftpb::ConfState pb;
    raft::ToProto(*cs, &pb);
    RETURN_IF_ERROR(
        FromRocks(batch->Put(db_->raft_meta(), std::string(kMetaConfState), pb.SerializeAsString()),
                  "batching the conf state"));
  }
  RETURN_IF_ERROR(db_->WriteUnlogged(batch, absl::StrCat("applying entry ", index)));
  writer->MarkWritten();
  // Readers of the atomics see the data already in RocksDB.
  revision_.store(writer->revision(), std::memory_order_release);
  applied_term_.store(term, std::memory_order_release);
  applied_index_.store(index, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status KvStateMachine::Stage(const v1::Command& cmd, KvWriter* writer,
                                   ApplyOutcome* outcome) {
  absl::Status invalid = ValidateCommand(cmd, Limits::Structural());
  if (!invalid.ok()) {
    // The command itself is bad: applied as nothing, on every replica alike.
    outcome->status = invalid;
    return absl::OkStatus();
  }
  v1::CommandResult& result = outcome->result;
  RETURN_IF_ERROR(Execute(cmd, writer, &result));  // only storage failures
  uint64_t revision = writer->revision();
  switch (result.result_case()) {
    case v1::CommandResult::kPut:
      result.mutable_put()->mutable_header()->set_revision(revision);
      break;
    case v1::CommandResult::kDeleteRange:
      result.mutable_delete_range()->mutable_header()->set_revision(revision);
      break;
    case v1::CommandResult::kTxn:
      result.mutable_txn()->mutable_header()->set_revision(revision);
      SetNestedRevisions(result.mutable_txn(), revision);
      break;
    case v1::CommandResult::kNoop:
      result.mutable_noop()->set_revision(revision);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ApplyOutcome>> KvStateMachine::ApplyBatch(
    const std::vector<raft::Entry>& entries,
    const std::map<raft::Index, raft::ConfState>& conf_states) {
  std::vector<ApplyOutcome> outcomes(entries.size());
  KvWriter writer(db_, &meta_cache_, Revision());
  raft::Index next = AppliedIndex() + 1;
  const raft::Entry* last = nullptr;
  const raft::ConfState* last_cs = nullptr;
  v1::Command cmd;
  for (size_t i = 0; i < entries.size(); ++i) {
    const raft::Entry& e = entries[i];
    ApplyOutcome& outcome = outcomes[i];
    if (e.index < next) {
      outcome.already_applied = true;
      continue;
    }
    if (e.index != next) {
      return absl::FailedPreconditionError(
          absl::StrCat("apply of entry ", e.index, " skips ahead of the applied index ", next - 1));
    }
    ++next;
    last = &e;
    writer.BeginCommand();
    if (e.type == raft::EntryType::kConfChange || e.data.empty()) {
      // A membership change or the leader's no-op: no data changes.
      auto cs = conf_states.find(e.index);
      if (cs != conf_states.end()) last_cs = &cs->second;
      outcome.result.mutable_noop()->set_revision(writer.revision());
    } else if (!cmd.ParseFromArray(e.data.view().data(), static_cast<int>(e.data.size()))) {
      outcome.status = absl::InvalidArgumentError(
          absl::StrCat("entry ", e.index, " does not decode as a raftkv.v1.Command"));
    } else {
      RETURN_IF_ERROR(Stage(cmd, &writer, &outcome));
    }
  }
  if (last != nullptr) {
    writer.BeginCommand();
    RETURN_IF_ERROR(Commit(last->index, last->term, &writer, last_cs));
  }
  return outcomes;
}

absl::StatusOr<ApplyOutcome> KvStateMachine::ApplyOne(raft::Entry entry,
                                                      const raft::ConfState* cs) {
  std::map<raft::Index, raft::ConfState> conf_states;
  if (cs != nullptr) conf_states[entry.index] = *cs;
  std::vector<raft::Entry> entries;
  entries.push_back(std::move(entry));
  ASSIGN_OR_RETURN(std::vector<ApplyOutcome> outcomes, ApplyBatch(entries, conf_states));
  return std::move(outcomes[0]);
}

absl::StatusOr<ApplyOutcome> KvStateMachine::Apply(raft::Index index, raft::Term term,
                                                   const v1::Command& cmd) {
  raft::Entry e;
  e.index = index;
  e.term = term;
  e.data = raft::Payload(cmd.SerializeAsString());
  if (e.data.empty()) {
    // An empty command (no op at all) must not be mistaken for a leader no-op.
    ApplyOutcome outcome;
    RETURN_IF_ERROR(CheckIndex(index, &outcome));
    if (outcome.already_applied) return outcome;
    KvWriter writer(db_, &meta_cache_, Revision());
    RETURN_IF_ERROR(Stage(cmd, &writer, &outcome));
    writer.BeginCommand();
    RETURN_IF_ERROR(Commit(index, term, &writer, nullptr));
    return outcome;
  }
  return ApplyOne(std::move(e), nullptr);
}

absl::StatusOr<ApplyOutcome> KvStateMachine::ApplyNoop(raft::Index index, raft::Term term) {
  raft::Entry e;
  e.index = index;
  e.term = term;
  return ApplyOne(std::move(e), nullptr);
}

absl::StatusOr<ApplyOutcome> KvStateMachine::ApplyConfChange(raft::Index index, raft::Term term,
                                                             const raft::ConfState& cs) {
  raft::Entry e;
  e.index = index;
  e.term = term;
  e.type = raft::EntryType::kConfChange;
  return ApplyOne(std::move(e), &cs);
}

absl::StatusOr<ApplyOutcome> KvStateMachine::ApplyEntry(const raft::Entry& entry) {
  return ApplyOne(entry, nullptr);
}

absl::StatusOr<v1::RangeResponse> KvStateMachine::Range(const v1::RangeRequest& req) const {
  RETURN_IF_ERROR(ValidateRange(req, Limits::Structural()));
  SnapshotView view(db_);
  v1::RangeResponse resp;
  ASSIGN_OR_RETURN(auto rev, view.GetRaw(std::string(kSmRevision)));
  uint64_t revision = 0;
  if (rev) {
    std::optional<uint64_t> r = DecodeUint64(*rev);
    if (!r) return absl::DataLossError("the stored revision is damaged");
    revision = *r;
  }
  RETURN_IF_ERROR(DoRange(&view, req, &resp));
  resp.mutable_header()->set_revision(revision);
  return resp;
}

uint64_t KvStateMachine::ApproximateSizeBytes() const {
  std::string begin = DataKey("");
  std::string end = DataKeyEnd();
  rocksdb::Range range(begin, end);
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  options.include_files = true;
  uint64_t size = 0;
  rocksdb::Status s = db_->rocks()->GetApproximateSizes(options, db_->kv(), &range, 1, &size);
  return s.ok() ? size : 0;
}

}  // namespace raftkv::storage
