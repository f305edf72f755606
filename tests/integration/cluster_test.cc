// Integration tests: three real raftkv processes on loopback, driven through
// the C++ client library and through kvctl.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/kv.grpc.pb.h"
#include "proto/transport.grpc.pb.h"
#include "src/storage/power_cut.h"
#include "tests/integration/process_cluster.h"

namespace raftkv::testing {
namespace {

// A Put of key (value "v") sent straight to address with gRPC, not through
// the client library (which would follow redirects); ctx keeps the answer's
// metadata.
grpc::Status RawPut(const std::string& address, const std::string& key, grpc::ClientContext* ctx) {
  auto stub = v1::KV::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::PutRequest req;
  req.set_key(key);
  req.set_value("v");
  v1::PutResponse resp;
  return stub->Put(ctx, req, &resp);
}

// The value of key as the node behind c sees it (a serializable read of its
// own state).
std::optional<std::string> LocalValue(client::Client& c, const std::string& key) {
  v1::RangeRequest req;
  req.set_key(key);
  req.set_consistency(v1::SERIALIZABLE);
  auto r = c.Range(req);
  if (!r.ok() || r->kvs_size() == 0) return std::nullopt;
  return r->kvs(0).value();
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start().ok());
    absl::StatusOr<int> leader = cluster_.WaitForLeader();
    ASSERT_TRUE(leader.ok()) << leader.status() << "\n" << cluster_.LogTail(1);
    leader_ = *leader;
    client_ = cluster_.NewClient();
  }

  // The value of key as node id sees it (serializable read of its own state).
  std::optional<std::string> LocalValue(int id, const std::string& key) {
    return testing::LocalValue(*cluster_.NewClientFor(id), key);
  }

  uint64_t AppliedIndexOfLeader() {
    auto s = client_->Status(cluster_.ClientAddress(leader_));
    return s.ok() ? s->applied_index() : 0;
  }

  ProcessCluster cluster_;
  int leader_ = 0;
  std::unique_ptr<client::Client> client_;
};

TEST_F(ClusterTest, PutGetDeleteAndRevisions) {
  auto p1 = client_->Put("hello", "world");
  ASSERT_TRUE(p1.ok()) << p1.status();
  auto p2 = client_->Put("hello", "again", /*prev_kv=*/true);
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_EQ(p2->header().revision(), p1->header().revision() + 1);
  EXPECT_EQ(p2->prev_kv().value(), "world");
  auto g = client_->Get("hello");
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->kvs_size(), 1);
  EXPECT_EQ(g->kvs(0).value(), "again");
  EXPECT_EQ(g->kvs(0).version(), 2u);
  EXPECT_EQ(g->kvs(0).create_revision(), p1->header().revision());
  EXPECT_EQ(g->kvs(0).mod_revision(), p2->header().revision());
  EXPECT_EQ(g->header().revision(), p2->header().revision());

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->Put(absl::StrCat("dir/", i), "x").ok());
  v1::RangeRequest prefix;
  prefix.set_key("dir/");
  prefix.set_prefix(true);
  prefix.set_limit(3);
  auto r = client_->Range(prefix);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kvs_size(), 3);
  EXPECT_EQ(r->count(), 5u);
  EXPECT_TRUE(r->more());

  v1::DeleteRangeRequest del;
  del.set_key("dir/");
  del.set_prefix(true);
  auto d = client_->DeleteRange(del);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->deleted(), 5u);
  auto after = client_->Range(prefix);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->count(), 0u);
}

// 100 ms ticks, an election timeout of election_ticks and regular heartbeats
// one tick shorter: anything faster than a heartbeat is the code under test.
ProcessClusterOptions SlowHeartbeats(int election_ticks) {
  ProcessClusterOptions options;
  options.tick_ms = 100;
  options.election_ticks = election_ticks;
  options.extra_flags = {"--heartbeat-ticks", absl::StrCat(election_ticks - 1)};
  return options;
}

// A node that cannot start (here: its client port is taken) is reported with
// the reason from its log, instead of leaving a two-node cluster that passes
// WaitForLeader and then stalls whatever needs the third node.
TEST(ClusterStartTest, ANodeThatCannotStartIsReportedWithItsLog) {
  ProcessCluster cluster;
  const std::string address = cluster.ClientAddress(3);
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  int squatter = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(squatter, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(squatter, 1), 0);
  ASSERT_TRUE(cluster.Start().ok());
  absl::StatusOr<int> leader = cluster.WaitForLeader(absl::Seconds(20));
  close(squatter);
  ASSERT_FALSE(leader.ok()) << "a leader was reported while node 3 could not start";
  EXPECT_NE(leader.status().message().find("node 3 exited"), std::string::npos) << leader.status();
  EXPECT_NE(leader.status().message().find("Address already in use"), std::string::npos)
      << leader.status();
  EXPECT_FALSE(cluster.Running(3));
}

// A client whose nodes were down when it first tried them must reach them as
// soon as they are up. gRPC keeps a channel that failed in TRANSIENT_FAILURE
// while it reconnects and fails calls there at once, without polling; in a
// process that polls nothing else (this test, a client application) the
// reconnection then completes only when gRPC's backup poller runs, every 5 s,
// unless the client polls the channel itself.
TEST(ClusterStartTest, AClientStartedBeforeTheClusterReachesItOnceItIsUp) {
  ProcessCluster cluster;
  auto client = cluster.NewClient(absl::Milliseconds(300));
  const absl::Time refused_until = absl::Now() + absl::Milliseconds(500);
  while (absl::Now() < refused_until) ASSERT_FALSE(client->Put("k", "v").ok());
  ASSERT_TRUE(cluster.Start().ok());
  const absl::Time started = absl::Now();
  absl::Status put = absl::UnknownError("not tried");
  while (!put.ok() && absl::Now() - started < absl::Seconds(20)) {
    put = client->Put("k", "v").status();
  }
  const absl::Duration took = absl::Now() - started;
  ASSERT_TRUE(put.ok()) << put;
  // Startup and an election (200-400 ms here) take well under this.
  EXPECT_LT(took, absl::Milliseconds(2500))
      << "the first write succeeded " << took << " after the nodes were started";
}

// A leader defers broadcasting a new commit index for the next append to
// carry, and a follower defers applying a commit for more to gather, but
// neither for long: on an idle cluster followers must learn and apply each
// write within milliseconds, not at the next heartbeat (and not once seven
// more writes have come). Heartbeats here are 2.9 s apart, so only the
// leader's deferred broadcast (2 ms) and the follower's apply delay (5 ms)
// can make a write visible on a follower within the 500 ms allowed.
TEST(ClusterCommitTest, IdleFollowersLearnCommitsLongBeforeTheNextHeartbeat) {
  ProcessCluster cluster(SlowHeartbeats(30));
  ASSERT_TRUE(cluster.Start().ok());
  absl::StatusOr<int> leader = cluster.WaitForLeader(absl::Seconds(30));
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto client = cluster.NewClient();
  int follower = *leader == 1 ? 2 : 1;
  auto reader = cluster.NewClientFor(follower);
  for (int i = 0; i < 3; ++i) {
    std::string value = absl::StrCat("v", i);
    ASSERT_TRUE(client->Put("idle", value).ok());
    absl::Time deadline = absl::Now() + absl::Milliseconds(500);
    std::string seen;
    while (absl::Now() < deadline) {
      v1::RangeRequest req;
      req.set_key("idle");
      req.set_consistency(v1::SERIALIZABLE);
      auto r = reader->Range(req);
      if (r.ok() && r->kvs_size() == 1) seen = r->kvs(0).value();
      if (seen == value) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_EQ(seen, value) << "follower " << follower << " did not apply write " << i
                           << " within 500 ms";
  }
}

// Linearizable reads whose ReadIndex round meets dead or silent followers.
// Heartbeats are 5.9 s apart, longer than the client's 5 s deadline, so a read
// answered in time was confirmed by a resent round, not a regular heartbeat.
// The scene: the leader, follower v (answering: the one heard from last after
// the setup's writes) and follower o (taken out by each test before "v2").
class ClusterReadTest : public ::testing::Test {
 protected:
  ClusterReadTest() : cluster_(SlowHeartbeats(60)) {}

  void SetUp() override {
    ASSERT_TRUE(cluster_.Start().ok());
    absl::StatusOr<int> leader = cluster_.WaitForLeader(absl::Seconds(40));
    ASSERT_TRUE(leader.ok()) << leader.status();
    leader_ = *leader;
    v_ = leader_ == 1 ? 2 : 1;
    o_ = 6 - leader_ - v_;
    client_ = cluster_.NewClient();
    ASSERT_TRUE(client_->Put("k", "v1").ok());
  }

  // Writes "v2" (committed by the leader and v alone: the caller took o out),
  // kills v, and starts a linearizable read of it, which must still be
  // waiting 200 ms later.
  void KillVAndStartTheRead() {
    ASSERT_TRUE(client_->Put("k", "v2").ok());
    cluster_.Kill(v_);
    reader_ = std::thread([this] {
      read_ = client_->Get("k");
      done_ = true;
    });
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_FALSE(done_) << "a read was answered without a quorum";
  }

  // Waits for the read (at most 10 s); checks it saw "v2" and returns how
  // long it took from now.
  absl::Duration WaitForTheRead() {
    const absl::Time from = absl::Now();
    while (!done_ && absl::Now() - from < absl::Seconds(10)) absl::SleepFor(absl::Milliseconds(1));
    const absl::Duration took = absl::Now() - from;
    reader_.join();
    if (!read_.ok()) {
      for (const auto& e : cluster_.NewClient(absl::Seconds(1))->StatusAll()) {
        ADD_FAILURE() << "after the failed read, " << e.endpoint << " says: "
                      << (e.status.ok() ? e.status->ShortDebugString()
                                        : e.status.status().ToString());
      }
      ADD_FAILURE() << read_.status() << "\nleader " << leader_ << ":\n"
                    << cluster_.LogTail(leader_, 40) << "\nfollower " << o_ << ":\n"
                    << cluster_.LogTail(o_, 40);
    } else {
      EXPECT_EQ(read_->kvs_size(), 1);
      if (read_->kvs_size() == 1) {
        EXPECT_EQ(read_->kvs(0).value(), "v2");
      }
    }
    return took;
  }

  void TearDown() override {
    if (reader_.joinable()) reader_.join();
  }

  ProcessCluster cluster_;
  int leader_ = 0, v_ = 0, o_ = 0;
  std::unique_ptr<client::Client> client_;
  std::thread reader_;
  std::atomic<bool> done_{false};
  absl::StatusOr<v1::RangeResponse> read_ = absl::UnknownError("not run");
};

// A round goes to one follower (with the leader, a quorum of three): the one
// heard from most recently, v. It is dead, so after 5 ms the round goes to
// every follower; o, paused meanwhile and resumed 200 ms later, finds the
// read's context waiting.
TEST_F(ClusterReadTest, ReadRoundToADeadFollowerIsResentToTheOthers) {
  cluster_.Pause(o_);
  KillVAndStartTheRead();
  cluster_.Resume(o_);
  EXPECT_LT(WaitForTheRead(), absl::Milliseconds(300))
      << "the read waited for a regular heartbeat: its round was not resent";
}

// A resend can be lost too: here o is down when the first one goes out. The
// round then goes to every follower again after twice the wait, and so on up
// to the heartbeat interval, so o, restarted 200 ms later, confirms the read
// long before the next regular heartbeat.
TEST_F(ClusterReadTest, ReadRoundIsResentUntilAFollowerThatCameBackAnswers) {
  cluster_.Kill(o_);
  KillVAndStartTheRead();
  ASSERT_TRUE(cluster_.StartNode(o_).ok());
  EXPECT_LT(WaitForTheRead(), absl::Seconds(3))
      << "the read waited for a regular heartbeat: its round was not resent again";
}

TEST_F(ClusterTest, TxnCompareAndSwap) {
  ASSERT_TRUE(client_->Put("cas", "v1").ok());
  auto make = [](const std::string& expect, const std::string& next) {
    v1::TxnRequest t;
    auto* c = t.add_compare();
    c->set_key("cas");
    c->set_target(v1::Compare::VALUE);
    c->set_result(v1::Compare::EQUAL);
    c->set_value(expect);
    auto* put = t.add_success()->mutable_request_put();
    put->set_key("cas");
    put->set_value(next);
    t.add_failure()->mutable_request_range()->set_key("cas");
    return t;
  };
  auto ok = client_->Txn(make("v1", "v2"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->succeeded());
  auto fail = client_->Txn(make("v1", "v3"));
  ASSERT_TRUE(fail.ok()) << fail.status();
  EXPECT_FALSE(fail->succeeded());
  ASSERT_EQ(fail->responses_size(), 1);
  EXPECT_EQ(fail->responses(0).response_range().kvs(0).value(), "v2");
}

TEST_F(ClusterTest, BadInputIsRefusedAndNothingIsApplied) {
  auto base = client_->Put("k", "v");
  ASSERT_TRUE(base.ok());
  uint64_t rev = base->header().revision();

  auto empty = client_->Put("", "v");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument) << empty.status();

  auto big_key = client_->Put(std::string(4097, 'k'), "v");
  EXPECT_EQ(big_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big_key.status().message().find("4096"), std::string::npos) << big_key.status();

  auto big_value = client_->Put("k", std::string(2 << 20, 'v'));
  EXPECT_TRUE(big_value.status().code() == absl::StatusCode::kInvalidArgument ||
              big_value.status().code() == absl::StatusCode::kResourceExhausted)
      << big_value.status();

  v1::TxnRequest txn;
  for (int i = 0; i < 129; ++i) {
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(absl::StrCat("t", i));
    put->set_value("v");
  }
  auto big_txn = client_->Txn(txn);
  EXPECT_EQ(big_txn.status().code(), absl::StatusCode::kInvalidArgument) << big_txn.status();
  EXPECT_NE(big_txn.status().message().find("128"), std::string::npos) << big_txn.status();

  auto g = client_->Get("k");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->header().revision(), rev);
  EXPECT_EQ(g->kvs(0).value(), "v");
}

// A Range answer larger than gRPC's default 4 MiB receive limit reaches the
// client whole (etcd's client accepts up to 2 GiB too).
TEST_F(ClusterTest, RangeAnswerOverFourMebibytesArrives) {
  const std::string value(1 << 20, 'v');
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client_->Put(absl::StrCat("big/", i), value).ok());
  v1::RangeRequest req;
  req.set_key("big/");
  req.set_range_end("big0");  // every key with the prefix "big/"
  auto r = client_->Range(req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->kvs_size(), 5);
  EXPECT_EQ(r->kvs(4).value(), value);
}

// A long scan does not hold up the leader's other work: a Put sent while a
// serializable scan of 200,000 keys is being served is answered before the
// scan. The scan counts the keys (count_only), so nearly all its time is the
// server's and its answer is small. (If scans ran on the thread that runs Raft
// and every gRPC call, the Put could not even be taken until the scan was
// done, and its answer would come after the count's.)
TEST_F(ClusterTest, PutIsAnsweredWhileALongScanIsServed) {
  constexpr int kKeys = 200'000, kPerTxn = 128, kWriters = 4;
  std::vector<std::thread> writers;
  std::atomic<bool> load_ok{true};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto c = cluster_.NewClient();
      for (int first = w * kPerTxn; first < kKeys; first += kWriters * kPerTxn) {
        v1::TxnRequest t;
        for (int i = first; i < std::min(first + kPerTxn, kKeys); ++i) {
          auto* put = t.add_success()->mutable_request_put();
          put->set_key(absl::StrCat("scan/", 1'000'000 + i));
          put->set_value("0123456789abcdef");
        }
        if (!c->Txn(t).ok()) load_ok = false;
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_TRUE(load_ok);

  auto scan_client = cluster_.NewClientFor(leader_);
  ASSERT_TRUE(scan_client->Get("warm").ok());  // connected before the scan
  std::atomic<int64_t> scan_done_us{0};
  absl::StatusOr<v1::RangeResponse> scan;
  std::thread scanner([&] {
    v1::RangeRequest req;
    req.set_key("scan/");
    req.set_range_end("scan0");
    req.set_consistency(v1::SERIALIZABLE);
    req.set_count_only(true);
    scan = scan_client->Range(req);
    scan_done_us = absl::ToUnixMicros(absl::Now());
  });
  // Give the scan time to reach the leader and begin (it takes several
  // times this long: ~0.13 s); a slower start only makes the check pass
  // vacuously.
  absl::SleepFor(absl::Milliseconds(30));
  auto put = client_->Put("during-scan", "v");
  const int64_t put_done_us = absl::ToUnixMicros(absl::Now());
  scanner.join();
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->count(), kKeys);
  EXPECT_LT(put_done_us, scan_done_us.load())
      << "the Put waited for the scan: scans hold up the leader's loop";
}

TEST_F(ClusterTest, FollowerAnswersNotLeaderWithTheLeadersAddress) {
  int follower = leader_ == 1 ? 2 : 1;
  grpc::ClientContext ctx;
  grpc::Status st = RawPut(cluster_.ClientAddress(follower), "a", &ctx);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  auto md = ctx.GetServerTrailingMetadata();
  auto addr = md.find("raftkv-leader-addr");
  ASSERT_NE(addr, md.end());
  EXPECT_EQ(std::string(addr->second.data(), addr->second.size()), cluster_.ClientAddress(leader_));
  auto bin = md.find("raftkv-leader-bin");
  ASSERT_NE(bin, md.end());
  v1::NotLeader nl;
  ASSERT_TRUE(nl.ParseFromString(std::string(bin->second.data(), bin->second.size())));
  EXPECT_EQ(nl.leader_id(), static_cast<uint64_t>(leader_));

  // A serializable read is served by the follower itself.
  ASSERT_TRUE(client_->Put("s", "1").ok());
  ASSERT_TRUE(cluster_.WaitForApplied(follower, AppliedIndexOfLeader()).ok());
  EXPECT_EQ(LocalValue(follower, "s"), std::optional<std::string>("1"));
}

// Clients and peers share one gRPC server per node, but each port serves
// only its own side: a client call on the peer port and a Raft stream on the
// client port are refused with an error naming the right address.
TEST_F(ClusterTest, EachPortServesOnlyItsOwnSide) {
  grpc::ClientContext put_ctx;
  grpc::Status st = RawPut(cluster_.PeerAddress(leader_), "wrong-port", &put_ctx);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find(cluster_.ClientAddress(leader_)), std::string::npos)
      << st.error_message();

  // A well-formed heartbeat from a node that does not exist, on the client
  // port: refused before it reaches Raft.
  auto peer = transport::RaftPeer::NewStub(
      grpc::CreateChannel(cluster_.ClientAddress(leader_), grpc::InsecureChannelCredentials()));
  grpc::ClientContext send_ctx;
  send_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto writer = peer->Exchange(&send_ctx);
  transport::MessageBatch batch;
  batch.set_from(9);
  batch.set_to(static_cast<uint64_t>(leader_));
  writer->Write(batch);
  writer->WritesDone();
  st = writer->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("peer address"), std::string::npos) << st.error_message();

  auto g = client_->Get("wrong-port");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->kvs_size(), 0);
}

// Writes from several threads while the leader is killed; returns the keys
// acknowledged. Each value is unique (its key).
class Writer {
 public:
  Writer(ProcessCluster* cluster, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, cluster, t] {
        auto c = cluster->NewClient(absl::Seconds(3));
        for (int i = 0; !stop_; ++i) {
          std::string key = absl::StrCat("w", t, "-", i);
          auto r = c->Put(key, key);
          std::lock_guard<std::mutex> lock(mu_);
          if (r.ok()) {
            acked_.insert(key);
          } else {
            ++failed_;
          }
        }
      });
    }
  }
  ~Writer() { Join(); }
  void Join() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  size_t AckedCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }
  std::set<std::string> Acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> acked_;
  int failed_ = 0;
  std::vector<std::thread> threads_;
};

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

TEST_F(ClusterTest, LeaderKilledDuringWritesThenRestartedAndCaughtUp) {
  Writer writer(&cluster_, 4);
  ASSERT_TRUE(WaitFor([&] { return writer.AckedCount() >= 200; }, absl::Seconds(30)));
  int old_leader = leader_;
  cluster_.Kill(old_leader);
  size_t at_kill = writer.AckedCount();
  auto leader = cluster_.WaitForLeader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  EXPECT_NE(*leader, old_leader);
  // Writes continue under the new leader.
  ASSERT_TRUE(WaitFor([&] { return writer.AckedCount() >= at_kill + 200; }, absl::Seconds(30)));
  ASSERT_TRUE(cluster_.StartNode(old_leader).ok());
  ASSERT_TRUE(WaitFor([&] { return writer.AckedCount() >= at_kill + 400; }, absl::Seconds(30)));
  writer.Join();
  leader_ = *leader;
  uint64_t applied = AppliedIndexOfLeader();
  ASSERT_GT(applied, 0u);
  for (int id = 1; id <= 3; ++id) {
    ASSERT_TRUE(cluster_.WaitForApplied(id, applied).ok()) << cluster_.LogTail(id);
  }
  std::set<std::string> acked = writer.Acked();
  int checked = 0;
  for (const std::string& key : acked) {
    // Every acknowledged write is on every node (sampled: every 7th key).
    if (checked++ % 7 != 0) continue;
    for (int id = 1; id <= 3; ++id) {
      ASSERT_EQ(LocalValue(id, key), std::optional<std::string>(key)) << "node " << id;
    }
  }
}

TEST_F(ClusterTest, AllNodesKilledAndRestartedKeepEveryAcknowledgedWrite) {
  Writer writer(&cluster_, 4);
  ASSERT_TRUE(WaitFor([&] { return writer.AckedCount() >= 300; }, absl::Seconds(30)));
  // Kill everything mid-load: acknowledged writes are on a majority's disk.
  for (int id = 1; id <= 3; ++id) cluster_.Kill(id);
  writer.Join();
  std::set<std::string> acked = writer.Acked();
  ASSERT_TRUE(cluster_.Start().ok());
  auto leader = cluster_.WaitForLeader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  leader_ = *leader;
  // A write in the new term commits everything before it.
  ASSERT_TRUE(client_->Put("after-restart", "1").ok());
  uint64_t applied = AppliedIndexOfLeader();
  for (int id = 1; id <= 3; ++id) {
    ASSERT_TRUE(cluster_.WaitForApplied(id, applied).ok()) << cluster_.LogTail(id);
  }
  for (const std::string& key : acked) {
    for (int id = 1; id <= 3; ++id) {
      ASSERT_EQ(LocalValue(id, key), std::optional<std::string>(key)) << "node " << id;
    }
  }
}

// Power cuts (raftkv --test-power-cut-signal): every node loses the Raft log
// writes no completed sync covered, as with the page cache in a real power
// loss, where kill -9 loses nothing the kernel held.
class ClusterPowerCutTest : public ::testing::Test {
 protected:
  // Writes under load, cuts every node's power, restarts them, and returns
  // how many acknowledged writes some node lacks afterwards.
  size_t AcknowledgedWritesLostToAPowerCut(const std::vector<std::string>& flags) {
    ProcessClusterOptions options;
    options.extra_flags = flags;
    options.extra_flags.push_back("--test-power-cut-signal");
    ProcessCluster cluster(options);
    EXPECT_TRUE(cluster.Start().ok());
    EXPECT_TRUE(cluster.WaitForLeader().ok());
    Writer writer(&cluster, 4);
    EXPECT_TRUE(WaitFor([&] { return writer.AckedCount() >= 300; }, absl::Seconds(30)));
    for (const std::string& how : cluster.PowerCutAll()) {
      EXPECT_EQ(how, absl::StrCat("exited with status ", storage::power_cut::kExitCode));
    }
    writer.Join();
    std::set<std::string> acked = writer.Acked();
    EXPECT_TRUE(cluster.Start().ok());
    auto leader = cluster.WaitForLeader();
    EXPECT_TRUE(leader.ok()) << leader.status() << cluster.LogTail(1);
    if (!leader.ok()) return acked.size();
    auto client = cluster.NewClient();
    // A write in the new term commits everything before it.
    EXPECT_TRUE(client->Put("after-restart", "1").ok());
    auto status = client->Status(cluster.ClientAddress(*leader));
    EXPECT_TRUE(status.ok());
    size_t lost = 0;
    for (int id = 1; id <= 3; ++id) {
      EXPECT_TRUE(cluster.WaitForApplied(id, status.ok() ? status->applied_index() : 0).ok());
      auto c = cluster.NewClientFor(id);
      for (const std::string& key : acked) {
        if (LocalValue(*c, key) != std::optional<std::string>(key)) ++lost;
      }
    }
    return lost;
  }
};

TEST_F(ClusterPowerCutTest, EveryAcknowledgedWriteSurvivesAPowerCutOfEveryNode) {
  EXPECT_EQ(AcknowledgedWritesLostToAPowerCut({}), 0u);
}

// The check above can fail: with the Raft log never synced (a planted bug), a
// power cut loses acknowledged writes.
TEST_F(ClusterPowerCutTest, WithoutFsyncAPowerCutLosesAcknowledgedWrites) {
  EXPECT_GT(AcknowledgedWritesLostToAPowerCut({"--unsafe-test-no-fsync"}), 0u);
}

// A leader whose followers alone can commit puts off its own log sync (for
// --leader-sync-delay-us after the write), so a write usually needs only
// the followers' syncs; with a follower down, each
// write needs the leader's copy, and the leader syncs it at once.
class ClusterLeaderSyncTest : public ::testing::Test {
 protected:
  void StartWithDelay(const std::string& delay_us,
                      ProcessClusterOptions options = ProcessClusterOptions()) {
    options.extra_flags.push_back("--leader-sync-delay-us");
    options.extra_flags.push_back(delay_us);
    cluster_ = std::make_unique<ProcessCluster>(options);
    ASSERT_TRUE(cluster_->Start().ok());
    absl::StatusOr<int> leader = cluster_->WaitForLeader();
    ASSERT_TRUE(leader.ok()) << leader.status();
    leader_ = *leader;
    client_ = cluster_->NewClient();
  }
  uint64_t LogSyncs(int id) {
    auto s = client_->Status(cluster_->ClientAddress(id));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->log_syncs() : 0;
  }
  // Puts n keys one after another.
  void Put(int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      auto r = client_->Put(absl::StrCat(prefix, i), "v");
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  std::unique_ptr<ProcessCluster> cluster_;
  int leader_ = 0;
  std::unique_ptr<client::Client> client_;
};

TEST_F(ClusterLeaderSyncTest, LeaderSkipsItsSyncWhileFollowersCommitAndSyncsWithOneDown) {
  // 1 s (the most allowed): far longer than followers take, even under a
  // sanitizer.
  ASSERT_NO_FATAL_FAILURE(StartWithDelay("1000000"));
  const int follower = leader_ == 1 ? 2 : 1;
  const uint64_t leader_before = LogSyncs(leader_);
  const uint64_t follower_before = LogSyncs(follower);
  ASSERT_NO_FATAL_FAILURE(Put(100, "a"));
  EXPECT_GE(LogSyncs(follower) - follower_before, 100u) << "a follower syncs what it acknowledges";
  // A few syncs come from moments when the followers were not known to be
  // replicating: after each check-quorum round (every election timeout,
  // 200 ms here) until each answers again.
  EXPECT_LT(LogSyncs(leader_) - leader_before, 20u) << "the leader synced writes that its "
                                                       "followers had committed without it";

  cluster_->Kill(follower);
  // Until the leader's check-quorum round notices the dead follower (within
  // 200 ms), it waits the 1 s delay before syncing: let that round pass.
  absl::SleepFor(absl::Milliseconds(500));
  const uint64_t leader_alone = LogSyncs(leader_);
  const absl::Time start = absl::Now();
  ASSERT_NO_FATAL_FAILURE(Put(20, "b"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "writes waited for the delay";
  EXPECT_GE(LogSyncs(leader_) - leader_alone, 20u)
      << "with one follower down every write needs the leader's synced copy";
}

// A follower that stops answering is noticed only at the leader's next
// check-quorum round (every election timeout: 5 s here); until then the
// leader syncs each write the delay (100 ms) after it, so writes go on.
TEST_F(ClusterLeaderSyncTest, LeaderSyncsAWriteNotCommittedWithinTheDelay) {
  ASSERT_NO_FATAL_FAILURE(StartWithDelay("100000", SlowHeartbeats(50)));
  const int follower = leader_ == 1 ? 2 : 1;
  // Three pauses at three moments of the check-quorum cycle: a leader that
  // waited for that round instead would be caught by at least one of them
  // (each has a 1 s window in 5 s).
  for (int round = 0; round < 3; ++round) {
    cluster_->Pause(follower);
    const uint64_t before = LogSyncs(leader_);
    const absl::Time start = absl::Now();
    auto r = client_->Put(absl::StrCat("paused", round), "v");
    const absl::Duration took = absl::Now() - start;
    cluster_->Resume(follower);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LT(took, absl::Seconds(1)) << "round " << round;
    EXPECT_GE(LogSyncs(leader_) - before, 1u) << "round " << round;
    auto status = client_->Status(cluster_->ClientAddress(leader_));
    ASSERT_TRUE(status.ok());
    ASSERT_TRUE(cluster_->WaitForApplied(follower, status->applied_index()).ok());
    absl::SleepFor(absl::Milliseconds(700 * (round + 1)));
  }
}

// The check above can fail: with the delay 0 the leader syncs every write.
TEST_F(ClusterLeaderSyncTest, WithoutTheDelayTheLeaderSyncsEveryWrite) {
  ASSERT_NO_FATAL_FAILURE(StartWithDelay("0"));
  const uint64_t before = LogSyncs(leader_);
  ASSERT_NO_FATAL_FAILURE(Put(100, "a"));
  EXPECT_GE(LogSyncs(leader_) - before, 100u);
}

TEST_F(ClusterTest, DataDirectoryOfAnotherClusterIsRefused) {
  ASSERT_TRUE(client_->Put("x", "y").ok());
  cluster_.Stop(1);
  std::vector<std::string> flags = cluster_.Flags(1);
  // Same data directory, but the flags of a different cluster.
  flags.push_back("--cluster-token");
  flags.push_back("another-cluster");
  auto [code, out] = ProcessCluster::RunCommand(flags);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("cluster"), std::string::npos) << out;
  EXPECT_NE(out.find(cluster_.DataDir(1)), std::string::npos) << out;
}

TEST_F(ClusterTest, KvctlPutGetDelTxnStatus) {
  std::string endpoints = absl::StrJoin(cluster_.ClientAddresses(), ",");
  auto kvctl = [&](std::vector<std::string> args, const std::string& in = "") {
    std::vector<std::string> argv = {BinaryPath("kvctl"), "--endpoints", endpoints};
    argv.insert(argv.end(), args.begin(), args.end());
    return ProcessCluster::RunCommand(argv, in);
  };
  auto [put_code, put_out] = kvctl({"put", "hello", "world"});
  ASSERT_EQ(put_code, 0) << put_out;
  auto [get_code, get_out] = kvctl({"get", "hello"});
  ASSERT_EQ(get_code, 0) << get_out;
  EXPECT_EQ(get_out, "hello\nworld\n");
  auto [stdin_code, stdin_out] = kvctl({"put", "from-stdin"}, "piped value");
  ASSERT_EQ(stdin_code, 0) << stdin_out;
  ASSERT_EQ(kvctl({"put", "r1", "1"}).first, 0);
  ASSERT_EQ(kvctl({"put", "r2", "2"}).first, 0);
  ASSERT_EQ(kvctl({"put", "r3", "3"}).first, 0);
  auto [range_code, range_out] = kvctl({"get", "r1", "--from", "r3", "--keys-only"});
  EXPECT_EQ(range_code, 0) << range_out;
  EXPECT_EQ(range_out, "r1\nr2\n");
  auto [count_code, count_out] = kvctl({"get", "r", "--prefix", "--count-only"});
  EXPECT_EQ(count_code, 0) << count_out;
  EXPECT_NE(count_out.find("3"), std::string::npos) << count_out;
  auto [ser_code, ser_out] = kvctl({"get", "from-stdin", "--consistency", "serializable"});
  EXPECT_EQ(ser_code, 0) << ser_out;
  auto [txn_code, txn_out] =
      kvctl({"txn"}, "value(\"hello\") = \"world\"\n\nput hello swapped\n\nget hello\n");
  ASSERT_EQ(txn_code, 0) << txn_out;
  auto [get2_code, get2_out] = kvctl({"get", "hello"});
  EXPECT_EQ(get2_out, "hello\nswapped\n");
  auto [del_code, del_out] = kvctl({"del", "hello"});
  ASSERT_EQ(del_code, 0) << del_out;
  EXPECT_NE(del_out.find("1"), std::string::npos) << del_out;
  auto [status_code, status_out] = kvctl({"status"});
  EXPECT_EQ(status_code, 0) << status_out;
  EXPECT_NE(status_out.find("leader"), std::string::npos) << status_out;
  auto [bad_code, bad_out] = kvctl({"put", std::string(5000, 'k'), "v"});
  EXPECT_EQ(bad_code, 1) << bad_out;
  EXPECT_NE(bad_out.find("4096"), std::string::npos) << bad_out;
  EXPECT_EQ(bad_out.rfind("kvctl: ", 0), 0u) << bad_out;
  auto [flag_code, flag_out] = kvctl({"get", "x", "--no-such-flag"});
  EXPECT_EQ(flag_code, 2) << flag_out;
}

TEST_F(ClusterTest, WriteThroughputOnLoopback) {
  // Not a timed assertion: prints the figure for the record (bench/ holds
  // the performance targets).
  constexpr int kThreads = 16;
  constexpr int kPerThread = 300;
  std::atomic<int> failures{0};
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = cluster_.NewClient();
      for (int i = 0; i < kPerThread; ++i) {
        if (!c->Put(absl::StrCat("tp", t, "-", i), std::string(256, 'v')).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  EXPECT_EQ(failures.load(), 0);
  std::printf(
      "write throughput: %d writes of 256 B from %d client threads in %.2f s = %.0f writes/s\n",
      kThreads * kPerThread, kThreads, secs, kThreads * kPerThread / secs);
}

}  // namespace
}  // namespace raftkv::testing
