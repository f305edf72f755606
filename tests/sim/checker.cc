#include "tests/sim/checker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace raftkv::sim {

using raft::Entry;
using raft::HardState;
using raft::Index;
using raft::MemoryStorage;
using raft::NodeId;
using raft::Term;

namespace {

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "term/index data" with the payload itself for normal entries (the simulator
// proposes short printable strings).
std::string Show(const Entry& e) {
  if (e.type == raft::EntryType::kConfChange) {
    return absl::StrCat(e.term, "/", e.index, " conf-change(", e.data.size(), "B)");
  }
  return absl::StrCat(e.term, "/", e.index, " '", AsAbsl(e.data.view()), "'");
}

bool SameEntry(const Entry& a, const Entry& b) {
  return a.index == b.index && a.term == b.term && a.type == b.type && a.data == b.data;
}

// The term of entry i in storage, if it is there (not compacted, not past the end).
bool StoredTerm(const MemoryStorage& s, Index i, Term* term) {
  Index first = *s.FirstIndex();
  Index last = *s.LastIndex();
  if (i + 1 < first || i > last) return false;
  auto t = s.TermAt(i);
  if (!t.ok()) return false;
  *term = *t;
  return true;
}

}  // namespace

void InvariantChecker::Fail(const std::string& invariant, const std::string& detail) {
  if (failed()) return;
  invariant_ = invariant;
  detail_ = detail;
}

bool InvariantChecker::ObserveStatus(NodeId id, uint64_t inc, const raft::NodeStatus& st) {
  const Term term = st.hard_state.term;
  max_term_ = std::max(max_term_, term);
  bool new_leader = false;
  if (st.soft_state.role == raft::StateRole::kLeader) {
    auto [it, inserted] = leaders_.emplace(term, id);
    new_leader = inserted;
    if (!inserted && it->second != id) {
      Fail("election-safety",
           absl::StrCat("two leaders in term ", term, ": node ", it->second, " and node ", id));
    }
  }

  VolatileMarks& v = volatile_[id];
  if (v.incarnation != inc) v = VolatileMarks{inc, 0, 0};
  const Index commit = st.hard_state.commit;
  if (commit < v.commit) {
    Fail("monotonic-commit", absl::StrCat("node ", id, " commit went back from ", v.commit, " to ",
                                          commit, " (same incarnation)"));
  }
  if (st.applied < v.applied) {
    Fail("monotonic-applied", absl::StrCat("node ", id, " applied went back from ", v.applied,
                                           " to ", st.applied, " (same incarnation)"));
  }
  if (st.applied > commit) {
    Fail("monotonic-applied",
         absl::StrCat("node ", id, " applied ", st.applied, " is past its commit ", commit));
  }
  v.commit = std::max(v.commit, commit);
  v.applied = std::max(v.applied, st.applied);

  while (global_commit_ < commit) {
    commits_.push_back(CommitRecord{max_term_});
    ++global_commit_;
  }
  return new_leader;
}

void InvariantChecker::OnPersistEntries(NodeId id, const MemoryStorage& storage,
                                        const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    Term stored = 0;
    if (!StoredTerm(storage, e.index, &stored) || stored != e.term) {
      // Compacted away already (only possible below a snapshot): nothing to check.
      continue;
    }
    LogRecord rec;
    rec.entry = e;
    rec.node = id;
    rec.prev_known = e.index > 0 && StoredTerm(storage, e.index - 1, &rec.prev_term);
    auto [it, inserted] = log_records_.emplace(std::make_pair(e.index, e.term), rec);
    if (inserted) continue;
    const LogRecord& old = it->second;
    if (!SameEntry(old.entry, e)) {
      Fail("log-matching",
           absl::StrCat("node ", id, " persisted ", Show(e), " but node ", old.node, " persisted ",
                        Show(old.entry), " at the same index and term"));
      return;
    }
    if (old.prev_known && rec.prev_known && old.prev_term != rec.prev_term) {
      Fail("log-matching",
           absl::StrCat("node ", id, " and node ", old.node, " both persisted ", Show(e),
                        " but their logs differ just before it: term ", rec.prev_term, " vs ",
                        old.prev_term, " at index ", e.index - 1));
      return;
    }
  }
}

void InvariantChecker::OnUnsyncedWritesLost(NodeId id, const HardState& hs) {
  auto it = persisted_.find(id);
  if (it == persisted_.end()) return;
  HardState& old = it->second.hs;
  if (hs.term != old.term || hs.vote != old.vote) {
    Fail("durability", absl::StrCat("node ", id, " lost a term or vote it had synced: ",
                                    raft::Describe(old), " -> ", raft::Describe(hs)));
    return;
  }
  old.commit = hs.commit;
}

void InvariantChecker::OnPersistHardState(NodeId id, const MemoryStorage& storage,
                                          const HardState& hs) {
  auto [it, inserted] = persisted_.emplace(id, PersistedMarks{});
  HardState& old = it->second.hs;
  if (hs.term < old.term) {
    Fail("monotonic-term",
         absl::StrCat("node ", id, " persisted term went back from ", old.term, " to ", hs.term));
  } else if (hs.term == old.term && old.vote != raft::kNoNode && hs.vote != old.vote) {
    Fail("vote-stability", absl::StrCat("node ", id, " changed its persisted vote in term ",
                                        hs.term, " from ", old.vote, " to ", hs.vote));
  }
  if (hs.commit < old.commit) {
    Fail("monotonic-commit", absl::StrCat("node ", id, " persisted commit went back from ",
                                          old.commit, " to ", hs.commit, " (across restarts)"));
  }
  Index last = *storage.LastIndex();
  if (hs.commit > last) {
    Fail("monotonic-commit", absl::StrCat("node ", id, " persisted commit ", hs.commit,
                                          " past its persisted last index ", last));
  }
  old = hs;
}

void InvariantChecker::OnSnapshotInstalled(NodeId id, const raft::SnapshotMetadata& meta,
                                           uint64_t digest) {
  auto it = applied_.find(meta.index);
  if (it == applied_.end()) {
    Fail("state-machine-safety",
         absl::StrCat("node ", id, " installed a snapshot at ", meta.term, "/", meta.index,
                      " but no node ever applied that index"));
    return;
  }
  if (it->second.entry.term != meta.term || it->second.digest != digest) {
    Fail("state-machine-safety",
         absl::StrCat("node ", id, " installed a snapshot at ", meta.term, "/", meta.index,
                      " whose state differs from node ", it->second.node, "'s after applying ",
                      Show(it->second.entry)));
  }
}

void InvariantChecker::OnApply(NodeId id, const Entry& e, uint64_t digest) {
  auto [it, inserted] = applied_.emplace(e.index, AppliedRecord{e, digest, id});
  if (!inserted) {
    const AppliedRecord& first = it->second;
    if (!SameEntry(first.entry, e)) {
      Fail("state-machine-safety",
           absl::StrCat("node ", id, " applied ", Show(e), " but node ", first.node, " applied ",
                        Show(first.entry), " at the same index"));
    } else if (first.digest != digest) {
      Fail("state-machine-safety",
           absl::StrCat("node ", id, " applied ", Show(e), " like node ", first.node,
                        " but its state differs (an earlier entry or snapshot differed)"));
    }
  }
  // An applied entry is committed even if no status showed that commit yet.
  while (global_commit_ < e.index) {
    commits_.push_back(CommitRecord{max_term_});
    ++global_commit_;
  }
}

void InvariantChecker::CheckLeaderCompleteness(NodeId id, Term term, const MemoryStorage& storage) {
  Index first = *storage.FirstIndex();
  Index last = *storage.LastIndex();
  // Entries below first are inside the snapshot, which only holds applied
  // (hence committed) state: checked by state-machine-safety on install.
  for (Index i = first; i <= global_commit_; ++i) {
    const CommitRecord& c = commits_[i - 1];
    if (c.max_term_when_seen >= term) continue;  // may have been committed after this election
    const Entry* e = AppliedEntry(i);
    if (e == nullptr) continue;  // its term is not known yet
    if (i > last) {
      Fail("leader-completeness",
           absl::StrCat("node ", id, " leads term ", term, " but its log ends at ", last,
                        ", without committed entry ", Show(*e),
                        " (committed while the highest "
                        "term was ",
                        c.max_term_when_seen, ")"));
      return;
    }
    Term t = *storage.TermAt(i);
    if (t != e->term) {
      Fail("leader-completeness",
           absl::StrCat("node ", id, " leads term ", term, " but holds term ", t, " at index ", i,
                        " instead of committed entry ", Show(*e),
                        " (committed while the "
                        "highest term was ",
                        c.max_term_when_seen, ")"));
      return;
    }
  }
}

void InvariantChecker::OnReadState(NodeId id, const raft::ReadState& rs, Index required) {
  if (rs.index < required) {
    Fail("read-index", absl::StrCat("node ", id, " answered read '", rs.request_ctx,
                                    "' with index ", rs.index, " but index ", required,
                                    " was already committed when the read was requested"));
  }
}

void InvariantChecker::FullLogCheck(const std::map<NodeId, const MemoryStorage*>& logs) {
  for (auto a = logs.begin(); a != logs.end(); ++a) {
    for (auto b = std::next(a); b != logs.end(); ++b) {
      const MemoryStorage& x = *a->second;
      const MemoryStorage& y = *b->second;
      Index lo = std::max(*x.FirstIndex(), *y.FirstIndex());
      Index hi = std::min(*x.LastIndex(), *y.LastIndex());
      if (lo > hi) continue;
      // The highest index where both hold the same term: everything from lo to
      // it must be identical.
      Index match = 0;
      for (Index i = hi; i >= lo; --i) {
        if (*x.TermAt(i) == *y.TermAt(i)) {
          match = i;
          break;
        }
      }
      if (match == 0) continue;
      auto ex = x.Entries(lo, match + 1, raft::kNoLimit);
      auto ey = y.Entries(lo, match + 1, raft::kNoLimit);
      if (!ex.ok() || !ey.ok()) continue;
      for (size_t k = 0; k < ex->size(); ++k) {
        if (!SameEntry((*ex)[k], (*ey)[k])) {
          Fail("log-matching",
               absl::StrCat("nodes ", a->first, " and ", b->first, " agree on term ",
                            *x.TermAt(match), " at index ", match, " but differ at index ",
                            (*ex)[k].index, ": ", Show((*ex)[k]), " vs ", Show((*ey)[k])));
          return;
        }
      }
    }
  }
}

const Entry* InvariantChecker::AppliedEntry(Index i) const {
  auto it = applied_.find(i);
  return it == applied_.end() ? nullptr : &it->second.entry;
}

}  // namespace raftkv::sim
