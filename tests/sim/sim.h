// The deterministic cluster simulator: runs a Raft cluster of RawNodes over a
// simulated, seeded, faulty network and checks Raft's safety invariants after
// every step, then checks liveness once the faults heal.
//
// One run is a pure function of (seed, SimOptions): every choice comes from one
// raftkv::Rng seeded with the seed (node election timers are seeded from it
// too), iteration is over ordered containers only, and no clock is read, so a
// failing seed replays exactly (ReplayCommand() prints how).
//
// A run has two phases:
//   1. Chaos: `steps` steps. One step is exactly one of: tick one node, deliver
//      one message, handle one node's Ready, one client action (proposal,
//      ReadIndex, TransferLeader, conf change, snapshot + compaction) or one
//      fault (crash, crash in the middle of a Ready, restart, partition, heal).
//      The network drops, duplicates and delays (hence reorders) messages.
//   2. Heal: every live member restarts, partitions heal, drops and duplicates
//      stop. A leader must be elected and a fresh proposal applied on every
//      member within `liveness_rounds` rounds (one round ticks every node once;
//      between ticks all deliverable messages and Readys are handled, in RNG
//      order). The default bound is 50 election timeouts; see sim.cc for why.
//
// Persistence model: a node persists when it handles its Ready (snapshot,
// entries and hard state go to its MemoryStorage in one atomic step, then
// messages are sent, committed entries applied, Advance called). A crash drops
// the RawNode and everything not yet persisted. In half the seeds (drawn from
// the seed alone) the nodes run with Config::report_leader_log_durable, as
// the server does: a leader's batch with an unchanged term and vote is
// written unsynced, a crash goes back to the last synced storage, and a sync
// step (an action of its own, frequent or rare by seed) makes it durable and
// reports it to the core. The state machine is volatile:
// after a restart it is rebuilt from the storage's snapshot, so the new RawNode
// gets Config::applied = snapshot index and re-applies the committed tail
// (including conf changes) from the log. This keeps the membership seen by the
// core (the snapshot's ConfState plus the replayed conf changes) consistent
// with the applied index.
//
// Invariants checked (the first violation stops the run; see checker.h):
//   election-safety       at most one leader per term;
//   log-matching          persisted logs agree on every (index, term) pair and
//                         everything before it;
//   leader-completeness   a leader holds every entry committed before its term;
//   state-machine-safety  no two nodes apply different entries at one index
//                         (and snapshots carry the same state as applying);
//   monotonic-commit / monotonic-applied  never go backwards (the persisted
//                         commit not even across restarts);
//   vote-stability        a persisted vote never changes within a term;
//   read-index            a ReadIndex answer covers every entry known committed
//                         when the read was requested;
//   apply-order           entries are applied contiguously;
//   liveness              see phase 2.
//
// Thread-safety: RunSimulation is reentrant; a run uses no shared state.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace raftkv::sim {

enum class Scenario : uint8_t {
  // Everything on, at rates drawn per seed: the default for regression runs.
  kRandom,
  // A reactive nemesis: 5 nodes, one entry per kApp (followers ack partial
  // logs), frequent leader crashes, and a leader is often isolated the moment
  // it is elected (stranding an entry of its term) or the moment its commit
  // index advances (freezing a commit mid-catch-up); isolated nodes rejoin one
  // at a time. No snapshots or conf changes. Built to reach the figure-8
  // pattern and stale-log elections within a few seeds.
  kAdversarial,
  // A scripted figure 8 (Raft paper, section 5.4.2) over 5 nodes, with roles,
  // entry counts and timing drawn from the seed; ticks, deliveries and Readys
  // stay random. Leader A replicates new entries to B only; the other three
  // elect E, which is isolated at once with an entry of its term at the same
  // index; A or B leads again (L) and is cut off from C, D the moment its
  // commit index reaches A's entries; C, D and E are left together. A correct
  // L cannot have committed by then unless C or D holds its newer-term entry,
  // which stops E winning; a leader that commits old-term entries by counting
  // replicas has, and E then overwrites a committed entry. Repeats until the
  // steps run out.
  kFigure8,
};
const char* ScenarioName(Scenario s);
bool ParseScenario(const std::string& name, Scenario* out);

struct SimOptions {
  // Initial voters: 3 or 5; 0 derives it from the seed (odd seeds 3, even 5).
  int nodes = 0;
  // Steps of the chaos phase.
  int steps = 4000;
  Scenario scenario = Scenario::kRandom;
  // Heal-phase bound in rounds; 0 means the default (50 election timeouts).
  int liveness_rounds = 0;
  // A node that applies a conf change adding a member takes a snapshot at that
  // entry. Off by default, so that a node added after the leader's last
  // snapshot must catch up from a snapshot that does not list it (the core
  // accepts one; seed 11 once found that it did not).
  bool snapshot_on_add = false;
  // The binary ReplayCommand names (one per Raft core variant).
  std::string replay_binary = "build/bin/raft_sim";
  // When set, every event is written here as it happens.
  std::ostream* trace = nullptr;
};

struct SimStats {
  int64_t steps = 0;      // chaos + heal steps
  int64_t delivered = 0;  // messages stepped into a node
  int64_t dropped = 0;    // lost to drops, partitions or dead receivers
  int64_t crashes = 0;
  int64_t leaders = 0;      // distinct (term, leader) pairs
  uint64_t max_commit = 0;  // highest commit index seen
  int64_t snapshots_installed = 0;
  int64_t conf_changes = 0;     // conf change entries first applied
  int64_t reads = 0;            // ReadIndex answers checked
  int64_t liveness_rounds = 0;  // rounds the heal phase needed

  void Add(const SimStats& o);
};

struct SimResult {
  uint64_t seed = 0;
  int nodes = 0;  // the initial voter count used
  bool ok = true;
  std::string invariant;                // which check fired; empty when ok
  std::string detail;                   // readable explanation
  std::vector<std::string> trace_tail;  // the last events before the failure
  SimStats stats;
};

// Runs one seed. Never crashes on a Raft bug: violations come back in the
// result (a RAFTKV_CHECK inside the core still aborts, as it should).
SimResult RunSimulation(uint64_t seed, const SimOptions& options);

// The command line that replays `seed` with `options`, verbosely.
std::string ReplayCommand(uint64_t seed, const SimOptions& options);

// A multi-line human-readable report of a failed result.
std::string FormatFailure(const SimResult& r, const SimOptions& options);

}  // namespace raftkv::sim
