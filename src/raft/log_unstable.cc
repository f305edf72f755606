#include "src/raft/log_unstable.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace raftkv::raft {

std::optional<Index> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata.index + 1;
  return std::nullopt;
}

std::optional<Index> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata.index;
  return std::nullopt;
}

std::optional<Term> Unstable::MaybeTerm(Index i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata.index == i) return snapshot_->metadata.term;
    return std::nullopt;
  }
  std::optional<Index> last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  return entries_[i - offset_].term;
}

void Unstable::StableTo(Index i, Term t) {
  std::optional<Term> gt = MaybeTerm(i);
  if (!gt) return;
  // Only if the entry at i is still the one that was persisted (it may have
  // been replaced by a newer leader's entries meanwhile) and is unstable.
  if (*gt == t && i >= offset_) {
    entries_.erase(entries_.begin(), entries_.begin() + (i + 1 - offset_));
    offset_ = i + 1;
  }
}

void Unstable::StableSnapTo(Index i) {
  if (snapshot_ && snapshot_->metadata.index == i) snapshot_.reset();
}

void Unstable::Restore(const Snapshot& s) {
  offset_ = s.metadata.index + 1;
  entries_.clear();
  snapshot_ = s;
}

void Unstable::TruncateAndAppend(const std::vector<Entry>& ents) {
  Index after = ents[0].index;
  if (after == offset_ + entries_.size()) {
    entries_.insert(entries_.end(), ents.begin(), ents.end());
  } else if (after <= offset_) {
    // Replaces all unstable entries (and starts a new unstable tail at after).
    offset_ = after;
    entries_ = ents;
  } else {
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), ents.begin(), ents.end());
  }
}

void Unstable::Slice(Index lo, Index hi, std::vector<Entry>* out) const {
  RAFTKV_CHECK_MSG(lo >= offset_ && hi <= offset_ + entries_.size() && lo <= hi,
                   absl::StrCat("unstable slice [", lo, ",", hi, ") outside [", offset_, ",",
                                offset_ + entries_.size(), ")"));
  out->insert(out->end(), entries_.begin() + (lo - offset_), entries_.begin() + (hi - offset_));
}

}  // namespace raftkv::raft
