// ConnectionListener: accepts the connections of one of a node's ports (the
// client port or the peer port) itself and hands each socket to the node's
// grpc::Server (grpc::AddInsecureChannelFromFd) instead of letting gRPC
// listen. gRPC then names each such connection's peer "fd:N", and the
// listener records which port fd N came in on, so a call can learn its
// socket and its port (HandedConnectionOf):
//   - the client services cork a client's socket while they answer a batch
//     (src/server/response_batch.h), and refuse calls on the peer port;
//   - the peer service refuses streams on the client port, and corks a
//     peer's socket from a request until its answer is sent, so that the
//     flow-control window update the request's read causes leaves with the
//     answer instead of waking the peer on its own (grpc_transport.h).
//
// Listening: the address is host:port (config.cc validated it); the host
// goes through getaddrinfo and every address it yields is bound, as gRPC's
// own listener does ("0.0.0.0", "[::]", "localhost", a name). SO_REUSEADDR
// but not SO_REUSEPORT: a port another process holds is an error naming the
// address and the flag that sets it. Accepted sockets get TCP_NODELAY,
// O_NONBLOCK and O_CLOEXEC, the options gRPC's listener sets.
//
// Invariants: the server outlives the listener, and Stop (or the
// destructor) returns only after the accept thread has ended, so no socket
// is handed to a server that is shutting down: stop the listener first, then
// shut the server down. Sockets handed over belong to gRPC from then on (it
// closes them); a socket's port is recorded before it is handed over, so any
// call on it finds it, and a descriptor number gRPC closes and the kernel
// reuses for a later accepted socket is recorded anew before that one is
// handed over.
// Thread-safety: Start and Stop from one thread; HandedConnectionOf from any.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace raftkv::transport {

// The node's ports, as a listener serves them.
enum class NodePort { kClient, kPeer };

class ConnectionListener {
 public:
  // Binds and listens on address, then accepts for server on a thread of
  // its own. FailedPrecondition, naming the address and the flag to change
  // (--listen-client or --listen-peer), when it cannot listen.
  static absl::StatusOr<std::unique_ptr<ConnectionListener>> Start(const std::string& address,
                                                                   NodePort port,
                                                                   grpc::Server* server);
  ~ConnectionListener();
  ConnectionListener(const ConnectionListener&) = delete;
  ConnectionListener& operator=(const ConnectionListener&) = delete;

  // Stops accepting and closes the listening sockets. Idempotent.
  void Stop();

 private:
  ConnectionListener(std::vector<int> listen_fds, int stop_fd, NodePort port, grpc::Server* server);
  void AcceptLoop();

  std::vector<int> listen_fds_;
  int stop_fd_;  // an eventfd: written by Stop to end AcceptLoop
  const NodePort port_;
  grpc::Server* server_;
  std::thread thread_;
};

// The connection a server call came in on, when a ConnectionListener
// accepted it (its peer is "fd:N"): its socket and the port it came in on.
struct HandedConnection {
  int fd = -1;                        // -1: not handed over (gRPC listened, as in tests)
  NodePort port = NodePort::kClient;  // meaningful only when fd >= 0

  bool On(NodePort p) const { return fd >= 0 && port == p; }
};
HandedConnection HandedConnectionOf(const grpc::ServerContextBase& ctx);

}  // namespace raftkv::transport
