// GrpcTransport over real loopback connections: each node is a GrpcTransport
// plus a grpc::Server on 127.0.0.1 with a kernel-chosen port.
#include "src/transport/grpc_transport.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/transport/connection_listener.h"
#include "tests/testing/loopback_port.h"
#include "tests/transport/test_util.h"

namespace raftkv::transport {
namespace {

using raftkv::testing::UnusedLoopbackPort;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::Eventually;
using testing::Heartbeat;
using testing::Inbox;
using testing::MakeEntry;
using testing::MakeMessage;
using testing::MixedMessages;
using testing::Render;

TransportConfig TestConfig(NodeId id, uint64_t cluster_id = 7) {
  TransportConfig c;
  c.cluster_id = cluster_id;
  c.node_id = id;
  c.backoff_min_ms = 20;
  c.backoff_max_ms = 200;
  return c;
}

std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// One node: a transport, and the peer server carrying its service with the
// loop that runs it; the server listens itself, or is fed by a
// ConnectionListener for the peer port (as raftkv's is).
struct Node {
  Inbox inbox;  // first: outlives the transport's threads
  std::unique_ptr<GrpcTransport> transport;
  std::unique_ptr<CompletionLoop> loop;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<ConnectionListener> listener;  // null: the server listens
  int port = 0;

  std::string address() const { return Loopback(port); }
  PeerStats peer(NodeId id) const { return transport->Stats().peers.at(id); }

  void Stop() {
    if (listener) listener->Stop();
    transport->Stop();
    if (server) server->Shutdown();
    if (loop) loop->Stop();  // after the server's Shutdown, before its end
    server.reset();
  }
  ~Node() {
    if (transport) Stop();
  }
};

// Starts a node listening on 127.0.0.1:port (0: any free port); with
// handed_over, its connections are accepted by a peer-port ConnectionListener.
std::unique_ptr<Node> StartNode(const TransportConfig& config, int port = 0,
                                TransportHandlers handlers = {}, bool handed_over = false) {
  auto node = std::make_unique<Node>();
  auto transport = GrpcTransport::Create(config);
  EXPECT_TRUE(transport.ok()) << transport.status();
  if (!transport.ok()) return nullptr;
  node->transport = std::move(*transport);
  grpc::ServerBuilder builder;
  ConfigureServerBuilder(config, &builder);
  builder.RegisterService(node->transport->service());
  node->loop = std::make_unique<CompletionLoop>(builder.AddCompletionQueue(), "test-rpc");
  if (handed_over) {
    node->port = port != 0 ? port : UnusedLoopbackPort();
    node->server = builder.BuildAndStart();
    auto listener = ConnectionListener::Start(node->address(), NodePort::kPeer, node->server.get());
    EXPECT_TRUE(listener.ok()) << listener.status();
    if (listener.ok()) node->listener = std::move(*listener);
  } else {
    builder.AddListeningPort(Loopback(port), grpc::InsecureServerCredentials(), &node->port);
    node->server = builder.BuildAndStart();
  }
  EXPECT_TRUE(node->server != nullptr && node->port > 0) << "cannot listen on " << Loopback(port);
  if (!handlers.on_message) handlers = node->inbox.Handlers();
  node->transport->SetCompletionLoop(node->loop.get());
  absl::Status s = node->transport->Start(std::move(handlers));
  EXPECT_TRUE(s.ok()) << s;
  node->loop->Start();
  return node;
}

// Connects all nodes to each other.
void Mesh(const std::vector<Node*>& nodes) {
  for (Node* a : nodes) {
    for (Node* b : nodes) {
      if (a == b) continue;
      NodeId id = b->transport->config().node_id;
      ASSERT_TRUE(a->transport->AddPeer(id, b->address()).ok());
    }
  }
}

TEST(GrpcTransportTest, ThreeNodesExchangeMessagesOfSeveralKinds) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  auto n3 = StartNode(TestConfig(3));
  Mesh({n1.get(), n2.get(), n3.get()});

  std::vector<raft::Message> to2 = MixedMessages(1, 2);
  std::vector<raft::Message> to3 = MixedMessages(1, 3);
  std::vector<raft::Message> all = to2;
  all.insert(all.end(), to3.begin(), to3.end());
  n1->transport->Send(all);
  n2->transport->Send(MixedMessages(2, 1));
  n3->transport->Send({Heartbeat(3, 2, 42)});

  ASSERT_TRUE(n2->inbox.WaitForMessages(to2.size() + 1));
  ASSERT_TRUE(n3->inbox.WaitForMessages(to3.size()));
  ASSERT_TRUE(n1->inbox.WaitForMessages(to2.size()));

  // Per sender, intact, and in order within each kind: answers may travel on
  // the receiver's stream to the sender (when it has one), requests never.
  auto by_kind = [](const std::vector<raft::Message>& msgs, NodeId from) {
    std::vector<std::string> requests, answers;
    for (const raft::Message& m : msgs) {
      if (m.from != from) continue;
      (raft::IsResponseMessage(m.type) ? answers : requests).push_back(Render(m));
    }
    return std::make_pair(requests, answers);
  };
  EXPECT_EQ(by_kind(n2->inbox.messages(), 1), by_kind(to2, 1));
  EXPECT_EQ(by_kind(n2->inbox.messages(), 3), by_kind({Heartbeat(3, 2, 42)}, 3));
  EXPECT_EQ(by_kind(n3->inbox.messages(), 1), by_kind(to3, 1));
  EXPECT_EQ(by_kind(n1->inbox.messages(), 2), by_kind(MixedMessages(2, 1), 2));

  // Each MixedMessages set holds one snapshot: reported handed over.
  ASSERT_TRUE(n1->inbox.WaitForSnapshotStatus(2));
  for (auto [peer, failed] : n1->inbox.snapshot_status()) EXPECT_FALSE(failed) << peer;
  EXPECT_TRUE(n1->inbox.unreachable().empty());
  TransportStats s2 = n2->transport->Stats();
  EXPECT_EQ(s2.received_messages, to2.size() + 1);
  EXPECT_EQ(s2.invalid_messages, 0u);
  // The sender counts a batch after its write returns, maybe after delivery.
  EXPECT_TRUE(Eventually([&] { return n1->peer(2).sent_messages == to2.size(); }));
  EXPECT_TRUE(n1->peer(2).connected);
}

TEST(GrpcTransportTest, BatchesQueuedMessagesAndKeepsOrder) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  constexpr int kCount = 2000;
  std::vector<raft::Message> msgs;
  for (int i = 1; i <= kCount; ++i) msgs.push_back(Heartbeat(1, 2, i));
  n1->transport->Send(std::move(msgs));
  ASSERT_TRUE(n2->inbox.WaitForMessages(kCount));
  std::vector<raft::Message> got = n2->inbox.messages();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i].commit, static_cast<raft::Index>(i + 1));
  // The sender counts a batch after its write returns, maybe after delivery.
  ASSERT_TRUE(
      Eventually([&] { return n1->peer(2).sent_messages == static_cast<uint64_t>(kCount); }));
  PeerStats p = n1->peer(2);
  EXPECT_LT(p.sent_batches, p.sent_messages) << "messages were not batched";
  EXPECT_EQ(n2->transport->Stats().received_batches, p.sent_batches);
}

TEST(GrpcTransportTest, SplitsBatchesAtTheByteLimitAndDropsOversizedMessages) {
  TransportConfig c1 = TestConfig(1);
  c1.message_bytes_max = 1 << 20;
  c1.batch_bytes_max = 256 << 10;
  c1.peer_queue_bytes_max = 8 << 20;
  TransportConfig c2 = c1;
  c2.node_id = 2;
  auto n1 = StartNode(c1);
  auto n2 = StartNode(c2);
  Mesh({n1.get(), n2.get()});

  std::vector<raft::Message> msgs;
  for (int i = 1; i <= 20; ++i) {
    raft::Message m = MakeMessage(raft::MessageType::kApp, 1, 2);
    m.entries.push_back(MakeEntry(1, i, std::string(100 << 10, 'a' + i)));
    msgs.push_back(m);
  }
  raft::Message huge = MakeMessage(raft::MessageType::kApp, 1, 2);
  huge.entries.push_back(MakeEntry(1, 21, std::string(2 << 20, 'h')));
  raft::Message huge_snap = MakeMessage(raft::MessageType::kSnap, 1, 2);
  huge_snap.snapshot.metadata.index = 21;
  huge_snap.snapshot.data = raft::Payload(std::string(2 << 20, 's'));
  msgs.push_back(huge);
  msgs.push_back(huge_snap);
  msgs.push_back(Heartbeat(1, 2, 20));
  n1->transport->Send(msgs);

  ASSERT_TRUE(n2->inbox.WaitForMessages(21));
  std::vector<raft::Message> got = n2->inbox.messages();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Render(got[i]), Render(msgs[i]));
  EXPECT_EQ(got[20].type, raft::MessageType::kHeartbeat);
  ASSERT_TRUE(n1->inbox.WaitForSnapshotStatus(1));
  EXPECT_EQ(n1->inbox.snapshot_status()[0], std::make_pair(NodeId{2}, true));
  PeerStats p = n1->peer(2);
  EXPECT_EQ(p.dropped_too_large, 2u);
  EXPECT_GE(p.sent_batches, 8u) << "20 x 100 KiB must not fit fewer 256 KiB batches";
}

TEST(GrpcTransportTest, PeerDownAtFirstGetsMessagesAfterItComesUp) {
  const int port2 = UnusedLoopbackPort();
  auto n1 = StartNode(TestConfig(1));
  ASSERT_TRUE(n1->transport->AddPeer(2, Loopback(port2)).ok());

  n1->transport->Send({Heartbeat(1, 2, 1)});
  ASSERT_TRUE(n1->inbox.WaitForUnreachable(2));
  // Let it fail a few times: one outage, one report.
  n1->transport->Send({Heartbeat(1, 2, 2)});
  ASSERT_TRUE(Eventually([&] { return n1->peer(2).stream_failures >= 2; }));
  n1->transport->Send({Heartbeat(1, 2, 3)});
  EXPECT_FALSE(n1->peer(2).last_error.empty());

  auto n2 = StartNode(TestConfig(2), port2);
  ASSERT_EQ(n2->port, port2);
  // Like a Raft leader, keep sending heartbeats until one arrives.
  const auto deadline = steady_clock::now() + testing::kDeadline;
  raft::Index commit = 10;
  while (!n2->inbox.WaitForMessages(1, milliseconds(20))) {
    ASSERT_LT(steady_clock::now(), deadline) << "no message after the peer came up";
    n1->transport->Send({Heartbeat(1, 2, ++commit)});
  }
  EXPECT_GE(n2->inbox.messages()[0].commit, 1u);
  ASSERT_TRUE(Eventually([&] { return n1->peer(2).connected; }));
  PeerStats p = n1->peer(2);
  EXPECT_EQ(p.unreachable_reports, 1u);
  EXPECT_EQ(n1->inbox.unreachable(), std::vector<NodeId>{2});
  EXPECT_GE(p.dropped_unreachable, 1u);
}

// A TCP socket that accepts connections (the kernel completes handshakes) but
// never reads or speaks HTTP/2: a peer that hangs.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~BlackHole() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(GrpcTransportTest, HungPeerDoesNotBlockSendAndQueueStaysBounded) {
  BlackHole hole;
  TransportConfig c = TestConfig(1);
  c.peer_queue_messages_max = 100;
  auto n1 = StartNode(c);
  ASSERT_TRUE(n1->transport->AddPeer(2, Loopback(hole.port())).ok());

  constexpr int kRounds = 100;
  constexpr int kPerRound = 100;
  auto slowest = steady_clock::duration::zero();
  for (int r = 0; r < kRounds; ++r) {
    std::vector<raft::Message> msgs;
    for (int i = 0; i < kPerRound; ++i) msgs.push_back(Heartbeat(1, 2, r * kPerRound + i));
    const auto start = steady_clock::now();
    n1->transport->Send(std::move(msgs));
    slowest = std::max(slowest, steady_clock::now() - start);
  }
  // Generous: Send only takes locks; a blocked peer would take seconds.
  EXPECT_LT(slowest, milliseconds(500));
  PeerStats p = n1->peer(2);
  EXPECT_LE(p.queued_messages, c.peer_queue_messages_max);
  EXPECT_EQ(p.sent_messages, 0u);
  EXPECT_GT(p.dropped_queue_full, 0u);
  // Every message is queued, dropped, or in the stuck sender's hands (at most
  // one queue's worth).
  const uint64_t accounted = p.queued_messages + p.dropped_queue_full + p.dropped_unreachable;
  EXPECT_LE(accounted, static_cast<uint64_t>(kRounds * kPerRound));
  EXPECT_GE(accounted + c.peer_queue_messages_max, static_cast<uint64_t>(kRounds * kPerRound));
  ASSERT_TRUE(n1->inbox.WaitForUnreachable(2));

  const auto start = steady_clock::now();
  n1->Stop();  // the sender is stuck connecting; Stop cancels it
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(GrpcTransportTest, SlowPeerDoesNotBlockSend) {
  TransportConfig c1 = TestConfig(1);
  c1.message_bytes_max = 1 << 20;
  c1.batch_bytes_max = 256 << 10;
  c1.peer_queue_bytes_max = 2 << 20;
  TransportConfig c2 = c1;
  c2.node_id = 2;
  // Node 2's handler blocks until released: flow control fills up.
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> received{0};
  TransportHandlers slow;
  slow.on_message = [&](raft::Message) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return released; });
    received.fetch_add(1);
  };
  auto n2 = StartNode(c2, 0, slow);
  auto n1 = StartNode(c1);
  Mesh({n1.get(), n2.get()});

  auto slowest = steady_clock::duration::zero();
  for (int i = 0; i < 500; ++i) {
    raft::Message m = MakeMessage(raft::MessageType::kApp, 1, 2);
    m.entries.push_back(MakeEntry(1, i + 1, std::string(100 << 10, 'x')));
    const auto start = steady_clock::now();
    n1->transport->Send({m});
    slowest = std::max(slowest, steady_clock::now() - start);
  }
  EXPECT_LT(slowest, milliseconds(500));
  ASSERT_TRUE(Eventually([&] { return n1->peer(2).dropped_queue_full > 0; }));
  EXPECT_LE(n1->peer(2).queued_bytes, c1.peer_queue_bytes_max);
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  ASSERT_TRUE(Eventually([&] { return received.load() > 0; }));
  n1->Stop();
  n2->Stop();
}

TEST(GrpcTransportTest, WrongClusterIdIsRejected) {
  auto n1 = StartNode(TestConfig(1, /*cluster_id=*/7));
  auto n2 = StartNode(TestConfig(2, /*cluster_id=*/8));
  Mesh({n1.get(), n2.get()});
  // Keep sending: a rejection surfaces at the sender on a later write.
  raft::Index commit = 0;
  ASSERT_TRUE(Eventually([&] {
    n1->transport->Send({Heartbeat(1, 2, ++commit)});
    return n2->transport->Stats().rejected_streams >= 1 &&
           n1->peer(2).last_error.find("FAILED_PRECONDITION") != std::string::npos;
  }));
  EXPECT_NE(n1->peer(2).last_error.find("cluster id mismatch"), std::string::npos)
      << n1->peer(2).last_error;
  EXPECT_TRUE(n2->inbox.messages().empty());
  EXPECT_EQ(n2->transport->Stats().received_messages, 0u);
  EXPECT_TRUE(n1->inbox.WaitForUnreachable(2));
}

TEST(GrpcTransportTest, WrongNodeAtAddressIsRejectedAndAddPeerCanFixIt) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  auto n3 = StartNode(TestConfig(3));
  // Node 1 believes node 2 listens at node 3's address.
  ASSERT_TRUE(n1->transport->AddPeer(2, n3->address()).ok());
  raft::Index commit = 0;
  ASSERT_TRUE(Eventually([&] {
    n1->transport->Send({Heartbeat(1, 2, ++commit)});
    return n1->peer(2).last_error.find("node id mismatch") != std::string::npos;
  })) << n1->peer(2).last_error;
  EXPECT_TRUE(n3->inbox.messages().empty());
  EXPECT_GE(n3->transport->Stats().rejected_streams, 1u);

  ASSERT_TRUE(n1->transport->AddPeer(2, n2->address()).ok());  // corrected
  ASSERT_TRUE(Eventually([&] {
    n1->transport->Send({Heartbeat(1, 2, ++commit)});
    return !n2->inbox.messages().empty();
  }));
  EXPECT_EQ(n1->peer(2).address, n2->address());

  n1->transport->RemovePeer(2);
  n1->transport->Send({Heartbeat(1, 2, ++commit)});
  EXPECT_EQ(n1->transport->Stats().dropped_unknown_peer, 1u);
  EXPECT_EQ(n1->transport->Stats().peers.count(2), 0u);
}

TEST(GrpcTransportTest, InvalidMessagesAreDroppedNotFatal) {
  auto n2 = StartNode(TestConfig(2));
  // A hand-written peer sending a batch with bad and good messages.
  auto channel = grpc::CreateChannel(n2->address(), grpc::InsecureChannelCredentials());
  auto stub = RaftPeer::NewStub(channel);
  grpc::ClientContext ctx;
  auto writer = stub->Exchange(&ctx);
  MessageBatch batch;
  batch.set_cluster_id(7);
  batch.set_from(1);
  batch.set_to(2);
  raftpb::Message* bad_type = batch.add_messages();
  bad_type->set_type(static_cast<raftpb::MessageType>(99));
  bad_type->set_from(1);
  bad_type->set_to(2);
  raftpb::Message* local = batch.add_messages();  // a remote must not trigger an election
  local->set_type(raftpb::MSG_HUP);
  local->set_from(1);
  local->set_to(2);
  raftpb::Message* spoofed = batch.add_messages();
  spoofed->set_type(raftpb::MSG_HEARTBEAT);
  spoofed->set_from(3);
  spoofed->set_to(2);
  raftpb::Message* good = batch.add_messages();
  good->set_type(raftpb::MSG_HEARTBEAT);
  good->set_from(1);
  good->set_to(2);
  good->set_commit(5);
  ASSERT_TRUE(writer->Write(batch));
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  ASSERT_TRUE(n2->inbox.WaitForMessages(1));
  std::vector<raft::Message> got = n2->inbox.messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].commit, 5u);
  EXPECT_EQ(n2->transport->Stats().invalid_messages, 3u);
}

TEST(GrpcTransportTest, StopIsCleanWithOpenStreams) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  auto n3 = StartNode(TestConfig(3));
  Mesh({n1.get(), n2.get(), n3.get()});
  for (Node* n : {n1.get(), n2.get(), n3.get()}) {
    NodeId self = n->transport->config().node_id;
    std::vector<raft::Message> msgs;
    for (NodeId to = 1; to <= 3; ++to) {
      if (to != self) msgs.push_back(Heartbeat(self, to, 1));
    }
    n->transport->Send(msgs);
  }
  for (Node* n : {n1.get(), n2.get(), n3.get()}) ASSERT_TRUE(n->inbox.WaitForMessages(2));

  // Stop node 2 while the others keep streams to it open and keep sending.
  auto start = steady_clock::now();
  n2->Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  n2->transport->Stop();  // idempotent
  n2->transport->Send({Heartbeat(2, 1, 2)});
  EXPECT_EQ(n2->transport->Stats().dropped_not_running, 1u);
  EXPECT_FALSE(n2->transport->Start(n2->inbox.Handlers()).ok());
  EXPECT_FALSE(n2->transport->AddPeer(4, "127.0.0.1:1").ok());

  ASSERT_TRUE(Eventually([&] {
    n1->transport->Send({Heartbeat(1, 2, 3)});
    return n1->inbox.unreachable().size() == 1;
  }));
  start = steady_clock::now();
  n1->Stop();
  n3->Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

// A node answers a peer on the stream that peer opened to it, so the
// answer shares the connection (and, corked, the segment) of the window
// update for the request; without such a stream, it opens its own.
TEST(GrpcTransportTest, AnswersRideBackOnTheRequestersStream) {
  TransportConfig config1 = TestConfig(1);
  config1.held_read_max_us = 30'000'000;  // only a send can resume a held read
  auto n1 = StartNode(config1);
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  // Unasked, before node 1 ever opened a stream to node 2: node 2's own stream.
  n2->transport->Send({MakeMessage(raft::MessageType::kAppResp, 2, 1)});
  ASSERT_TRUE(n1->inbox.WaitForMessages(1));
  EXPECT_EQ(n2->transport->Stats().returned_answers, 0u);
  // The sender counts a batch after its write returns, maybe after delivery.
  EXPECT_TRUE(Eventually([&] { return n2->peer(1).sent_messages == 1; }));
  // Node 1 holds its read of node 2's stream after that answer.
  ASSERT_TRUE(Eventually([&] { return n1->transport->Stats().held_reads == 1; }));

  // Each round: node 1's heartbeat resumes the read it holds, node 2 answers
  // on node 1's stream, and node 1 holds its read of that stream. A round
  // works only if the heartbeat resumed the read the round before held.
  for (uint64_t round = 1; round <= 3; ++round) {
    n1->transport->Send({Heartbeat(1, 2, round)});
    ASSERT_TRUE(n2->inbox.WaitForMessages(round));
    n2->transport->Send({MakeMessage(raft::MessageType::kHeartbeatResp, 2, 1)});
    ASSERT_TRUE(n1->inbox.WaitForMessages(1 + round));
    ASSERT_TRUE(Eventually([&] { return n1->transport->Stats().held_reads == 1 + round; }));
  }
  TransportStats s2 = n2->transport->Stats();
  EXPECT_EQ(s2.returned_answers, 3u);
  EXPECT_EQ(s2.returned_answers_dropped, 0u);
  EXPECT_EQ(n2->peer(1).sent_messages, 1u);  // nothing more on its own stream
  EXPECT_EQ(n1->transport->Stats().held_reads_timed_out, 0u);
  // Stop ends the stream whose read is held (far from its time bound).
  auto start = steady_clock::now();
  n1->Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

// A stream the peer ends (here: it stops) is noticed through its posted
// read, without waiting for the next message to that peer.
TEST(GrpcTransportTest, PeerThatGoesAwayIsNoticedWithoutASend) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  n1->transport->Send({Heartbeat(1, 2, 1)});
  ASSERT_TRUE(n2->inbox.WaitForMessages(1));
  n2->Stop();
  EXPECT_TRUE(Eventually([&] { return n1->inbox.unreachable().size() == 1; }));
  EXPECT_EQ(n1->peer(2).stream_failures, 1u);
}

// A peer whose answers on the stream do not check out (another cluster's):
// the opener delivers none of them, ends the stream and reports the peer.
class WrongClusterAnswers final : public RaftPeer::Service {
  grpc::Status Exchange(grpc::ServerContext*,
                        grpc::ServerReaderWriter<MessageBatch, MessageBatch>* stream) override {
    MessageBatch in;
    if (!stream->Read(&in)) return grpc::Status::OK;
    MessageBatch out;
    out.set_cluster_id(in.cluster_id() + 1);
    out.set_from(in.to());
    out.set_to(in.from());
    raftpb::Message* m = out.add_messages();
    m->set_type(raftpb::MSG_HEARTBEAT_RESP);
    m->set_from(in.to());
    m->set_to(in.from());
    stream->Write(out);
    while (stream->Read(&in)) {
    }
    return grpc::Status::OK;
  }
};

TEST(GrpcTransportTest, AnswersFromAnotherClusterAreRejected) {
  WrongClusterAnswers service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto n1 = StartNode(TestConfig(1));
  ASSERT_TRUE(n1->transport->AddPeer(2, Loopback(port)).ok());
  n1->transport->Send({Heartbeat(1, 2, 1)});
  ASSERT_TRUE(Eventually([&] { return n1->peer(2).stream_failures >= 1; }));
  EXPECT_TRUE(n1->inbox.messages().empty());
  TransportStats s1 = n1->transport->Stats();
  EXPECT_GE(s1.rejected_streams, 1u);
  EXPECT_NE(s1.peers.at(2).last_error.find("cluster id mismatch"), std::string::npos)
      << s1.peers.at(2).last_error;
  EXPECT_EQ(n1->inbox.unreachable(), std::vector<NodeId>{2});
  n1->Stop();
  server->Shutdown();
}

// Nodes 1 (with config1) and 2, meshed, after node 2 sent node 1 an answer
// it did not ask for: node 1 holds its read of node 2's stream. Null nodes
// if that did not happen.
std::pair<std::unique_ptr<Node>, std::unique_ptr<Node>> NodesWithAHeldRead(
    const TransportConfig& config1) {
  auto n1 = StartNode(config1);
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  n2->transport->Send({MakeMessage(raft::MessageType::kAppResp, 2, 1)});
  if (!n1->inbox.WaitForMessages(1) ||
      !Eventually([&] { return n1->transport->Stats().held_reads == 1; })) {
    ADD_FAILURE() << "node 1 did not hold its read of node 2's stream";
    return {};
  }
  return {std::move(n1), std::move(n2)};
}

// After a batch of answers only, with no more answers awaited from that
// peer, a stream's next read is held back (so that its flow-control window
// update leaves with the next message to that peer, not on its own). A send
// to that peer resumes it: here the time bound is far away, so the second
// answer arrives only because the send resumed the read.
TEST(GrpcTransportTest, HeldReadIsResumedBySendToThatPeer) {
  TransportConfig config = TestConfig(1);
  config.held_read_max_us = 30'000'000;
  auto n1 = StartNode(config);
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  const auto answer = MakeMessage(raft::MessageType::kHeartbeatResp, 2, 1);

  // Each time: a request keeps node 2 reading node 1's stream, and its
  // answer makes node 1 hold its read of node 2's. The second exchange
  // works only if node 1's request resumed the read the first one held.
  for (uint64_t round = 1; round <= 2; ++round) {
    n1->transport->Send({Heartbeat(1, 2, round)});
    ASSERT_TRUE(n2->inbox.WaitForMessages(round));
    n2->transport->Send({answer});
    ASSERT_TRUE(n1->inbox.WaitForMessages(round));
    ASSERT_TRUE(Eventually([&] { return n1->transport->Stats().held_reads == round; }));
  }
  EXPECT_EQ(n2->transport->Stats().held_reads, 0u);
  EXPECT_EQ(n1->transport->Stats().held_reads_timed_out, 0u);
  // The server listened itself, so node 2 does not know the socket: no cork.
  EXPECT_EQ(n2->transport->Stats().corked_answers, 0u);
}

// Whether the socket this process accepted on 127.0.0.1:port (a
// ConnectionListener's, handed to gRPC) is corked; nullopt if none is found.
std::optional<bool> AcceptedSocketCorked(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  std::optional<bool> corked;
  while (dirent* e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    sockaddr_in local{}, remote{};
    socklen_t len = sizeof local;
    if (fd <= 2 || getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != port) {
      continue;
    }
    len = sizeof remote;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) != 0) continue;  // listening
    int v = 0;
    len = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len) == 0) corked = v != 0;
  }
  closedir(dir);
  return corked;
}

// A request read on a connection a peer-port ConnectionListener handed over
// corks that connection's socket, so that the window update its read sends
// waits there; the answer uncorks it (the update leaves with it). Here the
// time bound is far away, so only the answer can have uncorked it.
TEST(GrpcTransportTest, RequestCorksItsConnectionUntilTheAnswerLeaves) {
  TransportConfig config2 = TestConfig(2);
  config2.held_read_max_us = 30'000'000;
  auto n1 = StartNode(TestConfig(1), 0, {}, /*handed_over=*/true);
  auto n2 = StartNode(config2, 0, {}, /*handed_over=*/true);
  ASSERT_TRUE(n1 && n2);
  Mesh({n1.get(), n2.get()});
  for (uint64_t round = 1; round <= 2; ++round) {
    n1->transport->Send({Heartbeat(1, 2, round)});
    ASSERT_TRUE(n2->inbox.WaitForMessages(round));
    ASSERT_TRUE(Eventually([&] { return n2->transport->Stats().corked_answers == round; }));
    EXPECT_EQ(AcceptedSocketCorked(n2->port), std::optional<bool>(true)) << "round " << round;
    n2->transport->Send({MakeMessage(raft::MessageType::kHeartbeatResp, 2, 1)});
    ASSERT_TRUE(n1->inbox.WaitForMessages(round));
    EXPECT_EQ(AcceptedSocketCorked(n2->port), std::optional<bool>(false)) << "round " << round;
  }
  EXPECT_EQ(n2->transport->Stats().corked_answers_timed_out, 0u);
  // Node 1 read only answers: it holds reads, it corks nothing.
  EXPECT_EQ(n1->transport->Stats().corked_answers, 0u);
}

// A request that is never answered (lost, or ignored) leaves its connection
// corked for held_read_max_us (2 ms by default) at most.
TEST(GrpcTransportTest, UnansweredRequestUncorksSoon) {
  auto n1 = StartNode(TestConfig(1), 0, {}, /*handed_over=*/true);
  auto n2 = StartNode(TestConfig(2), 0, {}, /*handed_over=*/true);
  ASSERT_TRUE(n1 && n2);
  Mesh({n1.get(), n2.get()});
  n1->transport->Send({MakeMessage(raft::MessageType::kVote, 1, 2, 2)});
  ASSERT_TRUE(n2->inbox.WaitForMessages(1));
  ASSERT_TRUE(Eventually([&] { return n2->transport->Stats().corked_answers_timed_out == 1; }));
  EXPECT_EQ(n2->transport->Stats().corked_answers, 1u);
  EXPECT_EQ(AcceptedSocketCorked(n2->port), std::optional<bool>(false));
  // The connection works on.
  n1->transport->Send({Heartbeat(1, 2, 2)});
  ASSERT_TRUE(n2->inbox.WaitForMessages(2));
}

// With nothing sent to that peer, a held read is resumed after
// held_read_max_us (2 ms by default), so a message the peer sends unasked
// (a vote request) does not wait for long.
TEST(GrpcTransportTest, HeldReadIsResumedSoonWithoutASend) {
  auto [n1, n2] = NodesWithAHeldRead(TestConfig(1));
  ASSERT_TRUE(n1 && n2);
  auto start = steady_clock::now();
  n2->transport->Send({MakeMessage(raft::MessageType::kVote, 2, 1, 2)});
  ASSERT_TRUE(n1->inbox.WaitForMessages(2));
  EXPECT_LT(steady_clock::now() - start, milliseconds(500));
  TransportStats s1 = n1->transport->Stats();
  EXPECT_EQ(s1.held_reads_timed_out, 1u);
  // A vote request awaits an answer, so node 1 did not hold again.
  EXPECT_EQ(s1.held_reads, 1u);
}

// Requests that are never answered (lost, or ignored by the peer) keep the
// count of awaited answers above zero, so reads are not held; the count is
// forgotten once answers have come for a second without it reaching zero.
TEST(GrpcTransportTest, UnansweredRequestsStopHoldingReadsForAtMostASecond) {
  auto n1 = StartNode(TestConfig(1));
  auto n2 = StartNode(TestConfig(2));
  Mesh({n1.get(), n2.get()});
  const auto answer = MakeMessage(raft::MessageType::kVoteResp, 2, 1, 2);
  const auto vote = MakeMessage(raft::MessageType::kVote, 1, 2, 2);
  n1->transport->Send({vote, vote, vote});
  ASSERT_TRUE(n2->inbox.WaitForMessages(3));
  n2->transport->Send({answer});  // one of three answered
  ASSERT_TRUE(n1->inbox.WaitForMessages(1));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(n1->transport->Stats().held_reads, 0u);
  std::this_thread::sleep_for(milliseconds(1000));
  n2->transport->Send({answer});  // two of three: the count is forgotten
  ASSERT_TRUE(n1->inbox.WaitForMessages(2));
  EXPECT_TRUE(Eventually([&] { return n1->transport->Stats().held_reads == 1; }));
}

// Stop ends a stream whose read is held (it has no operation in flight to
// see the cancellation by itself).
TEST(GrpcTransportTest, StopEndsAStreamWithAHeldRead) {
  TransportConfig config = TestConfig(1);
  config.held_read_max_us = 30'000'000;  // far longer than Stop may take
  auto [n1, n2] = NodesWithAHeldRead(config);
  ASSERT_TRUE(n1 && n2);
  auto start = steady_clock::now();
  n1->Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(GrpcTransportTest, CreateAndAddPeerValidate) {
  TransportConfig bad = TestConfig(1);
  bad.cluster_id = 0;
  EXPECT_EQ(GrpcTransport::Create(bad).status().code(), absl::StatusCode::kInvalidArgument);
  auto t = GrpcTransport::Create(TestConfig(1));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->AddPeer(1, "127.0.0.1:1").ok());
  EXPECT_FALSE((*t)->AddPeer(0, "127.0.0.1:1").ok());
  EXPECT_FALSE((*t)->AddPeer(2, "").ok());
  EXPECT_FALSE((*t)->Start(TransportHandlers{}).ok());  // no on_message
  (*t)->Send({Heartbeat(1, 2, 1)});                     // before Start
  EXPECT_EQ((*t)->Stats().dropped_not_running, 1u);
}

}  // namespace
}  // namespace raftkv::transport
