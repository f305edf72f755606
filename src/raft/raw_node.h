// RawNode: the public face of the Raft core. The caller drives it with
// Tick(), Step(), Propose...(), ReadIndex(), TransferLeader(); the core answers
// with a Ready that says what to persist, send and apply, which the caller
// acknowledges with Advance().
//
// Handling a Ready, in this order:
//   1. Persist snapshot (if any), entries and hard_state in one durable write.
//      (Messages of a leader may be sent while this write is in flight; all
//      other messages only after it completes: a vote or an append response
//      promises that the state is on disk. With
//      Config::report_leader_log_durable, a leader whose term and vote are
//      already durable may write its entries without a sync and report them
//      durable later; see ReportLeaderLogDurable.)
//   2. Send messages.
//   3. Apply committed_entries, in order (they may be handed to another thread;
//      the core counts them as applied once Advance() is called).
//   4. Call Advance().
// The caller must not call Step/Tick/Propose between GetReady() and Advance().
//
// The core performs no I/O, starts no thread and reads no clock: time passes
// only through Tick(), and randomness (the election timeout) comes from
// Config::seed. Two RawNodes with the same seed and inputs produce the same
// outputs.
//
// Thread-safety: none. One thread owns a RawNode.
#pragma once

#include <map>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "src/raft/storage.h"
#include "src/raft/types.h"

namespace raftkv::raft {

class Raft;

// Internal: what a Ready handed out, kept by RawNode for Advance().
struct ReadyCursor {
  Index last_entry_index = 0;  // of Ready::entries (0: none)
  Term last_entry_term = 0;
  Index last_committed_index = 0;  // of Ready::committed_entries (0: none)
  uint64_t committed_bytes = 0;    // payload bytes of Ready::committed_entries
  Index snapshot_index = 0;        // of Ready::snapshot (0: none)
};

enum class ReadOnlyOption : uint8_t {
  // ReadIndex confirms leadership with a heartbeat round (linearizable always).
  kSafe,
  // ReadIndex trusts the leader's lease (needs check_quorum and bounded clock
  // drift): no round trip, but unsafe if clocks misbehave.
  kLeaseBased,
};

struct Config {
  NodeId id = kNoNode;
  // Ticks a follower waits without hearing from a leader before campaigning;
  // the actual timeout is randomized in [election_tick, 2*election_tick).
  int election_tick = 10;
  int heartbeat_tick = 1;               // Invariant: heartbeat_tick < election_tick
  const LogStorage* storage = nullptr;  // not owned; must outlive the RawNode
  Index applied = 0;                    // the last index the state machine has applied, on restart

  uint64_t max_size_per_msg = 1 << 20;              // bytes of entries in one kApp
  uint64_t max_committed_size_per_ready = 8 << 20;  // bytes of committed entries in one Ready
  uint64_t max_uncommitted_entries_size = 0;        // leader's unbounded growth guard; 0 = none
  int max_inflight_msgs = 256;                      // kApp pipelined to a follower, unacked

  bool check_quorum = true;  // a leader steps down if a quorum is silent for an election timeout
  bool pre_vote = true;      // a pre-vote round before a real one (no term bumps from partitions)
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;
  bool disable_proposal_forwarding = false;  // followers drop proposals instead of forwarding
  // A leader whose commit index advances does not send empty appends just to
  // carry it: the new commit rides on the next append (the next proposal's)
  // or goes out when the caller calls RawNode::BroadcastCommit (the server
  // does that when no proposal came for a short while). Halves the messages
  // of a steady write load; followers learn commits a little later.
  bool defer_commit_broadcast = false;
  // A leader does not count its own copy of an entry when it appends it, but
  // when the caller reports that copy durable with
  // RawNode::ReportLeaderLogDurable (dissertation 10.2.1: the leader writes its
  // log in parallel with replicating it). The caller may then write a
  // leader's entries without a sync and sync them on another thread; commit
  // still needs a majority of durable copies, the leader's or not. Followers
  // and candidates are unaffected: their writes stay synchronous (step 1).
  bool report_leader_log_durable = false;
  uint64_t seed = 0;  // seeds the randomized election timeout

  // InvalidArgument naming the offending field.
  absl::Status Validate() const;
};

// What the caller must do next; see the file comment for the order.
struct Ready {
  std::optional<SoftState> soft_state;   // set when leader or role changed
  HardState hard_state;                  // IsEmpty() when unchanged
  std::vector<ReadState> read_states;    // answered ReadIndex requests
  std::vector<Entry> entries;            // to append to storage
  Snapshot snapshot;                     // to install; IsEmpty() when none
  std::vector<Entry> committed_entries;  // to apply, in order
  std::vector<Message> messages;         // to send
  bool must_sync = false;                // the write of step 1 must be fsynced

  bool ContainsUpdates() const;
};

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct ProgressStatus {
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
  bool is_learner = false;
};

struct NodeStatus {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  Index applied = 0;
  NodeId lead_transferee = kNoNode;
  ConfState conf_state;
  std::map<NodeId, ProgressStatus> progress;  // leader only
};

// Proposals are refused with Unavailable when there is no leader to take them,
// when a leadership transfer is in progress, or when a conf change is pending.
bool IsProposalDropped(const absl::Status& s);

class RawNode {
 public:
  // Reads the initial state from config.storage. InvalidArgument for a bad
  // config; the storage's error if it cannot be read.
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  void Tick();
  // Starts an election now (pre-vote first if configured).
  absl::Status Campaign();
  absl::Status Propose(Payload data);
  // Proposes all of data as consecutive entries in one step (one kProp).
  absl::Status ProposeBatch(std::vector<Payload> data);
  // At most one conf change may be pending (proposed but not applied).
  absl::Status ProposeConfChange(const ConfChange& cc);
  // Call when a kConfChange entry is applied; returns the new membership.
  ConfState ApplyConfChange(const ConfChange& cc);
  // A message from a peer. Local message types are refused (InvalidArgument);
  // a response from a node not in the configuration is ignored.
  absl::Status Step(Message m);
  // Requests a read index; the answer arrives in Ready::read_states with the
  // same ctx. A ctx must be unique among outstanding requests.
  void ReadIndex(std::string request_ctx);
  // A ReadIndex round goes only to the voters that complete a quorum with the
  // leader (those heard from most recently); if they are slow to answer, this
  // sends the newest pending read context to every follower. Returns false,
  // sending nothing, when no read is pending in the core (none asked, or all
  // held until this leader commits an entry of its term) or this node is not
  // the leader.
  bool ResendReadIndexRound();
  void TransferLeader(NodeId transferee);
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, bool failed);
  // With Config::report_leader_log_durable: every entry up to index that this
  // node wrote as leader of term is on disk. Counts the leader's own copy (and
  // may commit). Ignored unless this node is still the leader of term: a
  // report from an earlier term is stale (that term's log may have changed).
  void ReportLeaderLogDurable(Term term, Index index);
  // True when this node is the leader and enough of its followers are
  // replicating and were heard from within the last election timeout to
  // commit new entries without the leader's own copy; a leader may then put
  // off syncing its log (the server's leader_sync_delay_us).
  bool FollowersCanCommit() const;
  // With Config::defer_commit_broadcast: true while this leader's commit index
  // is ahead of what it last broadcast; BroadcastCommit then sends it (an
  // append, empty if need be, to every follower not paused). No-ops otherwise.
  bool HasUnbroadcastCommit() const;
  void BroadcastCommit();

  bool HasReady() const;
  Ready GetReady();
  void Advance();

  NodeStatus GetStatus() const;
  NodeId id() const;
  // Cheap accessors for the owner's hot path (GetStatus copies progress).
  Index LastIndex() const;
  Term CurrentTerm() const;
  Index CommitIndex() const;
  SoftState GetSoftState() const;

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_state_;
  HardState prev_hard_state_;
  // Set between GetReady() and Advance(): what that Ready handed out.
  std::optional<ReadyCursor> pending_ready_;
  HardState pending_hard_state_;
};

}  // namespace raftkv::raft
