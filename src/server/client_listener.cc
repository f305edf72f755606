#include "src/server/client_listener.h"

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

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace raftkv::server {
namespace {

absl::Status CannotListen(const std::string& address, const std::string& why) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot listen for clients on ", address, ": ", why,
                   "; choose another address with --listen-client"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientListener>> ClientListener::Start(const std::string& address,
                                                                      grpc::Server* server) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return CannotListen(address, "it is not host:port");
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
    return CannotListen(address, gai_strerror(rc));
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
  if (fds.empty()) return CannotListen(address, error.empty() ? "no usable address" : error);
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    for (int fd : fds) close(fd);
    return CannotListen(address, absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<ClientListener>(new ClientListener(std::move(fds), stop_fd, server));
}

ClientListener::ClientListener(std::vector<int> listen_fds, int stop_fd, grpc::Server* server)
    : listen_fds_(std::move(listen_fds)), stop_fd_(stop_fd), server_(server) {
  thread_ = std::thread([this] { AcceptLoop(); });
}

ClientListener::~ClientListener() { Stop(); }

void ClientListener::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t n = write(stop_fd_, &one, sizeof one);
  (void)n;
  thread_.join();
  for (int fd : listen_fds_) close(fd);
  close(stop_fd_);
}

void ClientListener::AcceptLoop() {
  pthread_setname_np(pthread_self(), "client-accept");
  std::vector<pollfd> pfds;
  for (int fd : listen_fds_) pfds.push_back({fd, POLLIN, 0});
  pfds.push_back({stop_fd_, POLLIN, 0});
  for (;;) {
    if (poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("client listener: poll: {}; no longer accepting clients", std::strerror(errno));
      return;
    }
    if (pfds.back().revents != 0) return;
    for (size_t i = 0; i + 1 < pfds.size(); ++i) {
      if (pfds[i].revents == 0) continue;
      int fd = accept4(pfds[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          spdlog::warn("client listener: accept: {}; retrying in 100 ms", std::strerror(errno));
          poll(nullptr, 0, 100);
        }
        continue;  // EAGAIN, ECONNABORTED, ...: the next poll tells
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      grpc::AddInsecureChannelFromFd(server_, fd);
    }
  }
}

int ConnectionFd(const grpc::ServerContextBase& ctx) {
  std::string peer = ctx.peer();
  absl::string_view p(peer);
  int fd = -1;
  if (!absl::ConsumePrefix(&p, "fd:") || !absl::SimpleAtoi(p, &fd)) return -1;
  return fd;
}

}  // namespace raftkv::server
