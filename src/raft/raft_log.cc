#include "src/raft/raft_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace raftkv::raft {

namespace {
template <typename T>
T MustOk(absl::StatusOr<T> v, const char* what) {
  RAFTKV_CHECK_MSG(v.ok(), absl::StrCat(what, ": ", v.status().ToString()));
  return std::move(*v);
}
}  // namespace

RaftLog::RaftLog(const LogStorage& storage, uint64_t max_applying_bytes)
    : storage_(storage),
      unstable_(MustOk(storage.LastIndex(), "storage last index") + 1),
      max_applying_bytes_(max_applying_bytes) {
  Index first = MustOk(storage.FirstIndex(), "storage first index");
  committed_ = first - 1;
  applied_ = first - 1;
}

std::optional<Index> RaftLog::MaybeAppend(Index index, Term log_term, Index committed,
                                          const std::vector<Entry>& ents) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  Index last_new = index + ents.size();
  Index ci = FindConflict(ents);
  if (ci != 0) {
    RAFTKV_CHECK_MSG(ci > committed_, absl::StrCat("entry ", ci, " conflicts with committed entry ",
                                                   "(committed ", committed_, ")"));
    std::vector<Entry> rest(ents.begin() + (ci - index - 1), ents.end());
    Append(rest);
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

Index RaftLog::Append(const std::vector<Entry>& ents) {
  if (ents.empty()) return LastIndex();
  RAFTKV_CHECK_MSG(ents[0].index - 1 >= committed_, absl::StrCat("append after ", ents[0].index - 1,
                                                                 " is below commit ", committed_));
  unstable_.TruncateAndAppend(ents);
  return LastIndex();
}

Index RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

std::pair<Index, Term> RaftLog::FindConflictByTerm(Index index, Term term) const {
  for (; index > 0; --index) {
    absl::StatusOr<Term> t = TermAt(index);
    if (!t.ok()) return {index, 0};  // compacted: can't look further back
    if (*t <= term) return {index, *t};
  }
  return {0, 0};
}

std::vector<Entry> RaftLog::NextCommittedEntries() const {
  Index lo = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 <= lo) return {};
  return MustOk(Slice(lo, committed_ + 1, max_applying_bytes_), "committed entries");
}

bool RaftLog::HasNextCommittedEntries() const {
  return committed_ + 1 > std::max(applied_ + 1, FirstIndex());
}

absl::StatusOr<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_.GetSnapshot();
}

Index RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return MustOk(storage_.FirstIndex(), "storage first index");
}

Index RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return MustOk(storage_.LastIndex(), "storage last index");
}

Term RaftLog::LastTerm() const { return MustOk(TermAt(LastIndex()), "term of last index"); }

absl::StatusOr<Term> RaftLog::TermAt(Index i) const {
  Index dummy = FirstIndex() - 1;
  if (i < dummy || i > LastIndex()) return Term{0};
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  absl::StatusOr<Term> t = storage_.TermAt(i);
  if (t.ok() || IsCompacted(t.status())) return t;
  RAFTKV_CHECK_MSG(false, absl::StrCat("storage term of ", i, ": ", t.status().ToString()));
}

Term RaftLog::ZeroTermOnCompacted(Index i) const {
  absl::StatusOr<Term> t = TermAt(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(Index i, Term t) const {
  absl::StatusOr<Term> got = TermAt(i);
  return got.ok() && *got == t;
}

absl::StatusOr<std::vector<Entry>> RaftLog::EntriesFrom(Index i, uint64_t max_bytes) const {
  if (i > LastIndex()) return std::vector<Entry>{};
  return Slice(i, LastIndex() + 1, max_bytes);
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(Index lo, Index hi, uint64_t max_bytes) const {
  RAFTKV_CHECK_MSG(lo <= hi, absl::StrCat("slice [", lo, ",", hi, ")"));
  if (lo < FirstIndex()) return CompactedError();
  RAFTKV_CHECK_MSG(hi <= LastIndex() + 1,
                   absl::StrCat("slice [", lo, ",", hi, ") past last ", LastIndex()));
  std::vector<Entry> out;
  if (lo == hi) return out;
  Index offset = unstable_.offset();
  if (lo < offset) {
    absl::StatusOr<std::vector<Entry>> stored =
        storage_.Entries(lo, std::min(hi, offset), max_bytes);
    if (!stored.ok()) {
      RAFTKV_CHECK_MSG(IsCompacted(stored.status()),
                       absl::StrCat("storage entries: ", stored.status().ToString()));
      return stored.status();
    }
    out = std::move(*stored);
    // Storage stopped early at the byte limit: that is all we return.
    if (out.size() < std::min(hi, offset) - lo) return out;
  }
  if (hi > offset) {
    unstable_.Slice(std::max(lo, offset), hi, &out);
  }
  // Enforce the byte limit over the combined slice (always keep one entry).
  uint64_t bytes = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    bytes += out[i].ByteSize();
    if (i > 0 && bytes > max_bytes) {
      out.resize(i);
      break;
    }
  }
  return out;
}

bool RaftLog::IsUpToDate(Index last_index, Term last_term) const {
  Term my_term = LastTerm();
  return last_term > my_term || (last_term == my_term && last_index >= LastIndex());
}

void RaftLog::CommitTo(Index to) {
  if (to <= committed_) return;
  RAFTKV_CHECK_MSG(to <= LastIndex(), absl::StrCat("commit ", to, " past last ", LastIndex(),
                                                   ": the log is corrupt, truncated or lost"));
  committed_ = to;
}

bool RaftLog::MaybeCommit(Index max_index, Term term) {
  if (max_index > committed_ && ZeroTermOnCompacted(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::AppliedTo(Index i) {
  if (i == 0) return;
  RAFTKV_CHECK_MSG(i <= committed_ && i >= applied_,
                   absl::StrCat("applied ", i, " outside [", applied_, ",", committed_, "]"));
  applied_ = i;
}

void RaftLog::Restore(const Snapshot& s) {
  committed_ = s.metadata.index;
  unstable_.Restore(s);
}

}  // namespace raftkv::raft
