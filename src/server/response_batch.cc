#include "src/server/response_batch.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace raftkv::server {
namespace {

thread_local ResponseBatch* current_batch = nullptr;

void SetCork(int fd, int on) { setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on); }

}  // namespace

ResponseBatch::ResponseBatch(size_t responses)
    : active_(current_batch == nullptr && responses >= 2) {
  if (active_) current_batch = this;
}

ResponseBatch::~ResponseBatch() {
  if (!active_) return;
  current_batch = nullptr;
  for (int fd : corked_) SetCork(fd, 0);
}

bool ResponseBatch::IsOpen() { return current_batch != nullptr; }

void ResponseBatch::Cork(int fd) {
  ResponseBatch* b = current_batch;
  if (b == nullptr || fd < 0) return;
  for (int f : b->corked_) {
    if (f == fd) return;
  }
  b->corked_.push_back(fd);
  SetCork(fd, 1);
}

}  // namespace raftkv::server
