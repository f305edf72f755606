#include "tests/testing/loopback_port.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>

namespace raftkv::testing {

namespace {

// Ports below this are often taken by system services.
constexpr int kLowestPort = 10000;

// The first port of the kernel's ephemeral range (32768 if unknown).
int EphemeralRangeStart() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  if (in >> low >> high && low > kLowestPort) return low;
  return 32768;
}

bool CanBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

int UnusedLoopbackPort() {
  static std::mutex mu;
  static std::set<int> given;
  static int next = -1;
  std::lock_guard<std::mutex> lock(mu);
  const int end = EphemeralRangeStart();
  const int span = end - kLowestPort;
  if (next < 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    next = static_cast<int>(
        (static_cast<unsigned>(getpid()) * 7919u + static_cast<unsigned>(ts.tv_nsec)) %
        static_cast<unsigned>(span));
  }
  for (int tried = 0; tried < span; ++tried) {
    int port = kLowestPort + next;
    next = (next + 1) % span;
    if (given.count(port) == 0 && CanBind(port)) {
      given.insert(port);
      return port;
    }
  }
  std::fprintf(stderr, "no unused loopback port in [%d, %d)\n", kLowestPort, end);
  std::abort();
}

}  // namespace raftkv::testing
