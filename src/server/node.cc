#include "src/server/node.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "src/common/clock.h"
#include "src/common/status_macros.h"
#include "src/raft/codec.h"
#include "src/server/response_batch.h"

namespace raftkv::server {

namespace {

// The apply thread merges queued tasks into one RocksDB batch up to this many
// entries.
constexpr size_t kMaxApplyBatchEntries = 1024;
// The loop applies a commit itself (when the apply thread is idle) only when
// it is this small: under load, applying (and answering clients) on the
// apply thread lets the loop go on to the next fsync meanwhile.
constexpr size_t kMaxInlineApplyEntries = 8;
// A follower applies its committed entries once this many have gathered (so
// the loop still applies them itself), or once the oldest has waited
// kFollowerApplyDelayUs, or at once when a membership change or a change of
// role needs them applied: at one client every entry commits alone, and
// applying each as its own RocksDB write cost 3-6.5% of the servers' CPU per
// write (interleaved A/B, README). Its serializable reads lag by at most
// that delay more.
constexpr size_t kFollowerApplyBatchEntries = kMaxInlineApplyEntries;
constexpr int64_t kFollowerApplyDelayUs = 5000;
// A leader's new commit index waits this long for the next proposal's append
// to carry it to the followers before it is sent on its own (see
// raft::Config::defer_commit_broadcast): under a steady write load, one
// message per follower per write round instead of two; on an idle cluster,
// followers learn a commit this much later.
constexpr int64_t kCommitBroadcastDelayUs = 2000;
// A ReadIndex round goes to the voters that complete a quorum with the leader
// (raft::RawNode::ResendReadIndexRound); unanswered this long, it goes to
// every follower, so one slow or failed follower delays reads by at most this.
// Still unanswered (a message lost, a follower restarting), it goes to every
// follower again after twice the previous wait, until the wait would exceed
// the heartbeat interval: from then on every regular heartbeat carries it.
constexpr int64_t kReadRoundResendUs = 5000;

int64_t NowMicros() {
  static const SteadyClock clock;
  return clock.NowMicros();
}

absl::Status OutcomeUnknown(const char* why) {
  return absl::DeadlineExceededError(
      absl::StrCat(why, "; the write may or may not have been applied"));
}

}  // namespace

absl::Status NotLeaderError(raft::NodeId leader_id, const std::string& leader_client_address,
                            const std::string& why) {
  absl::Status st = absl::UnavailableError(
      !why.empty() ? absl::StrCat("not leader: ", why)
      : leader_id == raft::kNoNode
          ? std::string("not leader: no leader is known (election in progress?); retry shortly")
          : absl::StrCat("not leader: the leader is node ", leader_id,
                         leader_client_address.empty() ? "" : " at " + leader_client_address));
  v1::NotLeader nl;
  nl.set_leader_id(leader_id);
  nl.set_leader_client_address(leader_client_address);
  st.SetPayload(kNotLeaderPayloadUrl, absl::Cord(nl.SerializeAsString()));
  return st;
}

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const ServerConfig& config,
                                                   storage::RaftLogStore* log,
                                                   storage::KvStateMachine* kv,
                                                   transport::Transport* transport) {
  raft::Config rc;
  rc.id = config.id;
  rc.election_tick = config.election_ticks;
  rc.heartbeat_tick = config.heartbeat_ticks;
  rc.storage = log;
  rc.applied = kv->AppliedIndex();
  rc.max_size_per_msg = config.max_append_bytes;
  rc.max_inflight_msgs = config.max_inflight_appends;
  rc.check_quorum = true;
  rc.pre_vote = true;
  // Followers refuse client writes themselves; never forward proposals.
  rc.disable_proposal_forwarding = true;
  rc.defer_commit_broadcast = true;
  // A leader's own log writes are synced by the log syncer, off the loop.
  rc.report_leader_log_durable = true;
  rc.seed = static_cast<uint64_t>(NowMicros()) ^ config.id;
  ASSIGN_OR_RETURN(std::unique_ptr<raft::RawNode> raw, raft::RawNode::Create(rc));
  return std::unique_ptr<Node>(new Node(config, log, kv, transport, std::move(raw)));
}

Node::Node(const ServerConfig& config, storage::RaftLogStore* log, storage::KvStateMachine* kv,
           transport::Transport* transport, std::unique_ptr<raft::RawNode> raw)
    : config_(config), log_(log), kv_(kv), transport_(transport), raw_(std::move(raw)) {
  raft::NodeStatus st = raw_->GetStatus();
  persisted_hard_state_ = st.hard_state;
  info_.term = st.hard_state.term;
  info_.commit = st.hard_state.commit;
  info_.last_index = raw_->LastIndex();
  info_.conf_state = st.conf_state;
  term_ = st.hard_state.term;
}

Node::~Node() { Stop(); }

void Node::Start(transport::CompletionLoop* loop) {
  loop_ = loop;
  next_tick_us_ = NowMicros() + int64_t{config_.tick_ms} * 1000;
  apply_thread_ = std::thread([this] { RunApply(); });
  log_syncer_ = std::make_unique<LogSyncer>(
      [this] { return config_.unsafe_test_no_fsync ? absl::OkStatus() : log_->Sync(); },
      [this](raft::Term term, raft::Index index) {
        {
          std::lock_guard<std::mutex> lock(inbox_mu_);
          if (!inbox_durable_ || index > inbox_durable_->second || term != inbox_durable_->first) {
            inbox_durable_ = std::make_pair(term, index);
          }
        }
        WakeLoop();
      });
  loop_->AddDriver(this);
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  // From here no round runs, so the loop's state is this thread's.
  if (loop_ != nullptr) loop_->DetachDriver(this);
  if (log_syncer_ != nullptr) log_syncer_->Stop();
  {
    std::lock_guard<std::mutex> lock(apply_mu_);
    apply_stopping_ = true;
  }
  apply_cv_.notify_all();
  apply_space_cv_.notify_all();
  if (apply_thread_.joinable()) apply_thread_.join();
  // Answer everything still waiting.
  std::vector<PendingProposal> proposals;
  std::vector<PendingRead> reads;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    proposals.swap(inbox_proposals_);
    reads.swap(inbox_reads_);
  }
  for (auto& p : proposals) p.done(NotLeaderError(raft::kNoNode, "", "server is shutting down"));
  for (auto& r : reads) r.done(absl::UnavailableError("server is shutting down"));
  for (auto& [ctx, round] : read_rounds_) {
    for (auto& r : round.reads) r.done(absl::UnavailableError("server is shutting down"));
  }
  read_rounds_.clear();
  for (auto& [idx, r] : waiting_reads_) r.done(absl::UnavailableError("server is shutting down"));
  waiting_reads_.clear();
  std::map<raft::Index, Waiter> waiters;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    waiters.swap(waiters_);
  }
  for (auto& [idx, w] : waiters) w.done(OutcomeUnknown("server is shutting down"));
}

// ---- called from any thread ---------------------------------------------------------

void Node::Propose(const v1::Command& cmd, int64_t deadline_us, ProposeCallback done) {
  if (!IsLeader()) {
    done(NotLeader());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopping_) {
      done(NotLeaderError(raft::kNoNode, "", "server is shutting down"));
      return;
    }
    if (inbox_proposals_.size() >= config_.max_pending_proposals) {
      done(absl::ResourceExhaustedError(absl::StrCat(
          "too many pending writes (limit --max-pending-proposals=", config_.max_pending_proposals,
          "); retry with backoff")));
      return;
    }
    inbox_proposals_.push_back(
        PendingProposal{cmd.SerializeAsString(), deadline_us, std::move(done)});
  }
  WakeLoop();
}

void Node::ReadBarrier(int64_t deadline_us, ReadCallback done) {
  if (config_.unsafe_test_stale_reads) {
    done(absl::OkStatus());  // PLANTED FAULT for fault-injection self-tests
    return;
  }
  if (!IsLeader()) {
    done(NotLeader());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopping_) {
      done(absl::UnavailableError("server is shutting down"));
      return;
    }
    if (inbox_reads_.size() >= config_.max_pending_reads) {
      done(absl::ResourceExhaustedError(absl::StrCat(
          "too many pending reads (limit --max-pending-reads=", config_.max_pending_reads,
          "); retry with backoff")));
      return;
    }
    inbox_reads_.push_back(PendingRead{deadline_us, std::move(done)});
  }
  WakeLoop();
}

void Node::OnPeerMessage(raft::Message m) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    // Bounded: past the limit peer messages are dropped; Raft retransmits.
    if (inbox_messages_.size() >= 100000) return;
    inbox_messages_.push_back(std::move(m));
  }
  WakeLoop();
}

void Node::OnUnreachable(raft::NodeId peer) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_unreachable_.push_back(peer);
  }
  WakeLoop();
}

NodeInfo Node::GetInfo() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return info_;
}

absl::Status Node::NotLeader(const std::string& why) const {
  raft::NodeId leader = leader_.load(std::memory_order_acquire);
  auto it = config_.initial_cluster.find(leader);
  return NotLeaderError(leader, it == config_.initial_cluster.end() ? "" : it->second.client, why);
}

// ---- node loop ------------------------------------------------------------------------

void Node::WakeLoop() {
  if (loop_ != nullptr) loop_->Wake();
}

int64_t Node::NextRoundAtUs() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopping_) return std::numeric_limits<int64_t>::max();
    if (!inbox_messages_.empty() || !inbox_proposals_.empty() || !inbox_reads_.empty() ||
        !inbox_unreachable_.empty() || inbox_durable_.has_value()) {
      return 0;
    }
  }
  int64_t at = next_tick_us_;
  if (commit_broadcast_at_us_ != 0) at = std::min(at, commit_broadcast_at_us_);
  if (int64_t resend_at = ReadRoundResendAt(); resend_at != 0) at = std::min(at, resend_at);
  if (!deferred_syncs_.empty()) at = std::min(at, deferred_syncs_.front().due_at_us);
  if (follower_apply_due_us_ != 0) at = std::min(at, follower_apply_due_us_);
  return at;
}

void Node::RunRound() {
  const int64_t tick_us = int64_t{config_.tick_ms} * 1000;
  std::vector<raft::Message> messages;
  std::vector<PendingProposal> proposals;
  std::vector<PendingRead> reads;
  std::vector<raft::NodeId> unreachable;
  std::optional<std::pair<raft::Term, raft::Index>> durable;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopping_) return;
    messages.swap(inbox_messages_);
    proposals.swap(inbox_proposals_);
    reads.swap(inbox_reads_);
    unreachable.swap(inbox_unreachable_);
    durable.swap(inbox_durable_);
  }
  if (durable) raw_->ReportLeaderLogDurable(durable->first, durable->second);
  for (raft::Message& m : messages) {
    absl::Status st = raw_->Step(std::move(m));
    if (!st.ok()) spdlog::debug("step: {}", st.ToString());
  }
  for (raft::NodeId peer : unreachable) raw_->ReportUnreachable(peer);
  if (!proposals.empty()) ProposeQueued(std::move(proposals));
  if (!reads.empty()) {
    if (soft_state_.role != raft::StateRole::kLeader) {
      for (auto& r : reads) r.done(NotLeader());
    } else {
      std::string ctx(8, '\0');
      uint64_t n = next_read_ctx_++;
      for (int i = 0; i < 8; ++i) ctx[i] = static_cast<char>(n >> (8 * i));
      int64_t now_us = NowMicros();
      read_rounds_[ctx] =
          ReadRound{now_us, std::move(reads), now_us + kReadRoundResendUs, kReadRoundResendUs};
      raw_->ReadIndex(ctx);
    }
  }
  int64_t now = NowMicros();
  if (commit_broadcast_at_us_ != 0 && now >= commit_broadcast_at_us_) raw_->BroadcastCommit();
  ResendSlowReadRounds(now);
  if (now >= next_tick_us_) {
    raw_->Tick();
    next_tick_us_ += tick_us;
    if (next_tick_us_ < now) next_tick_us_ = now + tick_us;  // fell behind: don't burst
    ExpireReadRounds(now, false, nullptr);
    ExpireWaiters(now);
  }
  while (raw_->HasReady()) HandleReady();
  if (follower_apply_due_us_ != 0 &&
      (soft_state_.role != raft::StateRole::kFollower || NowMicros() >= follower_apply_due_us_)) {
    ApplyDeferred();
  }
  SyncDeferredLeaderWrites(NowMicros());
  if (!raw_->HasUnbroadcastCommit()) {
    commit_broadcast_at_us_ = 0;
  } else if (commit_broadcast_at_us_ == 0) {
    commit_broadcast_at_us_ = NowMicros() + kCommitBroadcastDelayUs;
  }
}

void Node::ProposeQueued(std::vector<PendingProposal> proposals) {
  if (soft_state_.role != raft::StateRole::kLeader) {
    for (auto& p : proposals) p.done(NotLeader());
    return;
  }
  std::vector<raft::Payload> batch;
  batch.reserve(proposals.size());
  for (auto& p : proposals) batch.emplace_back(std::move(p.data));
  raft::Index before = raw_->LastIndex();
  absl::Status st = raw_->ProposeBatch(std::move(batch));
  if (!st.ok()) {
    for (auto& p : proposals) p.done(raft::IsProposalDropped(st) ? NotLeader() : st);
    return;
  }
  RAFTKV_CHECK(raw_->LastIndex() == before + proposals.size());
  if (config_.unsafe_test_ack_before_commit) {
    // PLANTED FAULT for fault-injection self-tests: acknowledge before commit.
    for (auto& p : proposals) p.done(v1::CommandResult());
    return;
  }
  raft::Term term = raw_->CurrentTerm();
  std::lock_guard<std::mutex> lock(waiters_mu_);
  for (size_t i = 0; i < proposals.size(); ++i) {
    waiters_[before + 1 + i] = Waiter{term, proposals[i].deadline_us, std::move(proposals[i].done)};
  }
}

void Node::HandleReady() {
  raft::Ready rd = raw_->GetReady();
  // Reads answered while no write is in flight may be served by the loop
  // itself (see the read states below).
  bool serve_reads_here = false;
  if (!rd.read_states.empty() && rd.entries.empty() && rd.committed_entries.empty()) {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    serve_reads_here = waiters_.empty();
  }
  if (rd.soft_state) {
    bool was_leader = soft_state_.role == raft::StateRole::kLeader;
    soft_state_ = *rd.soft_state;
    is_leader_.store(soft_state_.role == raft::StateRole::kLeader, std::memory_order_release);
    leader_.store(soft_state_.lead, std::memory_order_release);
    if (was_leader && soft_state_.role != raft::StateRole::kLeader) {
      ExpireReadRounds(NowMicros(), true, "leadership lost before the read was confirmed");
    }
    spdlog::info("role {} leader {} term {}", raft::StateRoleName(soft_state_.role),
                 soft_state_.lead, raw_->CurrentTerm());
  }
  // A leader whose term and vote are already on disk may send its appends
  // before its own write completes: the core counts the leader's copy only
  // when the log syncer reports it durable (below), whatever answers the
  // followers send meanwhile.
  bool term_vote_durable =
      rd.hard_state.IsEmpty() || (rd.hard_state.term == persisted_hard_state_.term &&
                                  rd.hard_state.vote == persisted_hard_state_.vote);
  bool send_early = soft_state_.role == raft::StateRole::kLeader && term_vote_durable;
  if (send_early && !rd.messages.empty()) transport_->Send(std::move(rd.messages));

  if (!rd.snapshot.IsEmpty()) {
    // Snapshot installation needs the state-machine image, which is not
    // streamed yet; the log is never compacted, so no leader sends one.
    RAFTKV_CHECK_MSG(false, "received a snapshot, but snapshot install is not implemented");
  }
  // The last entry of a leader write synced here: counted once the Ready is
  // done (0: none).
  raft::Index synced_here = 0;
  if (!rd.entries.empty() || !rd.hard_state.IsEmpty()) {
    // Such a leader also need not wait for its write: the log syncer makes it
    // durable, and only then does the core count the leader's copy
    // (raft::Config::report_leader_log_durable). A new term or vote is
    // always synced here, before anything that depends on it is sent.
    bool leader_write = send_early && !rd.entries.empty();
    // While the followers alone can commit, the leader's sync waits (see
    // SyncDeferredLeaderWrites): they usually commit first, and then it is
    // not needed at all.
    bool defer = leader_write && config_.leader_sync_delay_us > 0 && raw_->FollowersCanCommit();
    bool sync_later = leader_write && (defer || EarlierWritesInFlight(rd.entries.size()));
    bool sync = rd.must_sync && !sync_later && !config_.unsafe_test_no_fsync;
    absl::Status st = log_->Save(rd.hard_state, rd.entries, sync);
    // A replica that cannot persist its log must not vote or acknowledge.
    RAFTKV_CHECK_MSG(st.ok(), absl::StrCat("writing the Raft log failed: ", st.ToString()));
    if (!rd.hard_state.IsEmpty()) persisted_hard_state_ = rd.hard_state;
    if (defer) {
      if (deferred_syncs_.empty()) deferred_term_ = raw_->CurrentTerm();
      deferred_syncs_.push_back(
          DeferredSync{rd.entries.back().index, NowMicros() + config_.leader_sync_delay_us});
    } else if (sync_later) {
      log_syncer_->Request(raw_->CurrentTerm(), rd.entries.back().index);
      deferred_syncs_.clear();  // that sync covers them
    } else if (leader_write) {
      synced_here = rd.entries.back().index;
      deferred_syncs_.clear();
    } else if (sync) {
      deferred_syncs_.clear();
    }
  }
  if (!send_early && !rd.messages.empty()) transport_->Send(std::move(rd.messages));

  if (!rd.committed_entries.empty()) {
    ApplyTask task;
    for (const raft::Entry& e : rd.committed_entries) {
      if (e.type != raft::EntryType::kConfChange) continue;
      absl::StatusOr<raft::ConfChange> cc = raft::DecodeConfChange(e.data.view());
      raft::ConfState cs = cc.ok() ? raw_->ApplyConfChange(*cc) : raw_->GetStatus().conf_state;
      task.conf_states[e.index] = cs;
      std::lock_guard<std::mutex> lock(info_mu_);
      info_.conf_state = cs;
    }
    if (task.conf_states.empty() && soft_state_.role == raft::StateRole::kFollower) {
      DeferFollowerApply(std::move(rd.committed_entries));
    } else {
      ApplyDeferred();  // first, in index order
      task.entries = std::move(rd.committed_entries);
      ApplyOrEnqueue(std::move(task));
    }
  }
  if (!rd.read_states.empty()) ApplyDeferred();
  for (raft::ReadState& rs : rd.read_states) {
    auto it = read_rounds_.find(rs.request_ctx);
    if (it == read_rounds_.end()) continue;
    if (serve_reads_here && kv_->AppliedIndex() >= rs.index) {
      // Already applied, and no write is waiting for the loop: serve the
      // reads here rather than wake the apply thread for them (a read-only
      // load saves a thread wake-up per round; with writes in flight,
      // serving here would hold up their next log write instead).
      for (PendingRead& r : it->second.reads) r.done(absl::OkStatus());
      read_rounds_.erase(it);
      continue;
    }
    ApplyTask task;
    task.read_index = rs.index;
    task.reads = std::move(it->second.reads);
    read_rounds_.erase(it);
    EnqueueApply(std::move(task));
  }
  raw_->Advance();
  if (synced_here != 0) raw_->ReportLeaderLogDurable(raw_->CurrentTerm(), synced_here);
  PublishInfo();
}

void Node::SyncDeferredLeaderWrites(int64_t now_us) {
  if (deferred_syncs_.empty()) return;
  if (soft_state_.role != raft::StateRole::kLeader || raw_->CurrentTerm() != deferred_term_) {
    // Not leader of that term any more: the core no longer counts this copy,
    // and whatever this node votes for or acknowledges in a later term comes
    // after the synced write of that term, which covers these writes too.
    deferred_syncs_.clear();
    return;
  }
  raft::Index commit = raw_->CommitIndex();
  while (!deferred_syncs_.empty() && deferred_syncs_.front().last <= commit) {
    deferred_syncs_.pop_front();  // on a majority's disks without this copy
  }
  if (deferred_syncs_.empty()) return;
  if (now_us >= deferred_syncs_.front().due_at_us) {
    log_syncer_->Request(deferred_term_, deferred_syncs_.back().last);
    deferred_syncs_.clear();
  }
}

bool Node::EarlierWritesInFlight(size_t ready_entries) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  return waiters_.size() > ready_entries;
}

void Node::PublishInfo() {
  std::lock_guard<std::mutex> lock(info_mu_);
  info_.role = soft_state_.role;
  info_.leader = soft_state_.lead;
  info_.term = raw_->CurrentTerm();
  info_.commit = persisted_hard_state_.commit;
  info_.last_index = raw_->LastIndex();
  term_.store(info_.term, std::memory_order_release);
}

int64_t Node::ReadRoundResendAt() const {
  int64_t at = 0;
  for (const auto& [ctx, round] : read_rounds_) {
    if (round.resend_at_us == 0) continue;
    if (at == 0 || round.resend_at_us < at) at = round.resend_at_us;
  }
  return at;
}

void Node::ResendSlowReadRounds(int64_t now_us) {
  int64_t due = ReadRoundResendAt();
  if (due == 0 || now_us < due) return;
  // The newest pending context: a quorum's answer to it confirms every round.
  bool sent = raw_->ResendReadIndexRound();
  const int64_t heartbeat_us = int64_t{config_.heartbeat_ticks} * config_.tick_ms * 1000;
  for (auto& [ctx, round] : read_rounds_) {
    if (round.resend_at_us == 0) continue;
    if (!sent) {  // nothing pending in the core yet: try again, same wait
      round.resend_at_us = now_us + kReadRoundResendUs;
      continue;
    }
    // The newest context just went out, covering this round too.
    round.resend_wait_us *= 2;
    round.resend_at_us = round.resend_wait_us > heartbeat_us ? 0 : now_us + round.resend_wait_us;
  }
}

void Node::ExpireReadRounds(int64_t now_us, bool fail_all, const char* why) {
  // A round unanswered for two election timeouts was lost (e.g. the
  // heartbeats or their answers were dropped): fail it, reads are retryable.
  int64_t stale_us = int64_t{2} * config_.election_ticks * config_.tick_ms * 1000;
  for (auto it = read_rounds_.begin(); it != read_rounds_.end();) {
    if (fail_all || now_us - it->second.started_us > stale_us) {
      for (auto& r : it->second.reads) {
        r.done(absl::UnavailableError(
            why ? why : "leadership could not be confirmed in time; retry the read"));
      }
      it = read_rounds_.erase(it);
    } else {
      ++it;
    }
  }
}

void Node::ExpireWaiters(int64_t now_us) {
  std::vector<ProposeCallback> expired;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline_us <= now_us) {
        expired.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : expired)
    done(OutcomeUnknown("the write was not committed before its deadline"));
}

void Node::DeferFollowerApply(std::vector<raft::Entry> entries) {
  // Every batch handed on stays small enough for the loop to apply it itself
  // (a larger one would wake the apply thread): what would overflow the
  // batch sends the batch on first, and a commit of a batch's size or more
  // goes on alone, at once.
  if (follower_unapplied_.size() + entries.size() > kFollowerApplyBatchEntries) ApplyDeferred();
  if (entries.size() >= kFollowerApplyBatchEntries) {
    ApplyTask task;
    task.entries = std::move(entries);
    ApplyOrEnqueue(std::move(task));
    return;
  }
  if (follower_unapplied_.empty()) follower_apply_due_us_ = NowMicros() + kFollowerApplyDelayUs;
  for (raft::Entry& e : entries) follower_unapplied_.push_back(std::move(e));
  if (follower_unapplied_.size() == kFollowerApplyBatchEntries) ApplyDeferred();
}

void Node::ApplyDeferred() {
  if (follower_unapplied_.empty()) return;
  ApplyTask task;
  task.entries = std::move(follower_unapplied_);
  follower_unapplied_.clear();
  follower_apply_due_us_ = 0;
  ApplyOrEnqueue(std::move(task));
}

void Node::ApplyOrEnqueue(ApplyTask task) {
  // With nothing queued and the apply thread idle, apply on this (the loop)
  // thread: it saves a thread hand-off per commit. Order is kept: the loop is
  // the only producer, so nothing is queued while it applies here.
  bool here = false;
  {
    std::lock_guard<std::mutex> lock(apply_mu_);
    here = task.entries.size() <= kMaxInlineApplyEntries && apply_queue_.empty() && !apply_busy_ &&
           !apply_stopping_;
    if (here) apply_busy_ = true;
  }
  if (!here) {
    EnqueueApply(std::move(task));
    return;
  }
  ApplyEntries(task);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(apply_mu_);
    apply_busy_ = false;
    // Reads waiting for the applied index are served by the apply thread.
    wake = waiting_reads_count_ > 0;
    applied_elsewhere_ = applied_elsewhere_ || wake;
  }
  if (wake) apply_cv_.notify_one();
}

void Node::EnqueueApply(ApplyTask task) {
  std::unique_lock<std::mutex> lock(apply_mu_);
  // Backpressure: the loop waits while the apply thread is far behind.
  apply_space_cv_.wait(lock, [&] {
    return apply_stopping_ || apply_queue_entries_ < config_.max_apply_queue_entries;
  });
  apply_queue_entries_ += task.entries.size();
  apply_queue_.push_back(std::move(task));
  apply_cv_.notify_one();
}

// ---- apply thread ------------------------------------------------------------------------

void Node::RunApply() {
  pthread_setname_np(pthread_self(), "raft-apply");
  while (true) {
    ApplyTask task;
    bool have_task = false;
    {
      std::unique_lock<std::mutex> lock(apply_mu_);
      apply_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] {
        return apply_stopping_ || !apply_queue_.empty() || applied_elsewhere_;
      });
      if (apply_stopping_) return;
      applied_elsewhere_ = false;
      if (!apply_queue_.empty()) {
        // Everything queued becomes one batch (bounded, so one RocksDB write
        // stays small while catching up).
        have_task = true;
        apply_busy_ = true;
        task = std::move(apply_queue_.front());
        apply_queue_.pop_front();
        for (auto& r : task.reads) waiting_reads_.emplace(task.read_index, std::move(r));
        task.reads.clear();
        while (!apply_queue_.empty() && task.entries.size() < kMaxApplyBatchEntries) {
          ApplyTask& next = apply_queue_.front();
          task.entries.insert(task.entries.end(), std::make_move_iterator(next.entries.begin()),
                              std::make_move_iterator(next.entries.end()));
          task.conf_states.merge(next.conf_states);
          for (auto& r : next.reads) waiting_reads_.emplace(next.read_index, std::move(r));
          apply_queue_.pop_front();
        }
        apply_queue_entries_ -= task.entries.size();
        waiting_reads_count_ = waiting_reads_.size();
      }
    }
    if (have_task) {
      apply_space_cv_.notify_one();
      ApplyEntries(task);
    }
    ServeReadsUpTo(kv_->AppliedIndex());
    ExpireWaitingReads(NowMicros());
    std::lock_guard<std::mutex> lock(apply_mu_);
    if (have_task) apply_busy_ = false;
    waiting_reads_count_ = waiting_reads_.size();
  }
}

void Node::ExpireWaitingReads(int64_t now_us) {
  // Reads whose deadline passed while they waited to be applied.
  for (auto it = waiting_reads_.begin(); it != waiting_reads_.end();) {
    if (it->second.deadline_us <= now_us) {
      it->second.done(absl::DeadlineExceededError(
          "the read's deadline passed before this node applied up to its read index"));
      it = waiting_reads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Node::ApplyEntries(const ApplyTask& task) {
  if (task.entries.empty()) return;
  // One RocksDB write for the whole task (KvStateMachine::ApplyBatch).
  absl::StatusOr<std::vector<storage::ApplyOutcome>> outcomes =
      kv_->ApplyBatch(task.entries, task.conf_states);
  RAFTKV_CHECK_MSG(outcomes.ok(), absl::StrCat("applying entries ", task.entries.front().index, "-",
                                               task.entries.back().index,
                                               " failed: ", outcomes.status().ToString()));
  // Take the waiters of these indexes in one pass, then answer them unlocked.
  std::vector<std::pair<size_t, Waiter>> answered;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    for (size_t i = 0; i < task.entries.size() && !waiters_.empty(); ++i) {
      auto w = waiters_.find(task.entries[i].index);
      if (w == waiters_.end()) continue;
      answered.emplace_back(i, std::move(w->second));
      waiters_.erase(w);
    }
  }
  ResponseBatch responses(answered.size());  // the answers leave together
  for (auto& [i, waiter] : answered) {
    storage::ApplyOutcome& out = (*outcomes)[i];
    if (waiter.term != task.entries[i].term) {
      // Another leader's entry took this index: ours was never committed and
      // never will be.
      waiter.done(
          NotLeader("leadership changed before the write was committed; it was not applied"));
    } else if (out.already_applied) {
      waiter.done(OutcomeUnknown("the entry was applied before this node restarted"));
    } else if (!out.status.ok()) {
      waiter.done(out.status);
    } else {
      waiter.done(std::move(out.result));
    }
  }
}

void Node::ServeReadsUpTo(raft::Index applied) {
  while (!waiting_reads_.empty() && waiting_reads_.begin()->first <= applied) {
    waiting_reads_.begin()->second.done(absl::OkStatus());
    waiting_reads_.erase(waiting_reads_.begin());
  }
}

}  // namespace raftkv::server
