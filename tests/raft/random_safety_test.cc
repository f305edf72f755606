// Randomized safety check: seeded runs of a cluster under message loss,
// duplication, reordering, partitions, proposals, transfers, reads and log
// compaction, checking the Raft paper's safety properties (figure 3) after
// every step:
//   election safety       at most one leader per term;
//   state machine safety  no two nodes apply different entries at an index;
//   leader completeness   a leader elected after an entry was committed has it;
//   log matching          same (index, term) implies the same prefix;
// plus monotonic terms and commit indexes, and, once the network heals, that
// the cluster converges (liveness). A failure prints its seed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "src/common/rng.h"
#include "tests/raft/test_network.h"

namespace raftkv::raft::testing {
namespace {

struct Committed {
  Term term = 0;
  std::string data;
  Term observed_at_term = 0;  // max term of any node when first seen applied
};

class SafetyChecker {
 public:
  explicit SafetyChecker(Network& net) : net_(net) {}

  // Returns false (after recording a failure) once a property is broken.
  bool Check() {
    Term max_term = 0;
    for (NodeId id : net_.ids()) max_term = std::max(max_term, net_.raw(id).CurrentTerm());
    for (NodeId id : net_.ids()) {
      Node& n = net_.node(id);
      const Term term = n.raw->CurrentTerm();
      const SoftState ss = n.raw->GetSoftState();
      const Index commit = n.storage->GetInitialState()->hard_state.commit;
      if (term < last_term_[id]) return Fail(id, "term went backwards");
      last_term_[id] = term;
      if (commit < last_commit_[id]) return Fail(id, "commit index went backwards");
      last_commit_[id] = commit;

      if (ss.role == StateRole::kLeader) {
        auto [it, fresh] = leader_of_term_.emplace(term, id);
        if (!fresh && it->second != id) {
          return Fail(id, "two leaders in term " + std::to_string(term) + ": " +
                              std::to_string(it->second) + " and " + std::to_string(id));
        }
      }
      // State machine safety over newly applied entries.
      for (size_t k = seen_applied_[id]; k < n.applied.size(); ++k) {
        const Entry& e = n.applied[k];
        auto [it, fresh] =
            committed_.emplace(e.index, Committed{e.term, e.data.ToString(), max_term});
        if (!fresh && (it->second.term != e.term || it->second.data != e.data.ToString())) {
          return Fail(id, "applied a different entry at index " + std::to_string(e.index));
        }
      }
      seen_applied_[id] = n.applied.size();
      for (size_t k = seen_snaps_[id]; k < n.snapshots.size(); ++k) {
        const SnapshotMetadata& md = n.snapshots[k].metadata;
        auto it = committed_.find(md.index);
        if (it != committed_.end() && it->second.term != md.term) {
          return Fail(id,
                      "installed a snapshot that disagrees with index " + std::to_string(md.index));
        }
      }
      seen_snaps_[id] = n.snapshots.size();
    }
    // Leader completeness.
    for (NodeId id : net_.ids()) {
      Node& n = net_.node(id);
      if (n.raw->GetSoftState().role != StateRole::kLeader) continue;
      const Term term = n.raw->CurrentTerm();
      const Index first = n.FirstIndex();
      const Index last = n.LastIndex();
      for (const auto& [index, c] : committed_) {
        if (term <= c.observed_at_term) continue;
        if (index > last) return Fail(id, "leader lacks committed index " + std::to_string(index));
        if (index < first) continue;  // compacted into its snapshot
        if (*n.storage->TermAt(index) != c.term) {
          return Fail(id,
                      "leader has a different entry at committed index " + std::to_string(index));
        }
      }
    }
    return true;
  }

  bool CheckLogMatching() {
    std::vector<NodeId> ids = net_.ids();
    for (size_t a = 0; a < ids.size(); ++a) {
      for (size_t b = a + 1; b < ids.size(); ++b) {
        Node& x = net_.node(ids[a]);
        Node& y = net_.node(ids[b]);
        const Index lo = std::max(x.FirstIndex(), y.FirstIndex());
        const Index hi = std::min(x.LastIndex(), y.LastIndex());
        Index match = 0;  // highest index in [lo, hi] with equal terms
        for (Index i = hi; i >= lo && i > 0; --i) {
          if (*x.storage->TermAt(i) == *y.storage->TermAt(i)) {
            match = i;
            break;
          }
        }
        for (Index i = lo; i <= match; ++i) {
          Entry ex = (*x.storage->Entries(i, i + 1, kNoLimit))[0];
          Entry ey = (*y.storage->Entries(i, i + 1, kNoLimit))[0];
          if (!(ex == ey)) {
            return Fail(ids[a], "log matching broken with node " + std::to_string(ids[b]) +
                                    " at index " + std::to_string(i));
          }
        }
      }
    }
    return true;
  }

  const std::map<Index, Committed>& committed() const { return committed_; }

 private:
  bool Fail(NodeId id, const std::string& what) {
    ADD_FAILURE() << "node " << id << ": " << what;
    return false;
  }

  Network& net_;
  std::map<Term, NodeId> leader_of_term_;
  std::map<Index, Committed> committed_;
  std::map<NodeId, Term> last_term_;
  std::map<NodeId, Index> last_commit_;
  std::map<NodeId, size_t> seen_applied_;
  std::map<NodeId, size_t> seen_snaps_;
};

void DrainAll(Network& net) {
  for (NodeId id : net.ids()) net.DrainNode(id);
}

bool IsMember(const ConfState& cs, NodeId id) {
  return std::count(cs.voters.begin(), cs.voters.end(), id) > 0 ||
         std::count(cs.learners.begin(), cs.learners.end(), id) > 0;
}

// Proposes a membership change on the current leader, keeping at least two
// voters and never removing or demoting the leader itself (a removed leader
// lingering is allowed by the algorithm but makes the liveness check moot).
void ProposeRandomConfChange(Network& net, Rng& rng) {
  const NodeId leader = net.Leader();
  if (leader == kNoNode) return;
  const ConfState cs = net.raw(leader).GetStatus().conf_state;
  const NodeId target = 1 + rng.Uniform(5);
  const bool voter = std::count(cs.voters.begin(), cs.voters.end(), target) > 0;
  ConfChange cc;
  cc.node_id = target;
  switch (rng.Uniform(3)) {
    case 0:
      cc.type = ConfChangeType::kAddNode;
      break;
    case 1:
      if (target == leader || (voter && cs.voters.size() <= 2)) return;
      cc.type = ConfChangeType::kRemoveNode;
      break;
    default:
      if (IsMember(cs, target)) return;  // no demotions
      cc.type = ConfChangeType::kAddLearnerNode;
      break;
  }
  (void)net.raw(leader).ProposeConfChange(cc);
}

// One seeded run; returns false on the first broken property.
bool RunSeed(uint64_t seed, int steps) {
  Rng rng(seed);
  const bool five = rng.OneIn(3);
  const bool pre_vote = !rng.OneIn(3);
  const bool check_quorum = !rng.OneIn(3);
  const bool conf_changes = !five && !rng.OneIn(3);
  const bool restarts = !rng.OneIn(3);
  auto tweak = [&](Config& c) {
    c.pre_vote = pre_vote;
    c.check_quorum = check_quorum;
    c.seed = seed * 31 + c.id;
    c.max_size_per_msg = 200;  // several appends per batch
    c.max_inflight_msgs = 4;
  };
  std::unique_ptr<Network> owned =
      five ? std::make_unique<Network>(std::initializer_list<NodeId>{1, 2, 3, 4, 5}, tweak)
           : std::make_unique<Network>(std::initializer_list<NodeId>{1, 2, 3}, tweak);
  Network& net = *owned;
  if (conf_changes) {
    // Nodes 4 and 5 exist but are not members until a conf change adds them.
    ConfState cs;
    cs.voters = {1, 2, 3};
    net.AddNode(4, cs);
    net.AddNode(5, cs);
  }
  const std::vector<NodeId> ids = net.ids();
  auto any = [&] { return ids[rng.Uniform(ids.size())]; };
  SafetyChecker checker(net);
  int proposals = 0;
  int reads = 0;

  for (int step = 0; step < steps; ++step) {
    const uint64_t r = rng.Uniform(100);
    if (r < 33) {
      net.Tick(any());
    } else if (r < 66) {
      if (!net.queue().empty()) net.DeliverAt(rng.Uniform(net.queue().size()));
    } else if (r < 71) {
      if (!net.queue().empty()) net.DropAt(rng.Uniform(net.queue().size()));
    } else if (r < 73) {
      if (!net.queue().empty()) net.queue().push_back(net.queue()[rng.Uniform(net.queue().size())]);
    } else if (r < 84) {
      (void)net.raw(any()).Propose(
          Payload("s" + std::to_string(seed) + "-" + std::to_string(proposals++)));
    } else if (r < 86) {
      net.Isolate(any());
    } else if (r < 89) {
      net.Heal();
    } else if (r < 90) {
      net.raw(any()).TransferLeader(any());
    } else if (r < 92) {
      net.raw(any()).ReadIndex("read-" + std::to_string(reads++));
    } else if (r < 94) {
      Node& n = net.node(any());
      if (n.applied_index > n.FirstIndex() + 3) {
        ConfState cs = n.raw->GetStatus().conf_state;
        if (n.storage->CreateSnapshot(n.applied_index, &cs, Payload("img")).ok()) {
          (void)n.storage->Compact(n.applied_index);
        }
      }
    } else if (r < 95) {
      net.raw(any()).ReportUnreachable(any());
    } else if (r < 97) {
      if (conf_changes) ProposeRandomConfChange(net, rng);
    } else if (r < 98) {
      if (restarts) net.Restart(any());
    } else {
      net.Tick(any());
    }
    DrainAll(net);
    if (!checker.Check()) {
      ADD_FAILURE() << "seed " << seed << " step " << step;
      return false;
    }
    if (step % 200 == 0 && !checker.CheckLogMatching()) {
      ADD_FAILURE() << "seed " << seed << " step " << step;
      return false;
    }
  }

  // Liveness: with the network healed the cluster elects a leader, commits a
  // new entry and every node applies it.
  net.Heal();
  while (!net.queue().empty()) net.DropAt(0);  // lost, and kSnap failures reported
  bool proposed = false;
  absl::Status last_status;
  int proposed_round = 0;
  const std::string final_entry = "final-" + std::to_string(seed);
  if (std::getenv("RAFT_RANDOM_TRACE") != nullptr) {
    net.SetDeliverHook(
        [](const Message& m) { std::fprintf(stderr, "  %s\n", Describe(m).c_str()); });
  }
  for (int round = 0; round < 300; ++round) {
    if (round % 20 == 10) {
      // As a server would, snapshot now and then. A node added after the
      // leader's latest snapshot refuses that snapshot (it does not list the
      // node), so it can only catch up from a newer one.
      for (NodeId id : ids) {
        Node& n = net.node(id);
        ConfState cs = n.raw->GetStatus().conf_state;
        if (n.applied_index >= n.FirstIndex() &&
            n.storage->CreateSnapshot(n.applied_index, &cs, Payload("img")).ok()) {
          (void)n.storage->Compact(n.applied_index);
        }
      }
    }
    for (NodeId id : ids) net.Tick(id);
    net.Stabilize();
    if (!checker.Check()) {
      ADD_FAILURE() << "seed " << seed << " while healing";
      return false;
    }
    NodeId leader = net.Leader();
    ConfState members;
    if (leader != kNoNode) {
      members = net.raw(leader).GetStatus().conf_state;
      // Nodes outside the configuration (removed, or never added) are cut
      // off: a removed node that never learned of its removal may keep
      // campaigning, which costs liveness but not safety.
      net.Heal();
      for (NodeId id : ids) {
        if (!IsMember(members, id)) net.Isolate(id);
      }
    }
    // A proposal taken by a stale leader may be overwritten: propose again.
    if (proposed && round - proposed_round > 50) proposed = false;
    if (leader != kNoNode && !proposed) {
      proposed_round = round;
      absl::Status s = net.raw(leader).Propose(Payload(final_entry));
      proposed = s.ok();
      last_status = s;
    }
    bool all = proposed;
    for (NodeId id : ids) {
      if (!IsMember(members, id)) continue;
      const auto& ap = net.node(id).applied;
      all = all && std::any_of(ap.rbegin(), ap.rend(),
                               [&](const Entry& e) { return e.data.ToString() == final_entry; });
    }
    if (all) return checker.CheckLogMatching();
  }
  for (NodeId id : ids) {
    Node& n = net.node(id);
    NodeStatus st = n.raw->GetStatus();
    std::string prs;
    for (const auto& [pid, p] : st.progress) {
      prs += " " + std::to_string(pid) + ":" + ProgressStateName(p.state) + "/m" +
             std::to_string(p.match) + "/n" + std::to_string(p.next);
    }
    std::fprintf(stderr,
                 "node %llu %s term %llu lead %llu commit %llu applied %llu log [%llu,%llu] "
                 "transferee %llu%s\n",
                 (unsigned long long)id, StateRoleName(st.soft_state.role),
                 (unsigned long long)st.hard_state.term, (unsigned long long)st.soft_state.lead,
                 (unsigned long long)st.hard_state.commit, (unsigned long long)n.applied_index,
                 (unsigned long long)n.FirstIndex(), (unsigned long long)n.LastIndex(),
                 (unsigned long long)st.lead_transferee, prs.c_str());
  }
  ADD_FAILURE() << "seed " << seed
                << ": the healed cluster did not converge (last proposal: " << last_status
                << ", five=" << five << " pre_vote=" << pre_vote << " check_quorum=" << check_quorum
                << " conf_changes=" << conf_changes << " restarts=" << restarts << ")";
  return false;
}

// RAFT_RANDOM_SEEDS=N runs seeds 1..N (default 60); RAFT_RANDOM_FIRST_SEED
// picks the first one, e.g. to replay a failure.
TEST(RandomSafetyTest, ManySeeds) {
  const char* n_env = std::getenv("RAFT_RANDOM_SEEDS");
  const char* first_env = std::getenv("RAFT_RANDOM_FIRST_SEED");
  const uint64_t n = n_env ? std::strtoull(n_env, nullptr, 10) : 60;
  const uint64_t first = first_env ? std::strtoull(first_env, nullptr, 10) : 1;
  uint64_t ok_runs = 0;
  for (uint64_t seed = first; seed < first + n; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    if (!RunSeed(seed, 2000)) break;
    ++ok_runs;
  }
  EXPECT_EQ(ok_runs, n);
}

}  // namespace
}  // namespace raftkv::raft::testing
