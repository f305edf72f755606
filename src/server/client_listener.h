// ClientListener: accepts a node's client connections itself and hands each
// socket to the node's grpc::Server (grpc::AddInsecureChannelFromFd) instead
// of letting gRPC listen. gRPC then names each such connection's peer
// "fd:N", so a call knows its socket (ConnectionFd), which ResponseBatch
// needs in order to cork it, and knows it came in on the client port (the
// same server listens on the peer port; services.h and grpc_transport.h
// refuse calls on the wrong one).
//
// Listening: the address is host:port (config.cc validated it); the host
// goes through getaddrinfo and every address it yields is bound, as gRPC's
// own listener does ("0.0.0.0", "[::]", "localhost", a name). SO_REUSEADDR
// but not SO_REUSEPORT: a port another process holds is an error naming the
// address. Accepted sockets get TCP_NODELAY, O_NONBLOCK and O_CLOEXEC, the
// options gRPC's listener sets.
//
// Invariants: the server outlives the listener, and Stop (or the
// destructor) returns only after the accept thread has ended, so no socket
// is handed to a server that is shutting down: stop the listener first, then
// shut the server down. Sockets handed over belong to gRPC from then on.
// Thread-safety: Start and Stop from one thread; ConnectionFd from any.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace raftkv::server {

class ClientListener {
 public:
  // Binds and listens on address, then accepts for server on a thread of
  // its own. FailedPrecondition, naming the address, when it cannot listen.
  static absl::StatusOr<std::unique_ptr<ClientListener>> Start(const std::string& address,
                                                               grpc::Server* server);
  ~ClientListener();
  ClientListener(const ClientListener&) = delete;
  ClientListener& operator=(const ClientListener&) = delete;

  // Stops accepting and closes the listening sockets. Idempotent.
  void Stop();

 private:
  ClientListener(std::vector<int> listen_fds, int stop_fd, grpc::Server* server);
  void AcceptLoop();

  std::vector<int> listen_fds_;
  int stop_fd_;  // an eventfd: written by Stop to end AcceptLoop
  grpc::Server* server_;
  std::thread thread_;
};

// The socket of the connection a call came in on, when ClientListener
// accepted it (its peer is "fd:N"); -1 otherwise.
int ConnectionFd(const grpc::ServerContextBase& ctx);

}  // namespace raftkv::server
