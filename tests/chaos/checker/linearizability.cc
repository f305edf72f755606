#include "tests/chaos/checker/linearizability.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/chaos/checker/history_io.h"
#include "tests/chaos/checker/linearizability_internal.h"

namespace raftkv::chaos {
namespace {

// ---------------------------------------------------------------------------
// The per-key model, over interned values.

// Register states. Values that some operation refers to (an ok read's result,
// a cas's expected value) get their own id from kFirstValue on; every other
// value maps to kUnobserved: no operation can tell them apart.
constexpr int32_t kAbsent = 0;
constexpr int32_t kUnobserved = 1;
constexpr int32_t kFirstValue = 2;

enum class StepKind : uint8_t {
  kRead,       // ok iff state == a
  kWrite,      // state := a
  kDelete,     // state := absent
  kCasOk,      // ok iff state == a; state := b
  kCasFailed,  // ok iff state != a
  kCasMaybe,   // indeterminate cas: applied only when state == a; state := b
};

struct KeyOp {
  const Operation* op = nullptr;
  StepKind kind = StepKind::kRead;
  int32_t a = 0;
  int32_t b = 0;
  int64_t invoke_ns = 0;
  int64_t return_ns = 0;  // kNeverCompleted for optional operations
  // For an indeterminate write/cas made required because its value was
  // observed: the observer that bounds when it took effect.
  const Operation* observer = nullptr;
};

// Applies `op` to `state`; false when the model refuses it (or, for an
// optional operation, when applying it would change nothing: leaving it out
// is then equivalent and keeps the search smaller).
bool Apply(const KeyOp& op, bool optional, int32_t state, int32_t* next) {
  switch (op.kind) {
    case StepKind::kRead:
      *next = state;
      return state == op.a;
    case StepKind::kWrite:
      *next = op.a;
      return !optional || state != op.a;
    case StepKind::kDelete:
      *next = kAbsent;
      return !optional || state != kAbsent;
    case StepKind::kCasOk:
      *next = op.b;
      return state == op.a;
    case StepKind::kCasFailed:
      *next = state;
      return state != op.a;
    case StepKind::kCasMaybe:
      *next = op.b;
      return state == op.a && state != op.b;
  }
  return false;
}

// Whether `op` sets the register whatever it held. Right after an optional
// operation, such an operation is not tried: it would erase the optional
// one's effect before anything depended on it, and leaving the optional one
// out (or using it later: it has no deadline) gives the same result. So
// optional operations are linearized just in time, right before an operation
// that depends on the register: a read, a cas.
bool Overwrites(const KeyOp& op) {
  return op.kind == StepKind::kWrite || op.kind == StepKind::kDelete;
}

// ---------------------------------------------------------------------------
// Search state encodings.

// A bitset that keeps, for a compact cache key, the number of leading
// all-ones words and the end of its non-zero words: linearized operations
// are mostly a prefix (in invoke order) plus a short window after it.
class FrontierBits {
 public:
  explicit FrontierBits(size_t bits) : words_((bits + 63) / 64, 0) {}

  void Set(size_t i) {
    const size_t w = i / 64;
    words_[w] |= uint64_t{1} << (i % 64);
    if (w + 1 > end_) end_ = w + 1;
    while (full_ < words_.size() && words_[full_] == ~uint64_t{0}) ++full_;
  }

  void Clear(size_t i) {
    const size_t w = i / 64;
    words_[w] &= ~(uint64_t{1} << (i % 64));
    if (w < full_) full_ = w;
    while (end_ > 0 && words_[end_ - 1] == 0) --end_;
  }

  // Appends an unambiguous encoding: (full, end) then words [full, end).
  void AppendKey(std::vector<uint64_t>* key) const {
    key->push_back(static_cast<uint64_t>(full_) | (static_cast<uint64_t>(end_) << 32));
    for (size_t w = full_; w < end_; ++w) key->push_back(words_[w]);
  }

 private:
  std::vector<uint64_t> words_;
  size_t full_ = 0;  // words_[0, full_) are all ones
  size_t end_ = 0;   // words_[end_, ...) are all zero
};

// A doubly linked list over nodes 1..n with sentinel 0, supporting removal
// and re-insertion in LIFO order (Knuth's dancing links; Porcupine's
// lift/unlift).
struct Links {
  std::vector<int32_t> prev;
  std::vector<int32_t> next;

  // Links 0 -> order[0] -> order[1] ... -> 0.
  void Init(const std::vector<int32_t>& order, size_t nodes) {
    prev.assign(nodes + 1, 0);
    next.assign(nodes + 1, 0);
    int32_t last = 0;
    for (const int32_t n : order) {
      next[last] = n;
      prev[n] = last;
      last = n;
    }
    next[last] = 0;
    prev[0] = last;
  }
  void Remove(int32_t n) {
    next[prev[n]] = next[n];
    prev[next[n]] = prev[n];
  }
  void Restore(int32_t n) {
    next[prev[n]] = n;
    prev[next[n]] = n;
  }
};

// ---------------------------------------------------------------------------
// The cache of explored configurations.
//
// A configuration is (R, s, U): the required operations linearized, the
// register state, and how many operations of each class of optional
// (indeterminate) operations were used (see KeySearch: the members of a class
// are interchangeable, used earliest-invoked first). (R, s, U) is dominated by
// an explored, failed (R, s, U') with U' <= U in every class: every optional
// operation still available after U is available after U' too (none has a
// deadline), so whatever follows the first could follow the second.
//
// Layout: an open-addressing hash table of (R, s) groups, their keys in one
// arena of words; each group holds a list of U records, each U a sorted
// sparse list of (class slot << 32 | count).

// Whether every count of `a` is <= the same class's count in `b`.
bool CountsBelow(const uint64_t* a, size_t a_len, const uint64_t* b, size_t b_len) {
  size_t j = 0;
  for (size_t i = 0; i < a_len; ++i) {
    const uint64_t slot = a[i] >> 32;
    while (j < b_len && (b[j] >> 32) < slot) ++j;
    if (j == b_len || (b[j] >> 32) != slot || (b[j] & 0xffffffffu) < (a[i] & 0xffffffffu)) {
      return false;
    }
  }
  return true;
}

class ConfigCache {
 public:
  ConfigCache() : slots_(1024, 0) {}

  // Configurations recorded.
  size_t size() const { return records_.size(); }

  // Records configuration (group, counts) and returns its handle, or -1 when
  // it is already recorded or dominated by a failed one.
  int64_t Enter(const std::vector<uint64_t>& group, const std::vector<uint64_t>& counts) {
    const uint64_t hash = Hash(group);
    size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    int64_t g = -1;
    for (; slots_[i] != 0; i = (i + 1) & mask) {
      const Group& candidate = groups_[slots_[i] - 1];
      if (candidate.hash == hash && candidate.len == group.size() &&
          std::equal(group.begin(), group.end(), Words(candidate.offset))) {
        g = slots_[i] - 1;
        break;
      }
    }
    if (g < 0) {
      if ((groups_.size() + 1) * 2 > slots_.size()) {
        Grow();
        mask = slots_.size() - 1;
        i = hash & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
      }
      groups_.push_back(Group{hash, arena_.size(), static_cast<uint32_t>(group.size()), -1});
      arena_.insert(arena_.end(), group.begin(), group.end());
      g = static_cast<int64_t>(groups_.size()) - 1;
      slots_[i] = static_cast<uint32_t>(groups_.size());
    } else {
      for (int64_t r = groups_[g].first_record; r >= 0; r = records_[r].next) {
        const Record& old = records_[r];
        const uint64_t* old_counts = Words(old.offset);
        if (old.len == counts.size() && std::equal(counts.begin(), counts.end(), old_counts)) {
          return -1;
        }
        if (old.failed && CountsBelow(old_counts, old.len, counts.data(), counts.size())) {
          return -1;
        }
      }
    }
    records_.push_back(Record{arena_.size(), static_cast<uint32_t>(counts.size()), false, g,
                              groups_[g].first_record});
    arena_.insert(arena_.end(), counts.begin(), counts.end());
    groups_[g].first_record = static_cast<int64_t>(records_.size()) - 1;
    return groups_[g].first_record;
  }

  // Every continuation of the configuration was tried and failed. The
  // group's failed records that this one dominates are unlinked: it prunes
  // all they did, so the lists stay short (Pareto-minimal failed records,
  // plus those on the current path).
  void MarkFailed(int64_t handle) {
    Record& failed = records_[handle];
    failed.failed = true;
    const uint64_t* counts = Words(failed.offset);
    int64_t* link = &groups_[failed.group].first_record;
    while (*link >= 0) {
      Record& r = records_[*link];
      if (*link != handle && r.failed && CountsBelow(counts, failed.len, Words(r.offset), r.len)) {
        *link = r.next;
      } else {
        link = &r.next;
      }
    }
  }

 private:
  struct Group {
    uint64_t hash;
    uint64_t offset;  // into arena_
    uint32_t len;
    int64_t first_record;  // -1: none
  };
  struct Record {
    uint64_t offset;  // into arena_
    uint32_t len;
    bool failed;
    int64_t group;
    int64_t next;  // the group's next record, -1 at the end
  };

  const uint64_t* Words(uint64_t offset) const { return arena_.data() + offset; }

  static uint64_t Hash(const std::vector<uint64_t>& key) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ key.size();
    for (const uint64_t w : key) {
      h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
      h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return h;
  }

  void Grow() {
    std::vector<uint32_t> slots(slots_.size() * 2, 0);
    const size_t mask = slots.size() - 1;
    for (size_t g = 0; g < groups_.size(); ++g) {
      size_t i = groups_[g].hash & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = static_cast<uint32_t>(g + 1);
    }
    slots_.swap(slots);
  }

  std::vector<uint64_t> arena_;
  std::vector<Group> groups_;
  std::vector<Record> records_;
  std::vector<uint32_t> slots_;  // 0 = empty, else index into groups_ + 1
};

// ---------------------------------------------------------------------------
// The search over one key.

enum class Verdict { kLinearizable, kViolation, kUnknown };

// Where the search got furthest before failing.
struct Longest {
  int64_t required_done = -1;
  std::vector<int32_t> prefix;   // indices into the key's ops, in linearization order
  std::vector<int32_t> blocked;  // required ops that could not come next
  std::vector<int32_t> optional_pending;
  int32_t state = kAbsent;
};

// Optional operations are grouped into classes of interchangeable ones: same
// kind and same (interned) arguments, hence the same effect, and no deadline;
// so only the earliest-invoked unused member of a class is ever tried, and a
// configuration records how many of each class were used. With unique values
// the count of a class of cas expecting an observed value e is not recorded:
// it follows from (R, state), since such a cas applies only while the
// register holds e, which happens once (e has one writer) and ends as the cas
// applies.
struct OptionalClass {
  std::vector<int32_t> ops;  // indices into the key's ops, sorted by invoke
  int32_t used = 0;          // ops[0, used) are linearized
  int32_t slot = -1;         // in the cache key, or -1 when implied
};

// Groups the optional ops into classes (see OptionalClass): unconditional
// ones (writes, deletes) and cas ones, indexed by the value they expect.
void BuildClasses(const std::vector<KeyOp>& ops, const std::vector<int32_t>& optional,
                  bool unique_values, std::vector<OptionalClass>* classes,
                  std::vector<int32_t>* unconditional,
                  std::unordered_map<int32_t, std::vector<int32_t>>* cas_by_expected) {
  std::map<std::tuple<StepKind, int32_t, int32_t>, int32_t> class_of;
  std::vector<int32_t> sorted = optional;
  std::sort(sorted.begin(), sorted.end(), [&](int32_t x, int32_t y) {
    return std::make_pair(ops[x].invoke_ns, x) < std::make_pair(ops[y].invoke_ns, y);
  });
  int32_t slots = 0;
  for (const int32_t i : sorted) {
    const KeyOp& op = ops[i];
    const auto key = std::make_tuple(op.kind, op.kind == StepKind::kDelete ? 0 : op.a,
                                     op.kind == StepKind::kCasMaybe ? op.b : 0);
    auto [it, inserted] = class_of.emplace(key, static_cast<int32_t>(classes->size()));
    if (inserted) {
      OptionalClass k;
      const bool implied = unique_values && op.kind == StepKind::kCasMaybe && op.a >= kFirstValue;
      k.slot = implied ? -1 : slots++;
      classes->push_back(k);
      if (op.kind == StepKind::kCasMaybe) {
        (*cas_by_expected)[op.a].push_back(it->second);
      } else {
        unconditional->push_back(it->second);
      }
    }
    (*classes)[it->second].ops.push_back(i);
  }
}

class KeySearch {
 public:
  KeySearch(const std::vector<KeyOp>& ops, std::vector<int32_t> required,
            const std::vector<int32_t>& optional, bool unique_values, int64_t max_states);

  Verdict Run();
  int64_t states_explored() const { return static_cast<int64_t>(cache_.size()); }
  const Longest& longest() const { return longest_; }

 private:
  // Where the search is at a configuration: just arrived, trying the
  // required candidates, then the optional ones, then going back.
  enum Step : uint8_t { kArrive, kRequired, kOptional, kBacktrack };
  struct Frame {
    bool optional;
    bool forced;     // the only move tried at its configuration
    int32_t node;    // required: its call node; optional: its class
    int32_t cursor;  // optional: its position among the candidate classes
    int64_t handle;  // of the configuration it led to, in cache_
    int32_t state_before;
    int64_t first_return_ns;  // optional: the window it was tried in
  };

  static bool IsCall(int32_t node) { return node % 2 == 1; }
  int32_t RequiredIndex(int32_t node) const { return (node - 1) / 2; }

  // The optional classes worth trying in `state`: those that apply whatever
  // the register holds, then the cas classes expecting `state`.
  int32_t CandidateClass(int32_t state, int32_t cursor) const {
    const auto unconditional = static_cast<int32_t>(unconditional_classes_.size());
    if (cursor < unconditional) return unconditional_classes_[cursor];
    const auto it = cas_classes_by_expected_.find(state);
    if (it == cas_classes_by_expected_.end()) return -1;
    const auto i = static_cast<size_t>(cursor - unconditional);
    return i < it->second.size() ? it->second[i] : -1;
  }

  // The next unused member of class `c` if it was invoked in the window.
  int32_t Available(int32_t c, int64_t first_return_ns) const {
    const OptionalClass& k = classes_[c];
    if (k.used == static_cast<int32_t>(k.ops.size())) return -1;
    const int32_t op = k.ops[k.used];
    return ops_[op].invoke_ns <= first_return_ns ? op : -1;
  }

  void SetUsed(int32_t c, int32_t used) {
    OptionalClass& k = classes_[c];
    k.used = used;
    if (k.slot < 0) return;
    if (used == 0) {
      counted_.erase(c);
    } else {
      counted_.insert(c);
    }
  }

  // Records the configuration after the change just made, and its handle for
  // the frame about to be pushed; false (the caller then undoes the change)
  // when it was explored before or is dominated by a failed one.
  bool Enter(int32_t state, bool after_optional) {
    key_.clear();
    key_.push_back(static_cast<uint32_t>(state) | (uint64_t{after_optional} << 32));
    required_bits_.AppendKey(&key_);
    counts_.clear();
    for (const int32_t c : counted_) {
      counts_.push_back((static_cast<uint64_t>(classes_[c].slot) << 32) |
                        static_cast<uint32_t>(classes_[c].used));
    }
    entered_ = cache_.Enter(key_, counts_);
    return entered_ >= 0;
  }

  // What the required candidates of the current configuration need from the
  // register, for Useful.
  void ComputeWanted();
  // Whether an optional operation leaving the register in `state` could be
  // followed by an operation that depends on the register (the only kind that
  // may follow an optional one; see Overwrites): a required read or cas of the
  // window, or an optional cas. Otherwise the configuration it leads to is a
  // dead end, and is not even recorded.
  bool Useful(int32_t state, int64_t first_return_ns) const;
  // Whether spending an unconditional write of an unobserved value can be
  // skipped: an optional cas class of the same effect is available. Using the
  // cas instead leaves the write for later, where it can do whatever the cas
  // could (it applies in any state), so it is never worse.
  bool UnobservedWriteRedundant(int32_t state, int64_t first_return_ns) const;

  // Whether a required candidate write or delete of the window leaves the
  // register in `state`. Then an optional write or delete to the same state
  // is not tried: using the required one now and the optional one where the
  // required one would have gone instead is never worse (the optional one has
  // no deadline and the same effect).
  bool RequiredDoesTheSame(int32_t state) const {
    return std::find(required_results_.begin(), required_results_.end(), state) !=
           required_results_.end();
  }
  static int32_t next_state_of(const KeyOp& op) {
    return op.kind == StepKind::kDelete ? kAbsent : op.a;
  }

  void RecordLongest(int32_t state, int64_t first_return_ns);

  const std::vector<KeyOp>& ops_;
  const std::vector<int32_t> required_;
  const int64_t max_states_;

  Links required_links_;
  std::vector<int64_t> node_time_;
  FrontierBits required_bits_;
  int64_t required_done_ = 0;

  std::vector<OptionalClass> classes_;
  std::vector<int32_t> unconditional_classes_;
  std::unordered_map<int32_t, std::vector<int32_t>> cas_classes_by_expected_;
  std::set<int32_t> counted_;  // classes with a slot and used > 0

  std::vector<int32_t> wanted_states_;
  std::vector<int32_t> failed_cas_expected_;
  std::vector<int32_t> required_results_;  // states required candidate writes/deletes leave

  std::vector<Frame> stack_;
  ConfigCache cache_;
  std::vector<uint64_t> key_;
  std::vector<uint64_t> counts_;
  int64_t entered_ = -1;  // the handle of the configuration Enter recorded
  Longest longest_;
};

KeySearch::KeySearch(const std::vector<KeyOp>& ops, std::vector<int32_t> required,
                     const std::vector<int32_t>& optional, bool unique_values, int64_t max_states)
    : ops_(ops),
      required_(std::move(required)),
      max_states_(max_states),
      required_bits_(required_.size()) {
  // Required list: node 1+2i is required_[i]'s call, 2+2i its return.
  std::vector<std::tuple<int64_t, int, int32_t>> events;
  for (size_t i = 0; i < required_.size(); ++i) {
    const KeyOp& op = ops_[required_[i]];
    events.emplace_back(op.invoke_ns, 0, static_cast<int32_t>(1 + 2 * i));
    events.emplace_back(op.return_ns, 1, static_cast<int32_t>(2 + 2 * i));
  }
  std::sort(events.begin(), events.end());
  std::vector<int32_t> order;
  node_time_.assign(2 * required_.size() + 1, 0);
  for (const auto& [time, kind, node] : events) {
    order.push_back(node);
    node_time_[node] = time;
  }
  required_links_.Init(order, 2 * required_.size());

  BuildClasses(ops_, optional, unique_values, &classes_, &unconditional_classes_,
               &cas_classes_by_expected_);
}

void KeySearch::ComputeWanted() {
  wanted_states_.clear();
  failed_cas_expected_.clear();
  required_results_.clear();
  for (int32_t n = required_links_.next[0]; IsCall(n); n = required_links_.next[n]) {
    const KeyOp& op = ops_[required_[RequiredIndex(n)]];
    if (op.kind == StepKind::kRead || op.kind == StepKind::kCasOk) {
      wanted_states_.push_back(op.a);
    } else if (op.kind == StepKind::kCasFailed) {
      failed_cas_expected_.push_back(op.a);
    } else if (op.kind == StepKind::kWrite) {
      required_results_.push_back(op.a);
    } else if (op.kind == StepKind::kDelete) {
      required_results_.push_back(kAbsent);
    }
  }
}

bool KeySearch::Useful(int32_t state, int64_t first_return_ns) const {
  for (const int32_t a : wanted_states_) {
    if (a == state) return true;
  }
  for (const int32_t a : failed_cas_expected_) {
    if (a != state) return true;
  }
  const auto it = cas_classes_by_expected_.find(state);
  if (it == cas_classes_by_expected_.end()) return false;
  for (const int32_t c : it->second) {
    if (Available(c, first_return_ns) >= 0) return true;
  }
  return false;
}

bool KeySearch::UnobservedWriteRedundant(int32_t state, int64_t first_return_ns) const {
  const auto it = cas_classes_by_expected_.find(state);
  if (it == cas_classes_by_expected_.end()) return false;
  for (const int32_t c : it->second) {
    const int32_t op = Available(c, first_return_ns);
    if (op >= 0 && ops_[op].b == kUnobserved) return true;
  }
  return false;
}

Verdict KeySearch::Run() {
  const int64_t required_count = static_cast<int64_t>(required_.size());
  int32_t state = kAbsent;
  Step step = kArrive;
  int32_t node = 0;             // kRequired: the candidate call node
  int32_t cursor = 0;           // kOptional: the candidate class position (CandidateClass)
  int64_t first_return_ns = 0;  // valid from kOptional on
  int32_t next_state = 0;
  // Whether the last operation linearized is optional: then the next one must
  // depend on the register (see Overwrites).
  bool after_optional = false;
  // Linearizes required op `n` (a call node) if the cache allows; true then.
  auto push_required = [&](int32_t n, bool forced) {
    const int32_t i = RequiredIndex(n);
    required_bits_.Set(i);
    if (!Enter(next_state, false)) {
      required_bits_.Clear(i);
      return false;
    }
    stack_.push_back(Frame{false, forced, n, 0, entered_, state, 0});
    state = next_state;
    after_optional = false;
    ++required_done_;
    required_links_.Remove(n);
    required_links_.Remove(n + 1);
    return true;
  };
  while (required_done_ < required_count) {
    if (static_cast<int64_t>(cache_.size()) > max_states_) return Verdict::kUnknown;
    switch (step) {
      case kArrive: {
        // A new configuration. The candidates are the calls before the first
        // return in the list. If a read (or a cas that did not swap) can come
        // next, it is the only move to try: it leaves the register as it is,
        // so any linearization from here can be reordered to take it first.
        step = kRequired;
        node = required_links_.next[0];
        for (int32_t n = node; IsCall(n); n = required_links_.next[n]) {
          const KeyOp& op = ops_[required_[RequiredIndex(n)]];
          if ((op.kind == StepKind::kRead || op.kind == StepKind::kCasFailed) &&
              Apply(op, false, state, &next_state)) {
            step = push_required(n, true) ? kArrive : kBacktrack;
            break;
          }
        }
        continue;
      }
      case kRequired: {
        if (!IsCall(node)) {  // the first return: the window ends here
          first_return_ns = node_time_[node];
          ComputeWanted();
          step = kOptional;
          cursor = 0;
          continue;
        }
        const KeyOp& op = ops_[required_[RequiredIndex(node)]];
        if ((!after_optional || !Overwrites(op)) && Apply(op, false, state, &next_state) &&
            push_required(node, false)) {
          step = kArrive;
          continue;
        }
        node = required_links_.next[node];
        continue;
      }
      case kOptional: {
        const int32_t c = CandidateClass(state, cursor);
        if (c < 0) {
          step = kBacktrack;
          continue;
        }
        const int32_t i = Available(c, first_return_ns);
        if (i >= 0) {
          const KeyOp& op = ops_[i];
          const bool skip = (after_optional && Overwrites(op)) ||
                            (Overwrites(op) && RequiredDoesTheSame(next_state_of(op))) ||
                            (op.kind == StepKind::kWrite && op.a == kUnobserved &&
                             UnobservedWriteRedundant(state, first_return_ns));
          if (!skip && Apply(op, true, state, &next_state) && Useful(next_state, first_return_ns)) {
            const int32_t used = classes_[c].used;
            SetUsed(c, used + 1);
            if (Enter(next_state, true)) {
              stack_.push_back(Frame{true, false, c, cursor, entered_, state, first_return_ns});
              state = next_state;
              after_optional = true;
              step = kArrive;
              continue;
            }
            SetUsed(c, used);
          }
        }
        ++cursor;
        continue;
      }
      case kBacktrack: {
        // Every candidate failed here.
        if (required_done_ > longest_.required_done) RecordLongest(state, first_return_ns);
        if (stack_.empty()) return Verdict::kViolation;
        const Frame frame = stack_.back();
        stack_.pop_back();
        cache_.MarkFailed(frame.handle);
        state = frame.state_before;
        first_return_ns = frame.first_return_ns;
        after_optional = !stack_.empty() && stack_.back().optional;
        if (frame.optional) {
          SetUsed(frame.node, classes_[frame.node].used - 1);
          ComputeWanted();
          step = kOptional;
          cursor = frame.cursor + 1;
        } else {
          required_links_.Restore(frame.node + 1);
          required_links_.Restore(frame.node);
          required_bits_.Clear(RequiredIndex(frame.node));
          --required_done_;
          step = kRequired;
          node = required_links_.next[frame.node];
        }
        // A forced move was the only one tried: its parent failed too.
        if (frame.forced) step = kBacktrack;
        continue;
      }
    }
  }
  return Verdict::kLinearizable;
}

void KeySearch::RecordLongest(int32_t state, int64_t first_return_ns) {
  longest_.required_done = required_done_;
  longest_.state = state;
  longest_.prefix.clear();
  // Replays the classes' usage to name the optional ops in order.
  std::vector<int32_t> replay_used(classes_.size(), 0);
  for (const Frame& f : stack_) {
    if (f.optional) {
      longest_.prefix.push_back(classes_[f.node].ops[replay_used[f.node]++]);
    } else {
      longest_.prefix.push_back(required_[RequiredIndex(f.node)]);
    }
  }
  longest_.blocked.clear();
  for (int32_t n = required_links_.next[0]; n != 0; n = required_links_.next[n]) {
    const int32_t op = required_[RequiredIndex(n)];
    if (IsCall(n)) {
      longest_.blocked.push_back(op);
      continue;
    }
    // The first return: its operation had to come next at the latest.
    if (std::find(longest_.blocked.begin(), longest_.blocked.end(), op) == longest_.blocked.end()) {
      longest_.blocked.push_back(op);
    }
    break;
  }
  longest_.optional_pending.clear();
  for (const OptionalClass& k : classes_) {
    for (size_t j = static_cast<size_t>(k.used); j < k.ops.size(); ++j) {
      if (ops_[k.ops[j]].invoke_ns > first_return_ns) break;
      longest_.optional_pending.push_back(k.ops[j]);
    }
  }
  std::sort(longest_.optional_pending.begin(), longest_.optional_pending.end(),
            [&](int32_t x, int32_t y) { return ops_[x].op->id < ops_[y].op->id; });
}

// ---------------------------------------------------------------------------
// The same search breadth-first over time: Lowe's just-in-time
// linearization, as Knossos's "linear" checker does it. Events are processed
// in time order; the frontier holds every configuration (open ops linearized,
// state, optional classes used) that explains the history up to now, and
// when an op returns, each configuration that has not linearized it yet is
// extended by every sequence of moves that ends with it (the same moves and
// pruning rules as KeySearch). Among configurations with the same open ops
// and state only those using the fewest optional ops (Pareto-minimal counts)
// are kept. The depth-first search finds a linearization of a linearizable
// history faster, but to refute one it may revisit the same cut many times
// with different counts of indeterminate ops used, which the frontier never
// does; so this one takes over when the first runs out of budget.
class FrontierSearch {
 public:
  FrontierSearch(const std::vector<KeyOp>& ops, const std::vector<int32_t>& required,
                 const std::vector<int32_t>& optional, bool unique_values, int64_t max_states)
      : ops_(ops), required_(required), max_states_(max_states) {
    BuildClasses(ops_, optional, unique_values, &classes_, &unconditional_classes_,
                 &cas_classes_by_expected_);
  }

  Verdict Run();
  int64_t states_explored() const { return explored_; }
  const Longest& longest() const { return longest_; }

 private:
  struct Config {
    std::vector<int32_t> open_done;  // open required ops linearized (op indices, sorted)
    int32_t state = kAbsent;
    std::vector<uint64_t> counts;  // (slot << 32 | used) of counted classes, sorted
    int32_t path = -1;             // its last op in path_, -1: none
  };
  struct PathNode {
    int32_t parent;
    int32_t op;
  };

  static bool Contains(const std::vector<int32_t>& sorted, int32_t x) {
    return std::binary_search(sorted.begin(), sorted.end(), x);
  }
  int32_t Used(const Config& c, int32_t cls) const {
    const int32_t slot = classes_[cls].slot;
    if (slot < 0) return 0;  // implied: unused whenever it can apply
    for (const uint64_t w : c.counts) {
      if (static_cast<int32_t>(w >> 32) == slot) return static_cast<int32_t>(w & 0xffffffffu);
    }
    return 0;
  }
  int32_t Available(const Config& c, int32_t cls, int64_t now_ns) const {
    const OptionalClass& k = classes_[cls];
    const int32_t used = Used(c, cls);
    if (used == static_cast<int32_t>(k.ops.size())) return -1;
    return ops_[k.ops[used]].invoke_ns <= now_ns ? k.ops[used] : -1;
  }

  // Extends `c` by every sequence of moves that ends by linearizing `x`.
  void Explore(const Config& c, bool after_optional, int32_t x, int64_t now_ns);
  // Applies op `i` (required, or of optional class `cls`) to `c`.
  void Step(const Config& c, int32_t i, int32_t cls, int32_t next_state, int32_t x, int64_t now_ns);
  void Emit(Config c);
  void RecordLongest(int32_t x, int64_t now_ns);

  const std::vector<KeyOp>& ops_;
  const std::vector<int32_t>& required_;
  const int64_t max_states_;
  std::vector<OptionalClass> classes_;
  std::vector<int32_t> unconditional_classes_;
  std::unordered_map<int32_t, std::vector<int32_t>> cas_classes_by_expected_;

  std::vector<int32_t> open_;  // required ops called and not returned, sorted
  std::vector<Config> frontier_;
  std::map<std::vector<int32_t>, std::vector<Config>> next_;  // by (open_done, state)
  std::set<std::vector<uint64_t>> seen_;                      // this event's explored configs
  std::vector<PathNode> path_;
  int64_t explored_ = 0;
  Longest longest_;
};

Verdict FrontierSearch::Run() {
  std::vector<std::tuple<int64_t, int, int32_t>> events;  // (time, call 0 / return 1, op)
  for (const int32_t i : required_) {
    events.emplace_back(ops_[i].invoke_ns, 0, i);
    events.emplace_back(ops_[i].return_ns, 1, i);
  }
  std::sort(events.begin(), events.end());
  frontier_.push_back(Config{});
  for (const auto& [time, kind, x] : events) {
    if (kind == 0) {
      open_.insert(std::upper_bound(open_.begin(), open_.end(), x), x);
      continue;
    }
    next_.clear();
    seen_.clear();
    if (Contains(open_, x)) {
      for (const Config& c : frontier_) {
        if (Contains(c.open_done, x)) {
          Config n = c;
          n.open_done.erase(std::lower_bound(n.open_done.begin(), n.open_done.end(), x));
          Emit(std::move(n));
        } else {
          Explore(c, false, x, time);
        }
        if (explored_ > max_states_) return Verdict::kUnknown;
      }
    }
    if (next_.empty()) {  // nothing explains x's completion
      RecordLongest(x, time);
      return Verdict::kViolation;
    }
    frontier_.clear();
    for (auto& [key, configs] : next_) {
      for (Config& c : configs) frontier_.push_back(std::move(c));
    }
    if (Contains(open_, x)) open_.erase(std::lower_bound(open_.begin(), open_.end(), x));
  }
  return Verdict::kLinearizable;
}

void FrontierSearch::Explore(const Config& c, bool after_optional, int32_t x, int64_t now_ns) {
  if (++explored_ > max_states_) return;
  std::vector<uint64_t> key(c.counts);
  key.push_back(static_cast<uint32_t>(c.state) | (uint64_t{after_optional} << 32));
  for (const int32_t i : c.open_done) key.push_back(static_cast<uint64_t>(i) | (uint64_t{1} << 63));
  if (!seen_.insert(std::move(key)).second) return;

  int32_t next_state = 0;
  // A read or a cas that did not swap that can come now is the only move.
  for (const int32_t i : open_) {
    if (Contains(c.open_done, i)) continue;
    const KeyOp& op = ops_[i];
    if ((op.kind == StepKind::kRead || op.kind == StepKind::kCasFailed) &&
        Apply(op, false, c.state, &next_state)) {
      Step(c, i, -1, next_state, x, now_ns);
      return;
    }
  }
  std::vector<int32_t> wanted, failed_cas_expected, required_results;
  for (const int32_t i : open_) {
    if (Contains(c.open_done, i)) continue;
    const KeyOp& op = ops_[i];
    if (op.kind == StepKind::kRead || op.kind == StepKind::kCasOk) {
      wanted.push_back(op.a);
    } else if (op.kind == StepKind::kCasFailed) {
      failed_cas_expected.push_back(op.a);
    } else if (op.kind == StepKind::kWrite) {
      required_results.push_back(op.a);
    } else if (op.kind == StepKind::kDelete) {
      required_results.push_back(kAbsent);
    }
    if ((!after_optional || !Overwrites(op)) && Apply(op, false, c.state, &next_state)) {
      Step(c, i, -1, next_state, x, now_ns);
    }
  }
  // Optional moves, with KeySearch's rules (see Useful, RequiredDoesTheSame,
  // UnobservedWriteRedundant there).
  auto cas_available = [&](int32_t state, bool unobserved_result_only) {
    const auto it = cas_classes_by_expected_.find(state);
    if (it == cas_classes_by_expected_.end()) return false;
    for (const int32_t cls : it->second) {
      const int32_t i = Available(c, cls, now_ns);
      if (i >= 0 && (!unobserved_result_only || ops_[i].b == kUnobserved)) return true;
    }
    return false;
  };
  auto useful = [&](int32_t state) {
    for (const int32_t a : wanted) {
      if (a == state) return true;
    }
    for (const int32_t a : failed_cas_expected) {
      if (a != state) return true;
    }
    return cas_available(state, false);
  };
  std::vector<int32_t> candidates = unconditional_classes_;
  const auto it = cas_classes_by_expected_.find(c.state);
  if (it != cas_classes_by_expected_.end()) {
    candidates.insert(candidates.end(), it->second.begin(), it->second.end());
  }
  for (const int32_t cls : candidates) {
    const int32_t i = Available(c, cls, now_ns);
    if (i < 0) continue;
    const KeyOp& op = ops_[i];
    if (!Apply(op, true, c.state, &next_state)) continue;
    if (after_optional && Overwrites(op)) continue;
    if (Overwrites(op) && std::find(required_results.begin(), required_results.end(), next_state) !=
                              required_results.end()) {
      continue;
    }
    if (op.kind == StepKind::kWrite && op.a == kUnobserved && cas_available(c.state, true)) {
      continue;
    }
    if (!useful(next_state)) continue;
    Step(c, i, cls, next_state, x, now_ns);
  }
}

void FrontierSearch::Step(const Config& c, int32_t i, int32_t cls, int32_t next_state, int32_t x,
                          int64_t now_ns) {
  Config n;
  n.state = next_state;
  n.open_done = c.open_done;
  n.counts = c.counts;
  path_.push_back(PathNode{c.path, i});
  n.path = static_cast<int32_t>(path_.size()) - 1;
  if (cls < 0) {
    if (i == x) {  // x is linearized: this configuration explains its return
      Emit(std::move(n));
      return;
    }
    n.open_done.insert(std::upper_bound(n.open_done.begin(), n.open_done.end(), i), i);
    Explore(n, false, x, now_ns);
    return;
  }
  const int32_t slot = classes_[cls].slot;
  if (slot >= 0) {
    const uint64_t tag = static_cast<uint64_t>(slot) << 32;
    auto w = std::lower_bound(n.counts.begin(), n.counts.end(), tag);
    if (w != n.counts.end() && (*w >> 32) == static_cast<uint64_t>(slot)) {
      ++*w;
    } else {
      n.counts.insert(w, tag | 1);
    }
  }
  Explore(n, true, x, now_ns);
}

void FrontierSearch::Emit(Config c) {
  std::vector<int32_t> key = c.open_done;
  key.push_back(c.state);
  std::vector<Config>& group = next_[key];
  for (const Config& old : group) {
    if (CountsBelow(old.counts.data(), old.counts.size(), c.counts.data(), c.counts.size())) {
      return;
    }
  }
  group.erase(std::remove_if(group.begin(), group.end(),
                             [&](const Config& old) {
                               return CountsBelow(c.counts.data(), c.counts.size(),
                                                  old.counts.data(), old.counts.size());
                             }),
              group.end());
  group.push_back(std::move(c));
}

void FrontierSearch::RecordLongest(int32_t x, int64_t now_ns) {
  // The configuration that got furthest: the most open ops linearized.
  const Config* best = &frontier_.front();
  for (const Config& c : frontier_) {
    if (c.open_done.size() > best->open_done.size()) best = &c;
  }
  longest_.state = best->state;
  longest_.prefix.clear();
  for (int32_t n = best->path; n >= 0; n = path_[n].parent) longest_.prefix.push_back(path_[n].op);
  std::reverse(longest_.prefix.begin(), longest_.prefix.end());
  longest_.required_done = 0;
  std::set<int32_t> used(longest_.prefix.begin(), longest_.prefix.end());
  for (const int32_t i : longest_.prefix) {
    if (ops_[i].return_ns != kNeverCompleted) ++longest_.required_done;
  }
  longest_.blocked.clear();
  std::vector<int32_t> pending;
  for (const int32_t i : open_) {
    if (i != x && !Contains(best->open_done, i)) pending.push_back(i);
  }
  std::sort(pending.begin(), pending.end(), [&](int32_t a, int32_t b) {
    return std::make_pair(ops_[a].invoke_ns, a) < std::make_pair(ops_[b].invoke_ns, b);
  });
  longest_.blocked = pending;
  longest_.blocked.push_back(x);
  longest_.optional_pending.clear();
  for (const OptionalClass& k : classes_) {
    for (const int32_t i : k.ops) {
      if (ops_[i].invoke_ns > now_ns) break;
      if (used.count(i) == 0) longest_.optional_pending.push_back(i);
    }
  }
  std::sort(longest_.optional_pending.begin(), longest_.optional_pending.end(),
            [&](int32_t a, int32_t b) { return ops_[a].op->id < ops_[b].op->id; });
}

// ---------------------------------------------------------------------------
// Preparing a key's operations, and explaining a violation.

struct PreparedKey {
  std::vector<KeyOp> ops;
  std::vector<int32_t> required;
  std::vector<int32_t> optional;
  bool unique_values = true;  // no value is written twice on the key
  int64_t origin_ns = 0;
};

PreparedKey Prepare(const std::vector<const Operation*>& history) {
  PreparedKey out;
  out.origin_ns = history.empty() ? 0 : history.front()->invoke_ns;
  for (const Operation* op : history) out.origin_ns = std::min(out.origin_ns, op->invoke_ns);

  // Which values are referenced (read or compared against), and which
  // operations (ok or indeterminate, never failed) write each value.
  std::set<std::string> referenced;
  std::unordered_map<std::string, std::vector<const Operation*>> writers;
  bool any_ok_failed_cas = false;
  for (const Operation* op : history) {
    if (op->outcome == Outcome::kFailed) continue;
    const bool ok = op->outcome == Outcome::kOk;
    if (op->type == OpType::kRead && ok && op->read_value.has_value()) {
      referenced.insert(*op->read_value);
    }
    if (op->type == OpType::kCas && op->expected.has_value()) referenced.insert(*op->expected);
    if (op->type == OpType::kCas && ok && !op->cas_succeeded) any_ok_failed_cas = true;
    const bool writes =
        op->type == OpType::kWrite || (op->type == OpType::kCas && (!ok || op->cas_succeeded));
    if (writes && op->value.has_value()) writers[*op->value].push_back(op);
  }
  bool unique_values = true;
  for (const auto& [value, ops] : writers) unique_values = unique_values && ops.size() == 1;
  out.unique_values = unique_values;

  // Observations: a value an ok read returned, or an ok cas swapped away,
  // must have been written before that operation completed. With unique
  // values, an indeterminate write or cas of an observed value therefore took
  // effect (a cas: succeeded) by that deadline, and such a cas in turn
  // observes its expected value: propagate to a fixpoint (a chain per value).
  struct Observation {
    int64_t deadline_ns;
    const Operation* by;
  };
  std::unordered_map<std::string, Observation> observed;
  std::vector<std::string> work;
  auto observe = [&](const std::string& v, int64_t deadline_ns, const Operation* by) {
    auto [it, inserted] = observed.emplace(v, Observation{deadline_ns, by});
    if (!inserted && deadline_ns >= it->second.deadline_ns) return;
    it->second = Observation{deadline_ns, by};
    work.push_back(v);
  };
  for (const Operation* op : history) {
    if (op->outcome != Outcome::kOk) continue;
    if (op->type == OpType::kRead && op->read_value.has_value()) {
      observe(*op->read_value, op->complete_ns, op);
    }
    if (op->type == OpType::kCas && op->cas_succeeded && op->expected.has_value()) {
      observe(*op->expected, op->complete_ns, op);
    }
  }
  while (unique_values && !work.empty()) {
    const std::string v = work.back();
    work.pop_back();
    auto w = writers.find(v);
    if (w == writers.end()) continue;
    const Operation* writer = w->second.front();
    if (writer->outcome == Outcome::kIndeterminate && writer->type == OpType::kCas &&
        writer->expected.has_value()) {
      observe(*writer->expected, observed[v].deadline_ns, writer);
    }
  }

  std::map<std::string, int32_t> ids;
  for (const std::string& v : referenced) {
    ids.emplace(v, kFirstValue + static_cast<int32_t>(ids.size()));
  }
  auto id_of = [&](const std::optional<std::string>& v) -> int32_t {
    if (!v.has_value()) return kAbsent;
    auto it = ids.find(*v);
    return it == ids.end() ? kUnobserved : it->second;
  };

  for (const Operation* op : history) {
    if (op->outcome == Outcome::kFailed) continue;
    KeyOp k;
    k.op = op;
    k.invoke_ns = op->invoke_ns;
    k.return_ns = op->complete_ns;
    const auto index = static_cast<int32_t>(out.ops.size());
    if (op->outcome == Outcome::kOk) {
      switch (op->type) {
        case OpType::kRead:
          k.kind = StepKind::kRead;
          k.a = id_of(op->read_value);
          break;
        case OpType::kWrite:
          k.kind = StepKind::kWrite;
          k.a = id_of(op->value);
          break;
        case OpType::kDelete:
          k.kind = StepKind::kDelete;
          break;
        case OpType::kCas:
          k.kind = op->cas_succeeded ? StepKind::kCasOk : StepKind::kCasFailed;
          k.a = id_of(op->expected);
          k.b = id_of(op->value);
          break;
      }
      out.ops.push_back(k);
      out.required.push_back(index);
      continue;
    }
    // Indeterminate.
    k.return_ns = kNeverCompleted;
    if (op->type == OpType::kRead) continue;
    if (op->type == OpType::kDelete) {
      k.kind = StepKind::kDelete;
      out.ops.push_back(k);
      out.optional.push_back(index);
      continue;
    }
    const bool is_cas = op->type == OpType::kCas;
    k.kind = is_cas ? StepKind::kCasMaybe : StepKind::kWrite;
    k.a = is_cas ? id_of(op->expected) : id_of(op->value);
    k.b = is_cas ? id_of(op->value) : 0;
    const auto seen = op->value.has_value() ? observed.find(*op->value) : observed.end();
    if (unique_values && seen != observed.end()) {
      // It took effect (a cas: succeeded) before its value was observed.
      k.kind = is_cas ? StepKind::kCasOk : StepKind::kWrite;
      k.return_ns = seen->second.deadline_ns;
      k.observer = seen->second.by;
      out.ops.push_back(k);
      out.required.push_back(index);
    } else if (unique_values && seen == observed.end() && !any_ok_failed_cas) {
      // Whether it took effect is invisible: until the next write the
      // register would hold a value that nothing reads or swaps away.
      continue;
    } else {
      out.ops.push_back(k);
      out.optional.push_back(index);
    }
  }
  // Required ops in invoke order: the order of the bits in the cache key.
  std::sort(out.required.begin(), out.required.end(), [&](int32_t x, int32_t y) {
    return std::make_tuple(out.ops[x].invoke_ns, out.ops[x].return_ns, x) <
           std::make_tuple(out.ops[y].invoke_ns, out.ops[y].return_ns, y);
  });
  return out;
}

// The value an operation leaves in the register, if it changes it.
std::optional<std::optional<std::string>> Written(const KeyOp& k) {
  switch (k.kind) {
    case StepKind::kWrite:
    case StepKind::kCasOk:
    case StepKind::kCasMaybe:
      return k.op->value;
    case StepKind::kDelete:
      return std::optional<std::string>();
    case StepKind::kRead:
    case StepKind::kCasFailed:
      return std::nullopt;
  }
  return std::nullopt;
}

class Explainer {
 public:
  Explainer(const std::vector<const Operation*>& history, const PreparedKey& prepared)
      : history_(history), prepared_(prepared) {}

  Violation Explain(const std::string& key, const Longest& longest) const;

 private:
  // "'v1' (written by #3)", "'zz' (written by no operation that took effect)".
  std::string DescribeValue(const std::optional<std::string>& v) const {
    if (!v.has_value()) return "absent";
    std::vector<std::string> by;
    std::vector<std::string> failed_by;
    for (const Operation* op : history_) {
      if ((op->type == OpType::kWrite || op->type == OpType::kCas) && op->value == v) {
        (op->outcome == Outcome::kFailed ? failed_by : by).push_back(absl::StrCat("#", op->id));
      }
    }
    if (!by.empty())
      return absl::StrCat(FormatValue(v), " (written by ", absl::StrJoin(by, ", "), ")");
    if (!failed_by.empty()) {
      return absl::StrCat(FormatValue(v), " (written only by failed ",
                          absl::StrJoin(failed_by, ", "), ")");
    }
    return absl::StrCat(FormatValue(v), " (written by no operation)");
  }

  // "; #5, its only writer, was invoked after it completed" when no writer
  // of `v` was invoked before `reader` completed.
  std::string WrittenTooLate(const Operation& reader, const std::optional<std::string>& v) const {
    if (!v.has_value()) return "";
    std::vector<std::string> late;
    for (const Operation* op : history_) {
      if ((op->type == OpType::kWrite || op->type == OpType::kCas) && op->value == v &&
          op->outcome != Outcome::kFailed) {
        if (op->invoke_ns <= reader.complete_ns) return "";
        late.push_back(absl::StrCat("#", op->id));
      }
    }
    if (late.empty()) return "";
    return absl::StrCat("; ", absl::StrJoin(late, ", "),
                        late.size() == 1 ? ", its writer," : ", its writers,",
                        " invoked only after it completed");
  }

  std::string Line(const KeyOp& k) const { return FormatOperation(*k.op, prepared_.origin_ns); }

  const std::vector<const Operation*>& history_;
  const PreparedKey& prepared_;
};

Violation Explainer::Explain(const std::string& key, const Longest& longest) const {
  constexpr size_t kPrefixShown = 5;
  constexpr size_t kPrefixIds = 3;
  constexpr size_t kOptionalShown = 8;
  const std::vector<KeyOp>& ops = prepared_.ops;
  Violation v;
  v.key = key;

  // The register after the prefix, and who wrote it.
  std::optional<std::string> current;
  const KeyOp* writer = nullptr;
  for (const int32_t i : longest.prefix) {
    if (auto w = Written(ops[i])) {
      current = *w;
      writer = &ops[i];
    }
  }
  const std::string current_text =
      writer == nullptr ? "absent (no operation changed it yet)"
                        : absl::StrCat(FormatValue(current), " (left by #", writer->op->id, ")");

  std::string& out = v.explanation;
  absl::StrAppend(&out, "key ", FormatValue(key), ": not linearizable\n");
  absl::StrAppend(&out, "longest linearizable prefix found: ", longest.prefix.size(),
                  " operations (", longest.required_done, " of ", prepared_.required.size(),
                  " that must take effect); times relative to the key's first operation\n");
  const size_t shown = std::min(kPrefixShown, longest.prefix.size());
  if (shown < longest.prefix.size()) {
    absl::StrAppend(&out, "  ... ", longest.prefix.size() - shown, " earlier operations\n");
  }
  for (size_t j = longest.prefix.size() - shown; j < longest.prefix.size(); ++j) {
    absl::StrAppend(&out, "  ", Line(ops[longest.prefix[j]]), "\n");
  }
  absl::StrAppend(&out, "register after it: ", current_text, "\n");
  absl::StrAppend(&out, "none of these can come next:\n");
  int32_t state = longest.state;
  for (const int32_t i : longest.blocked) {
    const KeyOp& k = ops[i];
    v.op_ids.push_back(k.op->id);
    absl::StrAppend(&out, "  ", Line(k), "\n      ");
    int32_t next = 0;
    if (k.observer != nullptr && k.return_ns < k.invoke_ns) {
      absl::StrAppend(&out, "indeterminate, yet its value was observed by #", k.observer->id,
                      ", which completed before it was invoked\n");
      continue;
    }
    if (k.observer != nullptr) {
      absl::StrAppend(&out, "(indeterminate, but #", k.observer->id,
                      " observed its value, so it took effect) ");
    }
    if (Apply(k, false, state, &next)) {
      absl::StrAppend(&out, "could come next, but then the rest cannot be linearized\n");
      continue;
    }
    switch (k.kind) {
      case StepKind::kRead:
        absl::StrAppend(&out, "reads ", DescribeValue(k.op->read_value),
                        ", but the register holds ", current_text,
                        WrittenTooLate(*k.op, k.op->read_value), "\n");
        break;
      case StepKind::kCasOk:
        absl::StrAppend(&out, "swapped expecting ", DescribeValue(k.op->expected),
                        ", but the register holds ", current_text,
                        WrittenTooLate(*k.op, k.op->expected), "\n");
        break;
      case StepKind::kCasFailed:
        absl::StrAppend(&out, "did not swap, but the register holds ", current_text,
                        ", the expected value\n");
        break;
      default:
        absl::StrAppend(&out, "cannot be applied\n");
        break;
    }
  }
  if (!longest.optional_pending.empty()) {
    absl::StrAppend(&out,
                    "indeterminate operations that could also have taken effect here (tried):");
    for (size_t j = 0; j < longest.optional_pending.size() && j < kOptionalShown; ++j) {
      absl::StrAppend(&out, " #", ops[longest.optional_pending[j]].op->id);
    }
    if (longest.optional_pending.size() > kOptionalShown) absl::StrAppend(&out, " ...");
    absl::StrAppend(&out, "\n");
  }
  auto add_id = [&](int64_t id) {
    if (std::find(v.op_ids.begin(), v.op_ids.end(), id) == v.op_ids.end()) v.op_ids.push_back(id);
  };
  const size_t ids = std::min(kPrefixIds, longest.prefix.size());
  for (size_t j = longest.prefix.size() - ids; j < longest.prefix.size(); ++j) {
    add_id(ops[longest.prefix[j]].op->id);
  }
  if (writer != nullptr) add_id(writer->op->id);
  return v;
}

}  // namespace

namespace internal {

CheckResult CheckLinearizableWith(const History& history, const CheckOptions& options,
                                  Engine engine) {
  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) by_key[op.key].push_back(&op);
  CheckResult result;
  for (const auto& [key, ops] : by_key) {
    const PreparedKey prepared = Prepare(ops);
    KeyResult key_result;
    key_result.key = key;
    key_result.ops = ops.size();
    Verdict verdict = Verdict::kUnknown;
    Longest longest;
    if (engine != Engine::kFrontier) {
      // The depth-first search gets a quarter of the budget when the
      // frontier search may take over.
      const int64_t budget = engine == Engine::kDepthFirst
                                 ? options.max_states_per_key
                                 : std::max<int64_t>(1, options.max_states_per_key / 4);
      KeySearch search(prepared.ops, prepared.required, prepared.optional, prepared.unique_values,
                       budget);
      verdict = search.Run();
      key_result.states_explored += search.states_explored();
      longest = search.longest();
    }
    if (verdict == Verdict::kUnknown && engine != Engine::kDepthFirst) {
      FrontierSearch search(
          prepared.ops, prepared.required, prepared.optional, prepared.unique_values,
          std::max<int64_t>(1, options.max_states_per_key - key_result.states_explored));
      verdict = search.Run();
      key_result.states_explored += search.states_explored();
      longest = search.longest();
    }
    key_result.linearizable = verdict == Verdict::kLinearizable;
    key_result.unknown = verdict == Verdict::kUnknown;
    result.keys.push_back(key_result);
    if (verdict == Verdict::kViolation) {
      result.violations.push_back(Explainer(ops, prepared).Explain(key, longest));
    }
  }
  return result;
}

}  // namespace internal

CheckResult CheckLinearizable(const History& history, const CheckOptions& options) {
  return internal::CheckLinearizableWith(history, options, internal::Engine::kAuto);
}

}  // namespace raftkv::chaos
