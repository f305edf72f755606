// Node: one raftkv replica. It runs the node loop (the only code that touches
// the RawNode) and owns the apply thread, and connects them to storage, the
// peer transport and the client services.
//
// The node loop has no thread of its own: its rounds run on the node's
// CompletionLoop (src/transport/completion_loop.h), the thread that also runs
// every gRPC call of the node, between the calls' events. The services and
// the transport's handlers queue their work (proposals, reads, peer
// messages) on that same thread, so no thread is woken to take it: the next
// round sees everything queued since the last (its log sync included).
// Against a loop thread of its own, woken by a condition variable, the
// leader switches about half as often per write (write-64: 1.13-1.19 ->
// 0.63-0.76) and the servers spend 10-25% less CPU per operation (README,
// Performance).
//
// Node loop, each round:
//   1. take everything queued since the last round (by the services and the
//      transport's handlers, on the loop's thread): peer messages, proposals,
//      linearizable-read requests (bounded queues; a full queue refuses), and
//      the log syncer's newest durable report;
//   2. step the messages; propose all queued commands as ONE batch; register
//      ONE ReadIndex for all queued reads (its heartbeat goes to the voters
//      that complete a quorum with the leader; a round unanswered for
//      kReadRoundResendUs goes to every follower, again after twice that,
//      and so on up to the heartbeat interval); tick if a tick is due; a leader
//      whose commit index advanced and that sent no append since (which would
//      have carried it) for kCommitBroadcastDelayUs broadcasts it;
//   3. handle every Ready: a leader sends its messages first, then writes
//      its entries + hard state in one batch WITHOUT a sync; the core counts
//      the leader's copy only when it is reported durable, so commit still
//      needs a majority of synced copies (dissertation 10.2.1). While its
//      followers alone can commit (RawNode::FollowersCanCommit: a quorum of
//      them replicating and heard from within the election timeout), the
//      leader defers that sync: a deferred write that commits (on the
//      followers' disks) needs none, and one not committed within
//      leader_sync_delay_us of its write is handed to the log syncer
//      (log_syncer.h, a thread of its own) with every deferred write after
//      it. Otherwise the write goes to the syncer at once, or, when no other
//      write is in flight, is synced inline. The syncer's report is stepped
//      at the start of a later round; the loop goes on taking proposals and
//      answers meanwhile. Everyone else (and a leader whose term or vote
//      changed) persists in one synced batch (group commit) and sends after
//      the write; a synced write covers every earlier unsynced one (one
//      write-ahead log), so a node syncs its whole log before it votes,
//      campaigns or acknowledges anything in a new term;
//      hand committed entries to the apply thread; serve answered read
//      indexes at once when already applied, else hand them over too;
//      Advance.
// A follower gathers its committed entries before applying them: up to 8,
// or for at most 5 ms, or until a membership change or a change of role
// needs them applied (at one client each entry commits alone, and one RocksDB
// write per entry cost 3-6.5% of the servers' CPU per write); only its
// serializable reads see the difference, at most that much staler.
// Apply thread: applies committed entries in index order, everything queued
// at once as one atomic batch (KvStateMachine::ApplyBatch), answers the
// proposal waiter of each entry, and serves each linearizable read once the
// applied index reaches its read index. When the apply thread is idle and
// nothing is queued, the loop applies committed entries itself (one thread
// hand-off less per commit); only one of them applies at a time, in order.
// Whichever thread answers the waiters of an applied batch does so inside one
// ResponseBatch (response_batch.h), so that their responses leave together.
// Reads are answered without one: corking a round of 64 reads held every
// answer until the last (-7% linearizable reads, interleaved A/B), while
// answers sent one by one let the clients work in parallel.
//
// Invariants:
//   a write is answered OK only after its entry is committed (on a majority's
//   disk) and applied here;
//   a linearizable read is served only from state applied at or past a read
//   index confirmed by a quorum after the read arrived;
//   a proposal waiter registered at (index, term) is answered "not applied"
//   only when the entry applied at index has another term (then it never can
//   be), and "outcome unknown" only at its deadline or at shutdown;
//   a failed write of the Raft log crashes the process.
// Thread-safety: Propose, ReadBarrier, OnPeerMessage, OnUnreachable, GetInfo
// may be called from any thread (from one other than the loop's, they wake
// the loop); Start and Stop from the owner's thread only; the Driver calls
// from the loop's thread only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/kv.pb.h"
#include "src/raft/raw_node.h"
#include "src/server/config.h"
#include "src/server/log_syncer.h"
#include "src/storage/kv_state_machine.h"
#include "src/storage/raft_log_store.h"
#include "src/transport/completion_loop.h"
#include "src/transport/transport.h"

namespace raftkv::server {

using ProposeCallback = std::function<void(absl::StatusOr<v1::CommandResult>)>;
using ReadCallback = std::function<void(absl::Status)>;

// What the node loop last published about itself (for Status and routing).
struct NodeInfo {
  raft::StateRole role = raft::StateRole::kFollower;
  raft::NodeId leader = raft::kNoNode;
  raft::Term term = 0;
  raft::Index commit = 0;
  raft::Index last_index = 0;
  raft::ConfState conf_state;
};

// The "not leader" error (UNAVAILABLE) with the leader's id and client
// address attached as a payload; see grpc_status.h for the wire form.
// A non-empty why replaces the default message (used for writes that were
// definitely not applied, so clients know they may retry them).
absl::Status NotLeaderError(raft::NodeId leader_id, const std::string& leader_client_address,
                            const std::string& why = "");
constexpr char kNotLeaderPayloadUrl[] = "type.googleapis.com/raftkv.v1.NotLeader";

class Node final : public transport::CompletionLoop::Driver {
 public:
  // The storage objects must outlive the Node; transport must be started by
  // the caller with handlers that call OnPeerMessage / OnUnreachable.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const ServerConfig& config,
                                                      storage::RaftLogStore* log,
                                                      storage::KvStateMachine* kv,
                                                      transport::Transport* transport);
  ~Node();

  // Starts the apply thread and makes the node loop the driver of loop; call
  // before loop->Start. loop must outlive Stop.
  void Start(transport::CompletionLoop* loop);
  // Detaches the node loop from its CompletionLoop (which must still run) and
  // stops the apply thread; every waiting request is answered UNAVAILABLE
  // ("shutting down"; a write's outcome unknown). Idempotent.
  void Stop();

  // transport::CompletionLoop::Driver: the node loop's rounds.
  int64_t NextRoundAtUs() override;
  void RunRound() override;

  // Replicates cmd (already validated). done runs exactly once, on some
  // internal thread, and must not block. deadline_us is on SteadyClock.
  void Propose(const v1::Command& cmd, int64_t deadline_us, ProposeCallback done);
  // Waits until a linearizable read may be served (the caller then reads the
  // state machine). done runs exactly once and must not block for long (it
  // runs on the node loop when the read index is already applied, else on
  // the apply thread).
  void ReadBarrier(int64_t deadline_us, ReadCallback done);

  void OnPeerMessage(raft::Message m);
  void OnUnreachable(raft::NodeId peer);

  NodeInfo GetInfo() const;
  // The error a non-leader returns for requests that need the leader.
  absl::Status NotLeader(const std::string& why = "") const;
  bool IsLeader() const { return is_leader_.load(std::memory_order_acquire); }
  raft::Term CurrentTerm() const { return term_.load(std::memory_order_acquire); }

 private:
  struct PendingProposal {
    std::string data;
    int64_t deadline_us;
    ProposeCallback done;
  };
  struct PendingRead {
    int64_t deadline_us;
    ReadCallback done;
  };
  struct Waiter {
    raft::Term term;
    int64_t deadline_us;
    ProposeCallback done;
  };
  // One ReadIndex round shared by every read queued when it was requested.
  struct ReadRound {
    int64_t started_us;
    std::vector<PendingRead> reads;
    // When its context is next due to go to every follower
    // (ResendSlowReadRounds); 0 once regular heartbeats are as frequent.
    int64_t resend_at_us;
    // The wait before that resend; doubles with every resend.
    int64_t resend_wait_us;
  };
  // Work for the apply thread, in order.
  struct ApplyTask {
    std::vector<raft::Entry> entries;
    std::map<raft::Index, raft::ConfState> conf_states;  // for conf-change entries
    raft::Index read_index = 0;                          // with reads: serve at this index
    std::vector<PendingRead> reads;
  };

  Node(const ServerConfig& config, storage::RaftLogStore* log, storage::KvStateMachine* kv,
       transport::Transport* transport, std::unique_ptr<raft::RawNode> raw);

  // After queueing work: wakes the loop when called from another thread.
  void WakeLoop();
  void ProposeQueued(std::vector<PendingProposal> proposals);
  void HandleReady();
  // True when client writes other than a Ready's ready_entries wait for
  // their commit: then a leader's sync goes to the log syncer, so the loop
  // can step their acknowledgements meanwhile; with none, the loop would
  // only wait, and syncs inline (one thread hand-off less per write).
  bool EarlierWritesInFlight(size_t ready_entries);
  // A leader's deferred writes that committed (on a majority's disks without
  // this copy) need no sync; once the oldest of the rest is due, it is
  // handed to the log syncer with all after it.
  void SyncDeferredLeaderWrites(int64_t now_us);
  void PublishInfo();
  void ExpireReadRounds(int64_t now_us, bool fail_all, const char* why);
  // When the next resend of a pending read round is due (0: none is).
  int64_t ReadRoundResendAt() const;
  // A round sent to a quorum's worth of voters and unanswered for
  // kReadRoundResendUs goes to every follower (covering every pending round),
  // and again after twice as long, and so on, while the wait is at most the
  // heartbeat interval (then regular heartbeats carry it as often). If the
  // core has no round pending yet (a new leader holds reads until it has
  // committed an entry of its term), the resend is tried again
  // kReadRoundResendUs later instead of being counted as done.
  void ResendSlowReadRounds(int64_t now_us);
  // Applies task on the loop thread when the apply thread is idle with
  // nothing queued, else queues it.
  void ApplyOrEnqueue(ApplyTask task);
  void EnqueueApply(ApplyTask task);
  // A follower's committed entries wait in follower_unapplied_ until enough
  // have gathered or the oldest is due (kFollowerApplyBatchEntries,
  // kFollowerApplyDelayUs in node.cc); ApplyDeferred hands them on at once.
  void DeferFollowerApply(std::vector<raft::Entry> entries);
  void ApplyDeferred();

  void RunApply();
  void ApplyEntries(const ApplyTask& task);
  void ServeReadsUpTo(raft::Index applied);
  void ExpireWaitingReads(int64_t now_us);
  void ExpireWaiters(int64_t now_us);

  const ServerConfig config_;
  storage::RaftLogStore* const log_;
  storage::KvStateMachine* const kv_;
  transport::Transport* const transport_;
  std::unique_ptr<raft::RawNode> raw_;  // node loop thread only

  // Set by Start; the loop that runs the rounds.
  transport::CompletionLoop* loop_ = nullptr;

  // Inbox: filled by any thread, drained by the node loop.
  mutable std::mutex inbox_mu_;
  std::vector<raft::Message> inbox_messages_;
  std::vector<PendingProposal> inbox_proposals_;
  std::vector<PendingRead> inbox_reads_;
  std::vector<raft::NodeId> inbox_unreachable_;
  // The newest (term, index) the log syncer reported durable, not yet stepped.
  std::optional<std::pair<raft::Term, raft::Index>> inbox_durable_;
  bool stopping_ = false;

  // Node loop state.
  int64_t next_tick_us_ = 0;
  int64_t commit_broadcast_at_us_ = 0;            // 0: no commit waits to be broadcast
  std::map<std::string, ReadRound> read_rounds_;  // by ReadIndex context
  uint64_t next_read_ctx_ = 1;
  // A leader's log writes neither synced nor handed to the log syncer, in
  // index order: the last index of each and when its sync is due.
  struct DeferredSync {
    raft::Index last;
    int64_t due_at_us;
  };
  std::deque<DeferredSync> deferred_syncs_;
  raft::Term deferred_term_ = 0;  // the term they were written in
  // A follower's committed entries not yet handed to apply, in index order,
  // and when the oldest is due (0: none).
  std::vector<raft::Entry> follower_unapplied_;
  int64_t follower_apply_due_us_ = 0;
  raft::SoftState soft_state_;
  raft::HardState persisted_hard_state_;

  // Proposal waiters by log index: registered by the loop, answered by apply.
  std::mutex waiters_mu_;
  std::map<raft::Index, Waiter> waiters_;

  // Apply queue.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;        // apply thread waits for work
  std::condition_variable apply_space_cv_;  // loop waits for room
  std::deque<ApplyTask> apply_queue_;
  uint64_t apply_queue_entries_ = 0;
  bool apply_stopping_ = false;
  // Someone (the apply thread with a task, or the loop applying in place) is
  // applying. Invariant: at most one ApplyEntries runs at a time, in index
  // order; the loop applies in place only when the queue is empty and
  // !apply_busy_.
  bool apply_busy_ = false;
  // The loop applied in place while reads were waiting: the apply thread
  // must look at them.
  bool applied_elsewhere_ = false;
  // waiting_reads_.size() as last published by the apply thread (guarded by
  // apply_mu_; never lower than the true size).
  size_t waiting_reads_count_ = 0;
  // Apply thread only: reads waiting for the applied index to reach theirs.
  std::multimap<raft::Index, PendingRead> waiting_reads_;

  mutable std::mutex info_mu_;
  NodeInfo info_;
  std::atomic<bool> is_leader_{false};
  std::atomic<raft::NodeId> leader_{raft::kNoNode};
  std::atomic<raft::Term> term_{0};

  std::thread apply_thread_;
  // Syncs a leader's log writes off the loop (log_syncer.h); set by Start.
  std::unique_ptr<LogSyncer> log_syncer_;
};

}  // namespace raftkv::server
