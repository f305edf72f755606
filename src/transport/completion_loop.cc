#include "src/transport/completion_loop.h"

#include <pthread.h>

namespace raftkv::transport {

CompletionLoop::CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq,
                               std::string thread_name)
    : cq_(std::move(cq)), thread_name_(std::move(thread_name)) {}

CompletionLoop::~CompletionLoop() { Stop(); }

void CompletionLoop::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), thread_name_.c_str());
    Run();
  });
}

void CompletionLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  draining_.store(true, std::memory_order_release);
  cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    Run();  // never started: free the handlers armed on the queue here
  }
}

void CompletionLoop::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<Handler*>(tag)->OnEvent(ok);
}

}  // namespace raftkv::transport
