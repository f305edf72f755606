#include "src/transport/connection_listener.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace raftkv::transport {
namespace {

absl::Status CannotListen(const std::string& address, NodePort port, const std::string& why) {
  const bool client = port == NodePort::kClient;
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen for ", client ? "clients" : "peers", " on ", address, ": ", why,
                   "; choose another address with ", client ? "--listen-client" : "--listen-peer"));
}

// The port each handed-over socket came in on, by descriptor number (-1:
// none recorded). Written by the accept threads, read by calls.
class HandedPorts {
 public:
  void Record(int fd, NodePort port) {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<size_t>(fd) >= ports_.size()) ports_.resize(static_cast<size_t>(fd) + 64, -1);
    ports_[static_cast<size_t>(fd)] = static_cast<int8_t>(port);
  }
  bool Find(int fd, NodePort* port) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd < 0 || static_cast<size_t>(fd) >= ports_.size() || ports_[static_cast<size_t>(fd)] < 0)
      return false;
    *port = static_cast<NodePort>(ports_[static_cast<size_t>(fd)]);
    return true;
  }

 private:
  mutable std::mutex mu_;
  std::vector<int8_t> ports_;
};

HandedPorts& Handed() {
  static HandedPorts* ports = new HandedPorts;  // never destroyed: calls may outlive main
  return *ports;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConnectionListener>> ConnectionListener::Start(
    const std::string& address, NodePort node_port, grpc::Server* server) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return CannotListen(address, node_port, "it is not host:port");
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
      rc != 0) {
    return CannotListen(address, node_port, gai_strerror(rc));
  }
  std::vector<int> fds;
  std::string error;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // When IPv4 addresses are bound as well, an IPv6 socket must not also
    // claim them; alone ("[::]"), it serves both, as with gRPC.
    if (ai->ai_family == AF_INET6 && res->ai_next != nullptr) {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      error = std::strerror(errno);
      close(fd);
      continue;
    }
    fds.push_back(fd);
  }
  freeaddrinfo(res);
  if (fds.empty())
    return CannotListen(address, node_port, error.empty() ? "no usable address" : error);
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    for (int fd : fds) close(fd);
    return CannotListen(address, node_port, absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<ConnectionListener>(
      new ConnectionListener(std::move(fds), stop_fd, node_port, server));
}

ConnectionListener::ConnectionListener(std::vector<int> listen_fds, int stop_fd, NodePort port,
                                       grpc::Server* server)
    : listen_fds_(std::move(listen_fds)), stop_fd_(stop_fd), port_(port), server_(server) {
  thread_ = std::thread([this] { AcceptLoop(); });
}

ConnectionListener::~ConnectionListener() { Stop(); }

void ConnectionListener::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t n = write(stop_fd_, &one, sizeof one);
  (void)n;
  thread_.join();
  for (int fd : listen_fds_) close(fd);
  close(stop_fd_);
}

void ConnectionListener::AcceptLoop() {
  const bool client = port_ == NodePort::kClient;
  pthread_setname_np(pthread_self(), client ? "client-accept" : "peer-accept");
  const char* what = client ? "client" : "peer";
  std::vector<pollfd> pfds;
  for (int fd : listen_fds_) pfds.push_back({fd, POLLIN, 0});
  pfds.push_back({stop_fd_, POLLIN, 0});
  for (;;) {
    if (poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{} listener: poll: {}; no longer accepting connections", what,
                    std::strerror(errno));
      return;
    }
    if (pfds.back().revents != 0) return;
    for (size_t i = 0; i + 1 < pfds.size(); ++i) {
      if (pfds[i].revents == 0) continue;
      int fd = accept4(pfds[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          spdlog::warn("{} listener: accept: {}; retrying in 100 ms", what, std::strerror(errno));
          poll(nullptr, 0, 100);
        }
        continue;  // EAGAIN, ECONNABORTED, ...: the next poll tells
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Handed().Record(fd, port_);
      grpc::AddInsecureChannelFromFd(server_, fd);
    }
  }
}

HandedConnection HandedConnectionOf(const grpc::ServerContextBase& ctx) {
  std::string peer = ctx.peer();
  absl::string_view p(peer);
  HandedConnection c;
  int fd = -1;
  if (absl::ConsumePrefix(&p, "fd:") && absl::SimpleAtoi(p, &fd) && Handed().Find(fd, &c.port)) {
    c.fd = fd;
  }
  return c;
}

}  // namespace raftkv::transport
