// ResponseBatch (corking the sockets of responses answered together) and
// ConnectionListener (accepting a port's connections for a gRPC server), on
// real loopback sockets and a real gRPC server.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <tuple>

#include "proto/kv.grpc.pb.h"
#include "src/server/response_batch.h"
#include "src/transport/connection_listener.h"

namespace raftkv::server {
namespace {

// Binds socket fd to 127.0.0.1 on a port the kernel picks; returns the address.
sockaddr_in BindLoopback(int fd) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  return a;
}

// A connected loopback TCP pair: sender and receiver.
struct TcpPair {
  int send_fd = -1;
  int recv_fd = -1;
  TcpPair() {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = BindLoopback(lfd);
    EXPECT_EQ(listen(lfd, 1), 0);
    send_fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(send_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    recv_fd = accept(lfd, nullptr, nullptr);
    close(lfd);
  }
  ~TcpPair() {
    close(send_fd);
    close(recv_fd);
  }
  void Send(const std::string& s) const {
    ASSERT_EQ(send(send_fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
  }
  // What arrives within timeout_ms ("" if nothing).
  std::string Receive(int timeout_ms) const {
    pollfd p{recv_fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[256];
    ssize_t n = recv(recv_fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
};

TEST(ResponseBatchTest, HoldsCorkedResponsesUntilTheBatchEnds) {
  TcpPair tcp;
  {
    ResponseBatch batch(2);
    ASSERT_TRUE(ResponseBatch::IsOpen());
    ResponseBatch::Cork(tcp.send_fd);
    tcp.Send("first;");
    ResponseBatch::Cork(tcp.send_fd);
    tcp.Send("second;");
    EXPECT_EQ(tcp.Receive(50), "") << "a corked socket sent before the batch ended";
  }
  EXPECT_FALSE(ResponseBatch::IsOpen());
  // Both responses leave together, in one segment, as the batch ends (not
  // at Linux's own 200 ms limit for corked data).
  EXPECT_EQ(tcp.Receive(100), "first;second;");
}

TEST(ResponseBatchTest, ALoneResponseOrNoBatchSendsAtOnce) {
  TcpPair tcp;
  ResponseBatch::Cork(tcp.send_fd);  // no batch: nothing to do
  tcp.Send("a;");
  EXPECT_EQ(tcp.Receive(1000), "a;");
  {
    ResponseBatch batch(1);  // fewer than two responses: inert
    EXPECT_FALSE(ResponseBatch::IsOpen());
    ResponseBatch::Cork(tcp.send_fd);
    tcp.Send("b;");
    EXPECT_EQ(tcp.Receive(1000), "b;");
  }
}

TEST(ResponseBatchTest, NestedBatchLeavesTheOuterOneInCharge) {
  TcpPair tcp;
  {
    ResponseBatch outer(5);
    {
      ResponseBatch inner(5);
      ResponseBatch::Cork(tcp.send_fd);
      tcp.Send("x;");
    }
    EXPECT_TRUE(ResponseBatch::IsOpen());
    EXPECT_EQ(tcp.Receive(50), "") << "the inner batch's end uncorked the outer's socket";
  }
  EXPECT_EQ(tcp.Receive(100), "x;");
}

using transport::ConnectionListener;
using transport::HandedConnectionOf;
using transport::NodePort;

// A gRPC server fed by a ConnectionListener serves calls, and each call
// knows its socket and port (the version field carries fd * 10 + port).
class EchoStatus final : public v1::Cluster::CallbackService {
 public:
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest*,
                                   v1::StatusResponse* resp) override {
    transport::HandedConnection c = HandedConnectionOf(*ctx);
    resp->set_version(std::to_string(c.fd * 10 + (c.On(NodePort::kPeer) ? 1 : 0)));
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// A started gRPC server with no listening port, for a ConnectionListener to feed.
class ConnectionListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }
  EchoStatus service_;
  std::unique_ptr<grpc::Server> server_;
};

// What a Status call on address answers: fd * 10 + 1 for the peer port, fd *
// 10 for the client port, negative when the call did not know its socket.
int CallOn(const std::string& address) {
  auto stub =
      v1::Cluster::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::StatusResponse resp;
  grpc::Status st = stub->Status(&ctx, v1::StatusRequest(), &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return st.ok() ? std::stoi(resp.version()) : -1;
}

// An address on a port nothing listens on (bound once by the kernel's
// choice, then released).
std::string FreeLoopbackAddress() {
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = BindLoopback(probe);
  close(probe);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

TEST_F(ConnectionListenerTest, ServesGrpcCallsThatKnowTheirSocketAndPort) {
  const std::string client_address = FreeLoopbackAddress();
  const std::string peer_address = FreeLoopbackAddress();
  auto clients = ConnectionListener::Start(client_address, NodePort::kClient, server_.get());
  ASSERT_TRUE(clients.ok()) << clients.status();
  auto peers = ConnectionListener::Start(peer_address, NodePort::kPeer, server_.get());
  ASSERT_TRUE(peers.ok()) << peers.status();

  // A second listener on a port fails, naming the address and the flag to change.
  for (auto [address, port, flag] :
       {std::make_tuple(client_address, NodePort::kClient, "--listen-client"),
        std::make_tuple(peer_address, NodePort::kPeer, "--listen-peer")}) {
    auto again = ConnectionListener::Start(address, port, server_.get());
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.status().message().find(address), std::string::npos) << again.status();
    EXPECT_NE(again.status().message().find(flag), std::string::npos) << again.status();
  }

  int on_client = CallOn(client_address);
  EXPECT_GE(on_client, 0) << "the call did not know its socket";
  EXPECT_EQ(on_client % 10, 0) << "a client-port call took itself for a peer's";
  int on_peer = CallOn(peer_address);
  EXPECT_GE(on_peer, 0) << "the call did not know its socket";
  EXPECT_EQ(on_peer % 10, 1) << "a peer-port call took itself for a client's";

  (*clients)->Stop();
  (*peers)->Stop();
}

TEST_F(ConnectionListenerTest, UnresolvableHostIsAClearError) {
  auto listener =
      ConnectionListener::Start("no-such-host.invalid:7001", NodePort::kPeer, server_.get());
  ASSERT_FALSE(listener.ok());
  EXPECT_NE(listener.status().message().find("cannot listen for peers on "
                                             "no-such-host.invalid:7001"),
            std::string::npos)
      << listener.status();
}

}  // namespace
}  // namespace raftkv::server
