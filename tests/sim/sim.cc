#include "tests/sim/sim.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/rng.h"
#include "src/raft/codec.h"
#include "src/raft/raw_node.h"
#include "src/raft/storage.h"
#include "tests/sim/checker.h"
#include "tests/sim/network.h"

namespace raftkv::sim {

using raft::ConfChange;
using raft::ConfChangeType;
using raft::ConfState;
using raft::Entry;
using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Payload;
using raft::RawNode;
using raft::StateRole;
using raft::Term;

namespace {

constexpr size_t kTraceTail = 60;
constexpr char kChaosPhase[] = "chaos";
constexpr char kHealPhase[] = "heal";
// A heal-phase drain that does not go quiet within this many steps is a
// livelock (messages that keep producing messages without a tick).
constexpr int64_t kMaxDrainSteps = 200000;

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return h;
}

// The replicated state machine: a digest chained over every applied entry, so
// two nodes have equal digests at index i exactly when they applied the same
// entries 1..i (up to hash collisions). Volatile: rebuilt from the snapshot in
// storage after a crash.
struct StateMachine {
  Index applied = 0;
  Term term = 0;
  uint64_t digest = 0;

  void Apply(const Entry& e) {
    digest = Mix(digest ^ Mix(e.index * 31 + e.term) ^
                 Mix(Fnv(e.data.view()) + static_cast<uint64_t>(e.type)));
    applied = e.index;
    term = e.term;
  }
  std::string Encode() const { return absl::StrCat("sm:", applied, ":", term, ":", digest); }
  static bool Decode(std::string_view s, StateMachine* out) {
    std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(s), ':');
    return parts.size() == 4 && parts[0] == "sm" && absl::SimpleAtoi(parts[1], &out->applied) &&
           absl::SimpleAtoi(parts[2], &out->term) && absl::SimpleAtoi(parts[3], &out->digest);
  }
};

// Fault and workload rates of one run, drawn from the seed. Weights are
// relative: each step picks one action with probability weight / total.
struct Profile {
  int election_tick = 10;
  int heartbeat_tick = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  bool disable_forwarding = false;
  // Leaders defer commit-only appends; each tick broadcasts what is pending
  // (the server's timer, in sim time).
  bool defer_commit_broadcast = false;
  // raft::Config::report_leader_log_durable: a leader's entries are written
  // unsynced (a crash loses them) and reported durable by a later sync step,
  // as the server's log syncer does.
  bool report_leader_durable = false;
  double w_sync = 2;
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight = 256;
  NetworkFaults net;

  double w_tick = 1;
  double w_deliver = 4;
  double w_ready = 4;
  double w_propose = 0.1;
  double w_read = 0.03;
  double w_transfer = 0.005;
  double w_snapshot = 0;
  double w_conf_change = 0;
  double w_crash = 0.003;
  double w_crash_mid_ready = 0.0015;
  double w_restart = 0.02;
  double w_partition = 0.002;
  double w_heal = 0.01;
  double leader_bias = 0.5;  // chance a crash or isolation targets the leader
  // Reactive nemesis (adversarial scenario): chance to isolate a leader as soon
  // as it is elected / as soon as its commit index advances.
  double isolate_new_leader = 0;
  double isolate_on_commit = 0;
  int max_extra_nodes = 2;  // conf changes may add up to this many new ids
};

double Pick(Rng& rng, std::initializer_list<double> values) {
  size_t i = rng.Uniform(values.size());
  return *(values.begin() + i);
}

Profile DrawProfile(Scenario scenario, int nodes, Rng& rng) {
  Profile p;
  if (scenario == Scenario::kAdversarial) {
    p.heartbeat_tick = 1;
    p.pre_vote = rng.Chance(0.5);
    p.check_quorum = rng.Chance(0.5);
    p.max_size_per_msg = 1;  // one entry per kApp: followers ack partial logs
    p.max_inflight = 256;
    p.net = NetworkFaults{0.05, 0.0, static_cast<uint64_t>(2 * nodes), 0.2};
    p.w_propose = 0.4;
    p.w_read = 0.0;
    p.w_transfer = 0.0;
    p.w_crash = 0.02;
    p.w_crash_mid_ready = 0.005;
    p.w_restart = 0.05;
    p.w_partition = 0.01;
    p.w_heal = 0.03;
    p.leader_bias = 0.9;
    p.isolate_new_leader = 0.3;
    p.isolate_on_commit = 0.2;
    p.defer_commit_broadcast = rng.Chance(0.5);
    return p;
  }
  if (scenario == Scenario::kFigure8) {
    // Faults come from the script only.
    p.pre_vote = rng.Chance(0.5);
    p.check_quorum = rng.Chance(0.5);
    p.max_size_per_msg = 1;
    p.net = NetworkFaults{0.0, 0.0, static_cast<uint64_t>(nodes), 0.2};
    p.w_propose = 0.02;
    p.w_read = 0;
    p.w_transfer = 0;
    p.w_crash = 0;
    p.w_crash_mid_ready = 0;
    p.w_restart = 0;
    p.w_partition = 0;
    p.w_heal = 0;
    return p;
  }
  p.heartbeat_tick = rng.Chance(0.5) ? 1 : 2;
  p.pre_vote = rng.Chance(0.75);
  p.check_quorum = rng.Chance(0.75);
  p.disable_forwarding = rng.Chance(0.1);
  p.max_size_per_msg = rng.Chance(0.3) ? 1 : (rng.Chance(0.5) ? 200 : 1 << 20);
  p.max_inflight = rng.Chance(0.3) ? 2 : 256;
  p.net.drop = Pick(rng, {0.0, 0.01, 0.05, 0.1});
  p.net.duplicate = Pick(rng, {0.0, 0.02, 0.05});
  p.net.max_delay = static_cast<uint64_t>(nodes) * static_cast<uint64_t>(Pick(rng, {0, 1, 3}));
  p.net.reorder = Pick(rng, {0.0, 0.2});
  p.w_propose = Pick(rng, {0.05, 0.1, 0.3});
  p.w_snapshot = rng.Chance(0.6) ? 0.01 : 0.0;
  p.w_conf_change = rng.Chance(0.35) ? 0.01 : 0.0;
  p.w_crash = Pick(rng, {0.001, 0.003, 0.008});
  p.w_crash_mid_ready = p.w_crash / 2;
  p.w_partition = Pick(rng, {0.0, 0.002, 0.005});
  p.defer_commit_broadcast = rng.Chance(0.5);
  return p;
}

std::string RoleName(StateRole r) { return raft::StateRoleName(r); }

std::string ConfChangeName(const ConfChange& cc) {
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      return absl::StrCat("add-voter ", cc.node_id);
    case ConfChangeType::kRemoveNode:
      return absl::StrCat("remove ", cc.node_id);
    case ConfChangeType::kAddLearnerNode:
      return absl::StrCat("add-learner ", cc.node_id);
  }
  return "?";
}

bool Contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

struct SimNode {
  NodeId id = raft::kNoNode;
  // Durable: survives crashes.
  std::unique_ptr<raft::MemoryStorage> storage;
  bool decommissioned = false;  // removed from the cluster and shut down for good
  // The durable part of storage while a leader's unsynced writes are in it
  // (null: everything is synced); a crash goes back to it.
  std::unique_ptr<raft::MemoryStorage> synced;
  // Volatile: lost on a crash.
  // The newest unsynced leader write (term, last index), to report once synced.
  std::optional<std::pair<Term, Index>> unsynced;
  std::unique_ptr<RawNode> raw;  // null while crashed
  uint64_t incarnation = 0;
  StateMachine sm;
  StateRole role = StateRole::kFollower;
  Term term = 0;
  Index commit = 0;

  bool alive() const { return raw != nullptr; }
};

struct PendingRead {
  NodeId node = raft::kNoNode;
  uint64_t incarnation = 0;
  Index required = 0;
};

struct PendingConfChange {
  ConfChange cc;
  uint64_t proposed_at = 0;
};

class Simulator {
 public:
  Simulator(uint64_t seed, const SimOptions& options, bool tracing)
      : seed_(seed), opts_(options), tracing_(tracing), rng_(Mix(seed) ^ 0x5eed), net_(&rng_) {
    nodes_count_ = opts_.nodes != 0 ? opts_.nodes : (seed % 2 == 1 ? 3 : 5);
    if (opts_.scenario != Scenario::kRandom) nodes_count_ = 5;
    p_ = DrawProfile(opts_.scenario, nodes_count_, rng_);
    // From the seed, not rng_, so the profiles of earlier seeds are unchanged.
    const uint64_t durable_draw = Mix(seed ^ 0xd17ab1e);
    p_.report_leader_durable = (durable_draw & 1) != 0;
    // Rare syncs leave a leader's writes unsynced for long (crashes lose them).
    p_.w_sync = (durable_draw >> 1) % 2 == 0 ? 0.2 : 2;
    if (p_.w_conf_change == 0) p_.max_extra_nodes = 0;
    liveness_rounds_ = opts_.liveness_rounds > 0 ? opts_.liveness_rounds : 50 * p_.election_tick;
  }

  SimResult Run();

 private:
  template <typename F>
  void Trace(F&& describe) {
    if (!tracing_) return;
    std::string line = absl::StrCat("[", step_, " t", now_, " ", phase_, "] ", describe());
    if (opts_.trace != nullptr) *opts_.trace << line << "\n";
    tail_.push_back(std::move(line));
    if (tail_.size() > kTraceTail) tail_.pop_front();
  }
  bool failed() const { return chk_.failed(); }

  // Set-up and node lifecycle.
  void Bootstrap();
  void StartNode(SimNode& n);
  void Crash(SimNode& n, const char* why);
  void ProcessDeferred();

  // Actions (each is one step).
  void ChaosStep();
  void Tick(SimNode& n);
  void Deliver();
  void HandleReady(SimNode& n, bool crash_after_persist);
  // The node's pending unsynced writes become durable and are reported.
  void Sync(SimNode& n);
  // Every synced write (and a snapshot) makes earlier unsynced ones durable.
  void MarkAllSynced(SimNode& n) { n.synced.reset(); }
  void Propose(SimNode& n, const std::string& data);
  void RequestRead(SimNode& n);
  void TransferLeader();
  void TakeSnapshot(SimNode& n);
  void ProposeConfChange();
  void CrashSome();
  void CrashMidReady();
  void RestartSome();
  void PartitionSome();
  void Isolate(SimNode& n);
  void HealSome();

  // Handling a Ready.
  void Apply(SimNode& n, const Entry& e);
  void OnConfChangeApplied(SimNode& n, const Entry& e, const ConfChange& cc, const ConfState& cs);
  void AfterInput(SimNode& n);
  void CheckCommitDurableOnMajority(SimNode& n, Index c);

  // Heal phase.
  void Heal();
  bool DrainWork();
  bool LivenessReached(std::string* why);

  // Helpers.
  std::vector<SimNode*> AliveNodes();
  std::vector<SimNode*> NodesWithReady();
  std::vector<SimNode*> NodesWithUnsynced();
  SimNode* CurrentLeader();
  SimNode* RandomOf(const std::vector<SimNode*>& v) {
    return v.empty() ? nullptr : v[rng_.Uniform(v.size())];
  }
  size_t PickWeighted(const std::vector<double>& w);
  std::string ClusterSummary();

  const uint64_t seed_;
  const SimOptions opts_;
  const bool tracing_;
  Rng rng_;
  SimNetwork net_;
  InvariantChecker chk_;
  Profile p_;
  int nodes_count_ = 3;
  int liveness_rounds_ = 300;

  std::map<NodeId, SimNode> nodes_;
  ConfState initial_conf_;
  ConfState latest_conf_;  // after the newest conf change applied anywhere
  NodeId next_node_id_ = 1;
  std::optional<PendingConfChange> pending_cc_;
  std::set<Index> conf_change_indexes_;  // conf change entries already acted on
  std::vector<NodeId> to_create_;
  std::vector<NodeId> to_decommission_;
  std::map<std::string, PendingRead> reads_;

  uint64_t now_ = 0;  // network time: +1 per node tick
  int64_t step_ = 0;
  const char* phase_ = kChaosPhase;
  uint64_t next_proposal_ = 0;
  uint64_t next_read_ = 0;
  uint64_t next_cc_ = 0;
  Index probe_index_ = 0;  // where the first heal-phase probe was applied

  // The figure-8 director (Scenario::kFigure8).
  struct Figure8 {
    int stage = 0;
    int64_t stage_start = 0;
    NodeId a = 0, b = 0, e = 0, l = 0;
    Term a_term = 0, e_term = 0;
    Index i = 0;  // the first of A's new entries
    int attempts = 0;
  } f8_;
  void Figure8Step();
  void Figure8Stage(int stage) {
    f8_.stage = stage;
    f8_.stage_start = step_;
    Trace([&] { return absl::StrCat("FIGURE-8 stage ", stage); });
  }
  // Cuts every link between the two sides.
  void Split(const std::set<NodeId>& side) {
    for (auto& [x, nx] : nodes_) {
      for (auto& [y, ny] : nodes_) {
        if (side.count(x) > 0 && side.count(y) == 0) {
          net_.Block(x, y);
          net_.Block(y, x);
        }
      }
    }
  }

  SimStats stats_;
  std::deque<std::string> tail_;
};

// ---------------------------------------------------------------------------
// Lifecycle.

void Simulator::Bootstrap() {
  for (int i = 0; i < nodes_count_; ++i) initial_conf_.voters.push_back(next_node_id_++);
  latest_conf_ = initial_conf_;
  Trace([&] {
    return absl::StrCat(
        "seed ", seed_, " scenario ", ScenarioName(opts_.scenario), " nodes ", nodes_count_,
        " pre_vote ", p_.pre_vote, " check_quorum ", p_.check_quorum, " defer_commit ",
        p_.defer_commit_broadcast, " max_msg ", p_.max_size_per_msg, " inflight ", p_.max_inflight,
        " drop ", p_.net.drop, " dup ", p_.net.duplicate, " delay<=", p_.net.max_delay, " reorder ",
        p_.net.reorder, " snapshots ", p_.w_snapshot > 0, " conf_changes ", p_.w_conf_change > 0,
        " report_durable ", p_.report_leader_durable, " w_sync ", p_.w_sync);
  });
  net_.set_faults(p_.net);
  for (NodeId id : initial_conf_.voters) {
    SimNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<raft::MemoryStorage>();
    n.storage->Bootstrap(initial_conf_);
    StartNode(n);
  }
}

void Simulator::StartNode(SimNode& n) {
  raft::Snapshot snap = *n.storage->GetSnapshot();
  raft::Config c;
  c.id = n.id;
  c.election_tick = p_.election_tick;
  c.heartbeat_tick = p_.heartbeat_tick;
  c.storage = n.storage.get();
  c.applied = snap.metadata.index;
  c.max_size_per_msg = p_.max_size_per_msg;
  c.max_inflight_msgs = p_.max_inflight;
  c.check_quorum = p_.check_quorum;
  c.pre_vote = p_.pre_vote;
  c.disable_proposal_forwarding = p_.disable_forwarding;
  c.defer_commit_broadcast = p_.defer_commit_broadcast;
  c.report_leader_log_durable = p_.report_leader_durable;
  c.seed = rng_.Next();
  auto raw = RawNode::Create(c);
  if (!raw.ok()) {
    chk_.Fail("harness", absl::StrCat("node ", n.id, " cannot start: ", raw.status().ToString()));
    return;
  }
  n.raw = std::move(*raw);
  ++n.incarnation;
  n.sm = StateMachine{};
  if (!snap.IsEmpty() && !StateMachine::Decode(snap.data.view(), &n.sm)) {
    chk_.Fail("harness", absl::StrCat("node ", n.id, " has an unreadable snapshot"));
    return;
  }
  n.role = StateRole::kFollower;
  n.term = 0;
  n.commit = 0;
  Trace([&] {
    return absl::StrCat("start node ", n.id, " (incarnation ", n.incarnation, ") applied ",
                        c.applied, " persisted ",
                        raft::Describe(n.storage->GetInitialState()->hard_state));
  });
  AfterInput(n);
}

void Simulator::Crash(SimNode& n, const char* why) {
  n.raw.reset();
  n.unsynced.reset();
  if (n.synced != nullptr) {
    n.storage = std::move(n.synced);
    chk_.OnUnsyncedWritesLost(n.id, n.storage->GetInitialState()->hard_state);
    Trace([&] {
      return absl::StrCat("node ", n.id, " loses its unsynced writes: last index ",
                          *n.storage->LastIndex());
    });
  }
  chk_.OnCrash(n.id);
  ++stats_.crashes;
  Trace([&] { return absl::StrCat("CRASH node ", n.id, " (", why, ")"); });
}

// Node creation and removal wait until the step that caused them is over, so
// no node disappears in the middle of its own Ready.
void Simulator::ProcessDeferred() {
  for (NodeId id : to_create_) {
    if (nodes_.count(id) > 0) continue;
    SimNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<raft::MemoryStorage>();
    // A joining node knows the cluster's bootstrap membership and learns the
    // rest from the log or a snapshot, like the founders.
    n.storage->Bootstrap(initial_conf_);
    Trace([&] { return absl::StrCat("new node ", id, " joins"); });
    StartNode(n);
  }
  to_create_.clear();
  for (NodeId id : to_decommission_) {
    auto it = nodes_.find(id);
    if (it == nodes_.end() || it->second.decommissioned) continue;
    if (it->second.alive()) Crash(it->second, "removed from the cluster");
    it->second.decommissioned = true;
  }
  to_decommission_.clear();
}

// ---------------------------------------------------------------------------
// Chaos phase.

size_t Simulator::PickWeighted(const std::vector<double>& w) {
  double total = 0;
  for (double x : w) total += x;
  double r = static_cast<double>(rng_.Next() >> 11) * 0x1.0p-53 * total;
  for (size_t i = 0; i < w.size(); ++i) {
    if (r < w[i]) return i;
    r -= w[i];
  }
  return w.size() - 1;
}

void Simulator::ChaosStep() {
  enum Action {
    kTick,
    kDeliver,
    kReady,
    kPropose,
    kRead,
    kTransfer,
    kSnapshot,
    kConfChange,
    kCrash,
    kCrashMidReady,
    kRestart,
    kPartition,
    kHeal,
    kSync,
    kNumActions
  };
  std::vector<SimNode*> alive = AliveNodes();
  std::vector<SimNode*> ready = NodesWithReady();
  bool any_crashed = false;
  for (auto& [id, n] : nodes_) any_crashed |= !n.alive() && !n.decommissioned;

  std::vector<double> w(kNumActions, 0.0);
  w[kTick] = alive.empty() ? 0 : p_.w_tick;
  w[kDeliver] = net_.HasDue(now_) ? p_.w_deliver : 0;
  w[kReady] = ready.empty() ? 0 : p_.w_ready;
  w[kPropose] = alive.empty() ? 0 : p_.w_propose;
  w[kRead] = alive.empty() ? 0 : p_.w_read;
  w[kTransfer] = alive.empty() ? 0 : p_.w_transfer;
  w[kSnapshot] = alive.empty() ? 0 : p_.w_snapshot;
  w[kConfChange] = alive.empty() ? 0 : p_.w_conf_change;
  w[kCrash] = alive.empty() ? 0 : p_.w_crash;
  w[kCrashMidReady] = ready.empty() ? 0 : p_.w_crash_mid_ready;
  w[kRestart] = any_crashed ? p_.w_restart : 0;
  w[kPartition] = net_.Partitioned() ? 0 : p_.w_partition;
  w[kHeal] = net_.Partitioned() ? p_.w_heal : 0;
  std::vector<SimNode*> unsynced = NodesWithUnsynced();
  w[kSync] = unsynced.empty() ? 0 : p_.w_sync;
  double total = 0;
  for (double x : w) total += x;
  if (total == 0) {
    // Everything is down and nothing is in flight: time passes.
    ++now_;
    return;
  }

  switch (PickWeighted(w)) {
    case kTick:
      Tick(*RandomOf(alive));
      break;
    case kDeliver:
      Deliver();
      break;
    case kReady:
      HandleReady(*RandomOf(ready), false);
      break;
    case kPropose:
      Propose(*RandomOf(alive), absl::StrCat("v", next_proposal_++));
      break;
    case kRead:
      RequestRead(*RandomOf(alive));
      break;
    case kTransfer:
      TransferLeader();
      break;
    case kSnapshot:
      TakeSnapshot(*RandomOf(alive));
      break;
    case kConfChange:
      ProposeConfChange();
      break;
    case kCrash:
      CrashSome();
      break;
    case kCrashMidReady:
      CrashMidReady();
      break;
    case kRestart:
      RestartSome();
      break;
    case kPartition:
      PartitionSome();
      break;
    case kHeal:
      HealSome();
      break;
    case kSync:
      Sync(*RandomOf(unsynced));
      break;
  }
}

void Simulator::Tick(SimNode& n) {
  ++now_;
  if (p_.defer_commit_broadcast) n.raw->BroadcastCommit();
  n.raw->Tick();
  AfterInput(n);
}

void Simulator::Deliver() {
  bool lost = false;
  Message m = net_.PopDue(now_, &lost);
  auto to = nodes_.find(m.to);
  bool alive = to != nodes_.end() && to->second.alive();
  bool blocked = net_.Blocked(m.from, m.to);
  auto from = nodes_.find(m.from);
  SimNode* sender = from != nodes_.end() && from->second.alive() ? &from->second : nullptr;
  if (!alive || blocked || lost) {
    ++stats_.dropped;
    Trace([&] {
      return absl::StrCat("drop ", raft::Describe(m),
                          lost      ? " (lost)"
                          : blocked ? " (partition)"
                                    : " (node down)");
    });
    if (sender != nullptr) {
      // The sender's transport notices the failure, as a real one would.
      if (m.type == MessageType::kSnap) {
        sender->raw->ReportSnapshot(m.to, /*failed=*/true);
        AfterInput(*sender);
      } else if (m.type == MessageType::kApp && rng_.Chance(0.25)) {
        sender->raw->ReportUnreachable(m.to);
        AfterInput(*sender);
      }
    }
    return;
  }
  ++stats_.delivered;
  SimNode& n = to->second;
  const MessageType type = m.type;
  Trace([&] { return absl::StrCat("deliver ", raft::Describe(m)); });
  absl::Status s = n.raw->Step(std::move(m));
  if (!s.ok()) Trace([&] { return absl::StrCat("  step: ", s.ToString()); });
  AfterInput(n);
  if (type == MessageType::kSnap && sender != nullptr) {
    sender->raw->ReportSnapshot(n.id, /*failed=*/false);
    AfterInput(*sender);
  }
}

void Simulator::HandleReady(SimNode& n, bool crash_after_persist) {
  raft::Ready rd = n.raw->GetReady();
  Trace([&] {
    std::string s = absl::StrCat("ready node ", n.id);
    if (rd.soft_state)
      absl::StrAppend(&s, " role:", RoleName(rd.soft_state->role), " lead:", rd.soft_state->lead);
    if (!rd.hard_state.IsEmpty()) absl::StrAppend(&s, " hs:{", raft::Describe(rd.hard_state), "}");
    if (!rd.snapshot.IsEmpty()) {
      absl::StrAppend(&s, " snap:", rd.snapshot.metadata.term, "/", rd.snapshot.metadata.index);
    }
    if (!rd.entries.empty()) {
      absl::StrAppend(&s, " entries:", rd.entries.front().term, "/", rd.entries.front().index, "..",
                      rd.entries.back().term, "/", rd.entries.back().index);
    }
    if (!rd.committed_entries.empty()) {
      absl::StrAppend(&s, " apply:", rd.committed_entries.front().index, "..",
                      rd.committed_entries.back().index);
    }
    if (!rd.messages.empty()) absl::StrAppend(&s, " msgs:", rd.messages.size());
    if (!rd.read_states.empty()) absl::StrAppend(&s, " reads:", rd.read_states.size());
    return s;
  });

  // 1. Persist snapshot, entries and hard state: one atomic durable write,
  // or, for a leader whose term and vote are unchanged, an unsynced one
  // (report_leader_log_durable) that a crash loses until a Sync step.
  raft::MemoryStorage& st = *n.storage;
  const StateRole role = n.raw->GetSoftState().role;
  const raft::HardState before = st.GetInitialState()->hard_state;
  const bool unsynced_write = p_.report_leader_durable && role == StateRole::kLeader &&
                              !rd.entries.empty() && rd.snapshot.IsEmpty() &&
                              (rd.hard_state.IsEmpty() || (rd.hard_state.term == before.term &&
                                                           rd.hard_state.vote == before.vote));
  if (unsynced_write) {
    if (n.synced == nullptr) n.synced = st.Clone();
    n.unsynced = std::make_pair(n.raw->GetStatus().hard_state.term, rd.entries.back().index);
  } else if (!rd.entries.empty() || !rd.hard_state.IsEmpty() || !rd.snapshot.IsEmpty()) {
    MarkAllSynced(n);
  }
  if (!rd.snapshot.IsEmpty()) {
    absl::Status s = st.ApplySnapshot(rd.snapshot);
    if (!s.ok()) {
      chk_.Fail("snapshot",
                absl::StrCat("node ", n.id, " was handed snapshot ", rd.snapshot.metadata.term, "/",
                             rd.snapshot.metadata.index, " its storage refuses: ", s.ToString()));
      return;
    }
  }
  if (!rd.entries.empty()) {
    absl::Status s = st.Append(rd.entries);
    if (!s.ok()) {
      chk_.Fail("log-matching",
                absl::StrCat("node ", n.id, " cannot append entries ", rd.entries.front().index,
                             "..", rd.entries.back().index, ": ", s.ToString()));
      return;
    }
    chk_.OnPersistEntries(n.id, st, rd.entries);
  }
  if (!rd.hard_state.IsEmpty()) {
    st.SetHardState(rd.hard_state);
    chk_.OnPersistHardState(n.id, st, rd.hard_state);
  }
  if (role == StateRole::kLeader && !rd.committed_entries.empty()) {
    CheckCommitDurableOnMajority(n, rd.committed_entries.back().index);
    if (failed()) return;
  }
  if (crash_after_persist) {
    Crash(n, "after persisting its Ready, before sending or applying");
    return;
  }

  // The state machine catches up with an installed snapshot.
  if (!rd.snapshot.IsEmpty()) {
    StateMachine sm;
    if (!StateMachine::Decode(rd.snapshot.data.view(), &sm) ||
        sm.applied != rd.snapshot.metadata.index) {
      chk_.Fail("state-machine-safety",
                absl::StrCat("node ", n.id, " got snapshot ", rd.snapshot.metadata.index,
                             " whose data is for another index: '", AsAbsl(rd.snapshot.data.view()),
                             "'"));
      return;
    }
    if (sm.applied < n.sm.applied) {
      chk_.Fail("monotonic-applied", absl::StrCat("node ", n.id, " installed snapshot ", sm.applied,
                                                  " behind its applied index ", n.sm.applied));
      return;
    }
    n.sm = sm;
    ++stats_.snapshots_installed;
    chk_.OnSnapshotInstalled(n.id, rd.snapshot.metadata, sm.digest);
  }
  if (rd.soft_state && rd.soft_state->role == StateRole::kLeader) {
    chk_.CheckLeaderCompleteness(n.id, n.raw->GetStatus().hard_state.term, st);
  }

  // 2. Send.
  for (Message& m : rd.messages) {
    std::string what = tracing_ ? raft::Describe(m) : std::string();
    int copies = net_.Send(std::move(m), now_);
    Trace([&] {
      return absl::StrCat("  send ", what, copies == 0 ? " (lost)" : copies == 2 ? " (dup)" : "");
    });
  }

  // 3. Apply.
  for (const Entry& e : rd.committed_entries) {
    Apply(n, e);
    if (failed()) return;
  }
  for (const raft::ReadState& rs : rd.read_states) {
    auto it = reads_.find(rs.request_ctx);
    if (it == reads_.end()) continue;  // a duplicate answer
    chk_.OnReadState(n.id, rs, it->second.required);
    ++stats_.reads;
    Trace([&] {
      return absl::StrCat("  read '", rs.request_ctx, "' at ", rs.index,
                          " (needs >= ", it->second.required, ")");
    });
    reads_.erase(it);
  }

  // 4. Advance.
  n.raw->Advance();
  AfterInput(n);
}

void Simulator::Apply(SimNode& n, const Entry& e) {
  if (e.index != n.sm.applied + 1) {
    chk_.Fail("apply-order", absl::StrCat("node ", n.id, " was handed entry ", e.term, "/", e.index,
                                          " to apply after ", n.sm.applied));
    return;
  }
  n.sm.Apply(e);
  chk_.OnApply(n.id, e, n.sm.digest);
  Trace([&] {
    return absl::StrCat("  apply node ", n.id, " ", e.term, "/", e.index, " ",
                        e.type == raft::EntryType::kConfChange
                            ? "conf-change"
                            : absl::StrCat("'", AsAbsl(e.data.view()), "'"));
  });
  if (e.type == raft::EntryType::kConfChange && !e.data.empty()) {
    auto cc = raft::DecodeConfChange(e.data.view());
    if (!cc.ok()) {
      chk_.Fail("harness", absl::StrCat("node ", n.id, " cannot decode conf change at ", e.index,
                                        ": ", cc.status().ToString()));
      return;
    }
    ConfState before = n.raw->GetStatus().conf_state;
    ConfState cs = n.raw->ApplyConfChange(*cc);
    bool added = (Contains(cs.voters, cc->node_id) || Contains(cs.learners, cc->node_id)) &&
                 !Contains(before.voters, cc->node_id) && !Contains(before.learners, cc->node_id);
    if (added && opts_.snapshot_on_add && e.index > n.storage->GetSnapshot()->metadata.index) {
      auto snap = n.storage->CreateSnapshot(e.index, &cs, Payload(n.sm.Encode()));
      if (!snap.ok()) {
        chk_.Fail("harness", absl::StrCat("node ", n.id, " cannot snapshot at ", e.index, ": ",
                                          snap.status().ToString()));
        return;
      }
      Trace(
          [&] { return absl::StrCat("  snapshot node ", n.id, " at ", e.index, " (new member)"); });
    }
    OnConfChangeApplied(n, e, *cc, cs);
  } else if (e.data.view().substr(0, 6) == "probe-" && probe_index_ == 0) {
    probe_index_ = e.index;
  }
}

void Simulator::OnConfChangeApplied(SimNode& n, const Entry& e, const ConfChange& cc,
                                    const ConfState& cs) {
  Trace([&] {
    return absl::StrCat("  conf change node ", n.id, " ", ConfChangeName(cc), " -> ",
                        raft::Describe(cs));
  });
  if (!conf_change_indexes_.insert(e.index).second) return;  // acted on already
  ++stats_.conf_changes;
  latest_conf_ = cs;
  if (pending_cc_ && pending_cc_->cc.context == cc.context) pending_cc_.reset();
  bool member = Contains(cs.voters, cc.node_id) || Contains(cs.learners, cc.node_id);
  if (member && nodes_.count(cc.node_id) == 0) to_create_.push_back(cc.node_id);
  if (!member && cc.type == ConfChangeType::kRemoveNode) to_decommission_.push_back(cc.node_id);
}

// A leader applying (and so acknowledging) entry c: it must be on the disk
// (the synced part of storage) of a majority of the leader's voters.
void Simulator::CheckCommitDurableOnMajority(SimNode& n, Index c) {
  const raft::NodeStatus st = n.raw->GetStatus();
  if (c > *n.storage->LastIndex()) {
    chk_.Fail("durable-commit",
              absl::StrCat("leader ", n.id, " applies index ", c, " past its own log"));
    return;
  }
  absl::StatusOr<Term> want = n.storage->TermAt(c);
  if (!want.ok()) return;  // compacted: below a snapshot, durable everywhere it is
  size_t durable = 0;
  for (NodeId v : st.conf_state.voters) {
    auto it = nodes_.find(v);
    if (it == nodes_.end()) continue;
    const raft::MemoryStorage& disk =
        it->second.synced != nullptr ? *it->second.synced : *it->second.storage;
    if (c > *disk.LastIndex()) continue;
    absl::StatusOr<Term> t = disk.TermAt(c);
    if (t.ok() ? *t == *want : *disk.FirstIndex() > c) ++durable;
  }
  if (durable < st.conf_state.voters.size() / 2 + 1) {
    chk_.Fail("durable-commit",
              absl::StrCat("leader ", n.id, " applies index ", c, " (term ", *want, ") while only ",
                           durable, " of ", st.conf_state.voters.size(), " voters had it on disk"));
  }
}

void Simulator::AfterInput(SimNode& n) {
  raft::NodeStatus st = n.raw->GetStatus();
  bool nemesis = false;
  if (chk_.ObserveStatus(n.id, n.incarnation, st)) {
    Trace([&] { return absl::StrCat("node ", n.id, " is LEADER of term ", st.hard_state.term); });
    nemesis = rng_.Chance(p_.isolate_new_leader);
  } else if (st.soft_state.role == StateRole::kLeader && st.hard_state.commit > n.commit) {
    nemesis = rng_.Chance(p_.isolate_on_commit);
  }
  if (nemesis && phase_ != kHealPhase) Isolate(n);
  if (tracing_ && (st.soft_state.role != n.role || st.hard_state.term != n.term)) {
    Trace([&] {
      return absl::StrCat("node ", n.id, " ", RoleName(n.role), "@", n.term, " -> ",
                          RoleName(st.soft_state.role), "@", st.hard_state.term);
    });
  }
  n.role = st.soft_state.role;
  n.term = st.hard_state.term;
  n.commit = st.hard_state.commit;
  stats_.max_commit = std::max<uint64_t>(stats_.max_commit, st.hard_state.commit);
}

void Simulator::Propose(SimNode& n, const std::string& data) {
  absl::Status s = n.raw->Propose(Payload(data));
  Trace([&] {
    return absl::StrCat("propose '", data, "' at node ", n.id, s.ok() ? "" : " -> ",
                        s.ok() ? "" : s.ToString());
  });
  AfterInput(n);
}

void Simulator::RequestRead(SimNode& n) {
  std::string ctx = absl::StrCat("r", next_read_++);
  Index required = chk_.RequiredReadIndex();
  reads_[ctx] = PendingRead{n.id, n.incarnation, required};
  Trace([&] {
    return absl::StrCat("read-index '", ctx, "' at node ", n.id, " (needs >= ", required, ")");
  });
  n.raw->ReadIndex(ctx);
  AfterInput(n);
}

void Simulator::TransferLeader() {
  SimNode* leader = CurrentLeader();
  SimNode* n = leader != nullptr && rng_.Chance(0.8) ? leader : RandomOf(AliveNodes());
  if (n == nullptr || latest_conf_.voters.empty()) return;
  NodeId to = latest_conf_.voters[rng_.Uniform(latest_conf_.voters.size())];
  Trace([&] { return absl::StrCat("transfer-leader to ", to, " at node ", n->id); });
  n->raw->TransferLeader(to);
  AfterInput(*n);
}

void Simulator::TakeSnapshot(SimNode& n) {
  raft::MemoryStorage& st = *n.storage;
  Index snap_index = st.GetSnapshot()->metadata.index;
  if (n.sm.applied <= snap_index) return;
  // A snapshot is a synced write: what was written before it is durable too.
  MarkAllSynced(n);
  Index old_first = *st.FirstIndex();
  ConfState cs = n.raw->GetStatus().conf_state;
  auto snap = st.CreateSnapshot(n.sm.applied, &cs, Payload(n.sm.Encode()));
  if (!snap.ok()) {
    chk_.Fail("harness", absl::StrCat("node ", n.id, " cannot snapshot at ", n.sm.applied, ": ",
                                      snap.status().ToString()));
    return;
  }
  // Keep a few entries behind the snapshot now and then.
  Index lag = rng_.Uniform(4);
  Index compact = n.sm.applied > lag ? n.sm.applied - lag : n.sm.applied;
  compact = std::max(compact, old_first);
  absl::Status s = st.Compact(compact);
  if (!s.ok()) {
    chk_.Fail("harness",
              absl::StrCat("node ", n.id, " cannot compact to ", compact, ": ", s.ToString()));
    return;
  }
  Trace([&] {
    return absl::StrCat("snapshot node ", n.id, " at ", n.sm.applied, " (", raft::Describe(cs),
                        "), compact to ", compact);
  });
}

void Simulator::ProposeConfChange() {
  if (pending_cc_) {
    // Re-propose the same change if it seems lost; applying it twice is a no-op.
    if (now_ - pending_cc_->proposed_at <
        static_cast<uint64_t>(4 * p_.election_tick * nodes_count_)) {
      return;
    }
  } else {
    const ConfState& cs = latest_conf_;
    std::vector<ConfChange> options;
    bool can_add = next_node_id_ <= static_cast<NodeId>(nodes_count_ + p_.max_extra_nodes);
    if (can_add) {
      options.push_back({ConfChangeType::kAddNode, next_node_id_, ""});
      options.push_back({ConfChangeType::kAddLearnerNode, next_node_id_, ""});
    }
    for (NodeId l : cs.learners) {
      options.push_back({ConfChangeType::kAddNode, l, ""});  // promote
      options.push_back({ConfChangeType::kRemoveNode, l, ""});
    }
    if (cs.voters.size() >= 3) {
      // Down to two voters at most: with one, a node could win an election
      // without persisting anything first, which our checks do not model.
      for (NodeId v : cs.voters) {
        options.push_back({ConfChangeType::kRemoveNode, v, ""});
        options.push_back({ConfChangeType::kAddLearnerNode, v, ""});  // demote
      }
    }
    if (options.empty()) return;
    ConfChange cc = options[rng_.Uniform(options.size())];
    cc.context = absl::StrCat("cc", next_cc_++);
    if (cc.node_id == next_node_id_) ++next_node_id_;
    pending_cc_ = PendingConfChange{cc, 0};
  }
  pending_cc_->proposed_at = now_;
  SimNode* leader = CurrentLeader();
  SimNode* n = leader != nullptr && rng_.Chance(0.8) ? leader : RandomOf(AliveNodes());
  if (n == nullptr) return;
  absl::Status s = n->raw->ProposeConfChange(pending_cc_->cc);
  Trace([&] {
    return absl::StrCat("propose conf change ", ConfChangeName(pending_cc_->cc), " (",
                        pending_cc_->cc.context, ") at node ", n->id, s.ok() ? "" : " -> ",
                        s.ok() ? "" : s.ToString());
  });
  AfterInput(*n);
}

void Simulator::CrashSome() {
  SimNode* leader = CurrentLeader();
  SimNode* n = leader != nullptr && rng_.Chance(p_.leader_bias) ? leader : RandomOf(AliveNodes());
  if (n != nullptr) Crash(*n, "fault");
}

void Simulator::CrashMidReady() {
  SimNode* n = RandomOf(NodesWithReady());
  if (n != nullptr) HandleReady(*n, /*crash_after_persist=*/true);
}

void Simulator::RestartSome() {
  std::vector<SimNode*> down;
  for (auto& [id, n] : nodes_) {
    if (!n.alive() && !n.decommissioned) down.push_back(&n);
  }
  SimNode* n = RandomOf(down);
  if (n != nullptr) StartNode(*n);
}

void Simulator::PartitionSome() {
  std::vector<NodeId> ids;
  for (auto& [id, n] : nodes_) {
    if (!n.decommissioned) ids.push_back(id);
  }
  if (ids.size() < 2) return;
  std::set<NodeId> side;
  SimNode* leader = CurrentLeader();
  if (leader != nullptr && rng_.Chance(p_.leader_bias)) {
    side.insert(leader->id);  // isolate the leader
  } else {
    for (NodeId id : ids) {
      if (rng_.Chance(0.5)) side.insert(id);
    }
    if (side.empty()) side.insert(ids[rng_.Uniform(ids.size())]);
    if (side.size() == ids.size()) side.erase(ids[rng_.Uniform(ids.size())]);
  }
  // 0: both ways; 1: side cannot send out; 2: side cannot hear the rest.
  uint64_t mode = rng_.Chance(0.6) ? 0 : 1 + rng_.Uniform(2);
  for (NodeId a : ids) {
    for (NodeId b : ids) {
      if (side.count(a) == 0 || side.count(b) > 0) continue;  // a inside, b outside
      if (mode != 2) net_.Block(a, b);
      if (mode != 1) net_.Block(b, a);
    }
  }
  Trace([&] {
    return absl::StrCat("PARTITION {", absl::StrJoin(side, ","), "} from the rest",
                        mode == 0   ? ""
                        : mode == 1 ? " (one way: cannot send)"
                                    : " (one way: cannot hear)");
  });
}

void Simulator::Isolate(SimNode& n) {
  std::vector<NodeId> peers;
  for (auto& [id, m] : nodes_) peers.push_back(id);
  net_.Isolate(n.id, peers);
  Trace([&] {
    return absl::StrCat("ISOLATE leader ", n.id, " (term ", n.term, ", commit ", n.commit, ")");
  });
}

// Heals everything, or (half the time) lets one node rejoin.
void Simulator::HealSome() {
  if (rng_.Chance(0.5)) {
    net_.HealPartitions();
    Trace([] { return std::string("HEAL partitions"); });
    return;
  }
  std::vector<NodeId> cut;
  for (auto& [id, n] : nodes_) {
    for (auto& [other, m] : nodes_) {
      if (id != other && (net_.Blocked(id, other) || net_.Blocked(other, id))) {
        cut.push_back(id);
        break;
      }
    }
  }
  if (cut.empty()) return;
  NodeId id = cut[rng_.Uniform(cut.size())];
  net_.Rejoin(id);
  Trace([&] { return absl::StrCat("HEAL links of node ", id); });
}

// Drives the figure-8 script one check per step (see Scenario::kFigure8).
void Simulator::Figure8Step() {
  constexpr int64_t kStageTimeoutSteps = 3000;
  auto node = [&](NodeId id) -> SimNode& { return nodes_.at(id); };
  auto last = [&](NodeId id) { return *node(id).storage->LastIndex(); };
  if (f8_.stage > 0 && step_ - f8_.stage_start > kStageTimeoutSteps) {
    Trace([&] { return absl::StrCat("FIGURE-8 stage ", f8_.stage, " timed out; start over"); });
    net_.HealPartitions();
    Figure8Stage(0);
  }
  switch (f8_.stage) {
    case 0: {  // Settle: a leader with everything committed and persisted.
      SimNode* a = CurrentLeader();
      if (a == nullptr || a->raw->HasReady() || a->commit == 0 || a->commit != last(a->id)) return;
      for (auto& [id, n] : nodes_) {
        if (n.sm.applied < a->commit) return;
      }
      std::vector<NodeId> others;
      for (auto& [id, n] : nodes_) {
        if (id != a->id) others.push_back(id);
      }
      f8_.a = a->id;
      f8_.b = others[rng_.Uniform(others.size())];
      f8_.a_term = a->term;
      f8_.i = a->commit + 1;
      ++f8_.attempts;
      Split({f8_.a, f8_.b});
      Trace([&] {
        return absl::StrCat("FIGURE-8 attempt ", f8_.attempts, ": A=", f8_.a, " B=", f8_.b,
                            " new entries from index ", f8_.i);
      });
      int k = 1 + static_cast<int>(rng_.Uniform(3));
      for (int j = 0; j < k; ++j) Propose(*a, absl::StrCat("a", next_proposal_++));
      Figure8Stage(1);
      return;
    }
    case 1:  // A's entries reach B (and only B).
      if (last(f8_.a) < f8_.i || last(f8_.b) < last(f8_.a)) return;
      Figure8Stage(2);
      return;
    case 2: {  // C, D, E elect E; isolate it at once.
      for (auto& [id, n] : nodes_) {
        if (id == f8_.a || id == f8_.b || n.role != StateRole::kLeader || n.term <= f8_.a_term) {
          continue;
        }
        f8_.e = id;
        f8_.e_term = n.term;
        std::vector<NodeId> peers;
        for (auto& [x, nx] : nodes_) peers.push_back(x);
        net_.Isolate(id, peers);
        Trace([&] { return absl::StrCat("FIGURE-8 E=", id, " isolated at term ", n.term); });
        Figure8Stage(3);
        return;
      }
      return;
    }
    case 3: {  // E persists an entry of its term at index i; then A..D reunite.
      SimNode& e = node(f8_.e);
      if (last(f8_.e) < f8_.i || *e.storage->TermAt(f8_.i) != f8_.e_term) return;
      net_.HealPartitions();
      std::vector<NodeId> peers;
      for (auto& [x, nx] : nodes_) peers.push_back(x);
      net_.Isolate(f8_.e, peers);
      Figure8Stage(4);
      return;
    }
    case 4: {  // A or B leads again; cut it off when its commit reaches i.
      for (NodeId id : {f8_.a, f8_.b}) {
        SimNode& n = node(id);
        if (n.role != StateRole::kLeader || n.term <= f8_.e_term || n.commit < f8_.i) continue;
        f8_.l = id;
        net_.HealPartitions();
        Split({f8_.a, f8_.b});
        Trace([&] {
          return absl::StrCat("FIGURE-8 L=", id, " committed ", n.commit, " at term ", n.term,
                              "; cut off A and B, C/D/E reunited");
        });
        Figure8Stage(5);
        return;
      }
      return;
    }
    case 5: {  // Give C, D, E time to elect; then start over.
      if (step_ - f8_.stage_start < 1500) return;
      net_.HealPartitions();
      Figure8Stage(0);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Heal phase.

// Liveness bound: after the heal every node restarts with a randomized
// election timeout in [E, 2E) ticks (E = election_tick). A pre-vote or vote
// round needs no ticks (messages drain between ticks), so one election attempt
// takes at most 2E rounds; a leadership transfer left over from the chaos phase
// holds proposals for at most E more, and a lagging member catches up within a
// few heartbeats. What remains is chance: split votes repeat an attempt. The
// worst case seen is two live voters without pre-vote, where each failed
// campaign of the less up-to-date node resets the other's timer (155 rounds,
// seed 2359 with 3 nodes, the maximum over 5,000 seeds). The bound, 50E = 500
// rounds, is over 3x that, about 30 election attempts: a run needing more
// points to a real liveness bug, not bad luck.
void Simulator::Heal() {
  phase_ = kHealPhase;
  for (auto& [id, n] : nodes_) {
    if (!n.alive() && !n.decommissioned) StartNode(n);
  }
  net_.HealPartitions();
  NetworkFaults f = p_.net;
  f.drop = 0;
  f.duplicate = 0;
  f.max_delay = std::min<uint64_t>(f.max_delay, nodes_.size());
  net_.set_faults(f);
  Trace([] { return std::string("HEAL everything: all members up, no partitions or drops"); });

  int probes = 0;
  int last_probe_round = -1000000;
  for (int round = 0; round < liveness_rounds_; ++round) {
    stats_.liveness_rounds = round + 1;
    std::vector<SimNode*> order = AliveNodes();
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.Uniform(i)]);
    for (SimNode* n : order) {
      if (!n->alive()) continue;  // removed during this round
      Tick(*n);
      ++stats_.steps;
      ++step_;
      if (!DrainWork()) return;
    }
    SimNode* leader = CurrentLeader();
    if (leader != nullptr && probe_index_ == 0 && round - last_probe_round >= p_.election_tick) {
      Propose(*leader, absl::StrCat("probe-", probes++));
      last_probe_round = round;
      if (!DrainWork()) return;
    }
    std::string why;
    if (LivenessReached(&why)) return;
    if (round + 1 == liveness_rounds_) {
      chk_.Fail("liveness",
                absl::StrCat("after ", liveness_rounds_, " rounds (", liveness_rounds_,
                             " ticks per node) of healed network: ", why, "; ", ClusterSummary()));
    }
  }
}

// Handles every deliverable message and pending Ready, in random order, until
// there are none. False when an invariant failed.
bool Simulator::DrainWork() {
  for (int64_t i = 0; i < kMaxDrainSteps; ++i) {
    ProcessDeferred();
    if (failed()) return false;
    std::vector<SimNode*> ready = NodesWithReady();
    bool due = net_.HasDue(now_);
    std::vector<SimNode*> unsynced = NodesWithUnsynced();
    if (ready.empty() && !due && unsynced.empty()) return true;
    if (!unsynced.empty() && ((ready.empty() && !due) || rng_.Chance(0.3))) {
      Sync(*RandomOf(unsynced));
    } else if (!ready.empty() && (!due || rng_.Chance(0.5))) {
      HandleReady(*RandomOf(ready), false);
    } else {
      Deliver();
    }
    ++stats_.steps;
    ++step_;
    if (failed()) return false;
  }
  chk_.Fail("liveness", absl::StrCat("messages kept flowing for ", kMaxDrainSteps,
                                     " steps without a tick (livelock)"));
  return false;
}

bool Simulator::LivenessReached(std::string* why) {
  SimNode* leader = CurrentLeader();
  if (leader == nullptr) {
    *why = "no leader";
    return false;
  }
  if (probe_index_ == 0) {
    *why = absl::StrCat("leader ", leader->id, " has not committed a new proposal");
    return false;
  }
  ConfState cs = leader->raw->GetStatus().conf_state;
  std::vector<NodeId> members = cs.voters;
  members.insert(members.end(), cs.learners.begin(), cs.learners.end());
  for (NodeId id : members) {
    auto it = nodes_.find(id);
    if (it != nodes_.end() && it->second.decommissioned) continue;
    if (it == nodes_.end() || !it->second.alive() || it->second.sm.applied < probe_index_) {
      *why = absl::StrCat("node ", id, " has not applied the probe at ", probe_index_);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Helpers.

std::vector<SimNode*> Simulator::AliveNodes() {
  std::vector<SimNode*> v;
  for (auto& [id, n] : nodes_) {
    if (n.alive()) v.push_back(&n);
  }
  return v;
}

std::vector<SimNode*> Simulator::NodesWithUnsynced() {
  std::vector<SimNode*> v;
  for (auto& [id, n] : nodes_) {
    if (n.alive() && (n.unsynced.has_value() || n.synced != nullptr)) v.push_back(&n);
  }
  return v;
}

void Simulator::Sync(SimNode& n) {
  MarkAllSynced(n);
  if (!n.unsynced) return;
  auto [term, index] = *n.unsynced;
  n.unsynced.reset();
  Trace([&] {
    return absl::StrCat("sync node ", n.id, ": durable up to ", index, " of term ", term);
  });
  n.raw->ReportLeaderLogDurable(term, index);
  AfterInput(n);
}

std::vector<SimNode*> Simulator::NodesWithReady() {
  std::vector<SimNode*> v;
  for (auto& [id, n] : nodes_) {
    if (n.alive() && n.raw->HasReady()) v.push_back(&n);
  }
  return v;
}

// The live leader with the highest term, if any.
SimNode* Simulator::CurrentLeader() {
  SimNode* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (n.alive() && n.role == StateRole::kLeader && (best == nullptr || n.term > best->term)) {
      best = &n;
    }
  }
  return best;
}

std::string Simulator::ClusterSummary() {
  std::vector<std::string> parts;
  for (auto& [id, n] : nodes_) {
    if (n.decommissioned) {
      parts.push_back(absl::StrCat(id, ":removed"));
    } else if (!n.alive()) {
      parts.push_back(absl::StrCat(id, ":down"));
    } else {
      raft::NodeStatus st = n.raw->GetStatus();
      std::string part = absl::StrCat(id, ":", RoleName(st.soft_state.role), " term ",
                                      st.hard_state.term, " lead ", st.soft_state.lead, " commit ",
                                      st.hard_state.commit, " applied ", n.sm.applied, " last ",
                                      *n.storage->LastIndex(), " ", raft::Describe(st.conf_state));
      for (const auto& [peer, pr] : st.progress) {
        absl::StrAppend(&part, " [", peer, ": ", raft::ProgressStateName(pr.state), " match ",
                        pr.match, " next ", pr.next, pr.recent_active ? " active" : "", "]");
      }
      parts.push_back(std::move(part));
    }
  }
  return absl::StrCat("nodes {", absl::StrJoin(parts, "; "), "}, ", net_.InFlight(),
                      " messages in flight");
}

SimResult Simulator::Run() {
  Bootstrap();
  ProcessDeferred();
  for (int i = 0; i < opts_.steps && !failed(); ++i) {
    ChaosStep();
    ProcessDeferred();
    if (opts_.scenario == Scenario::kFigure8 && !failed()) Figure8Step();
    ++stats_.steps;
    ++step_;
  }
  if (!failed()) Heal();
  if (!failed()) {
    std::map<NodeId, const raft::MemoryStorage*> logs;
    for (auto& [id, n] : nodes_) logs[id] = n.storage.get();
    chk_.FullLogCheck(logs);
  }
  SimResult r;
  r.seed = seed_;
  r.nodes = nodes_count_;
  r.ok = !failed();
  r.invariant = chk_.invariant();
  r.detail = chk_.detail();
  r.trace_tail.assign(tail_.begin(), tail_.end());
  stats_.leaders = chk_.leaders_seen();
  r.stats = stats_;
  return r;
}

}  // namespace

const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kRandom:
      return "random";
    case Scenario::kAdversarial:
      return "adversarial";
    case Scenario::kFigure8:
      return "figure8";
  }
  return "?";
}

bool ParseScenario(const std::string& name, Scenario* out) {
  if (name == "random") {
    *out = Scenario::kRandom;
  } else if (name == "adversarial") {
    *out = Scenario::kAdversarial;
  } else if (name == "figure8") {
    *out = Scenario::kFigure8;
  } else {
    return false;
  }
  return true;
}

void SimStats::Add(const SimStats& o) {
  steps += o.steps;
  delivered += o.delivered;
  dropped += o.dropped;
  crashes += o.crashes;
  leaders += o.leaders;
  max_commit = std::max(max_commit, o.max_commit);
  snapshots_installed += o.snapshots_installed;
  conf_changes += o.conf_changes;
  reads += o.reads;
  liveness_rounds = std::max(liveness_rounds, o.liveness_rounds);
}

SimResult RunSimulation(uint64_t seed, const SimOptions& options) {
  bool tracing = options.trace != nullptr;
  SimResult r = Simulator(seed, options, tracing).Run();
  if (!r.ok && !tracing) {
    // Runs are deterministic: run again with the trace on to show how it failed.
    SimResult again = Simulator(seed, options, true).Run();
    r.trace_tail = std::move(again.trace_tail);
    if (again.invariant != r.invariant || again.detail != r.detail) {
      r.detail += absl::StrCat(" [BUG IN THE SIMULATOR: the traced replay diverged and ended with ",
                               again.ok ? "success" : again.invariant + ": " + again.detail, "]");
    }
  }
  return r;
}

std::string ReplayCommand(uint64_t seed, const SimOptions& options) {
  std::string cmd = absl::StrCat(options.replay_binary, " --seed ", seed);
  if (options.nodes != 0) absl::StrAppend(&cmd, " --nodes ", options.nodes);
  absl::StrAppend(&cmd, " --steps ", options.steps);
  if (options.scenario != Scenario::kRandom) {
    absl::StrAppend(&cmd, " --scenario ", ScenarioName(options.scenario));
  }
  if (options.snapshot_on_add) absl::StrAppend(&cmd, " --snapshot-on-add");
  if (options.liveness_rounds != 0) {
    absl::StrAppend(&cmd, " --liveness-rounds ", options.liveness_rounds);
  }
  absl::StrAppend(&cmd, " -v");
  return cmd;
}

std::string FormatFailure(const SimResult& r, const SimOptions& options) {
  std::string s = absl::StrCat("FAILED seed ", r.seed, " (", r.nodes, " nodes, scenario ",
                               ScenarioName(options.scenario), "): invariant ", r.invariant,
                               " violated after ", r.stats.steps, " steps\n  ", r.detail, "\n");
  if (!r.trace_tail.empty()) {
    absl::StrAppend(&s, "  last ", r.trace_tail.size(), " events:\n");
    for (const std::string& line : r.trace_tail) absl::StrAppend(&s, "    ", line, "\n");
  }
  absl::StrAppend(&s, "  replay: ", ReplayCommand(r.seed, options), "\n");
  return s;
}

}  // namespace raftkv::sim
