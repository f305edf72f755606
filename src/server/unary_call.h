// UnaryCall: one unary call of a gRPC asynchronous service, from the moment
// it is requested on a transport::CompletionLoop's queue until its response is sent.
//
// A method is served by arming calls: UnaryCall::Arm(method) asks the
// server for the method's next call. When one arrives (on the loop's
// thread), the call first arms its successor, so the method always has a
// call waiting, then hands itself to method.serve, which may answer at once
// or later from any thread with Finish. Finish's completion frees the call.
//
// Invariants: a call is owned by gRPC from Arm until its last event and
// frees itself there; after Finish nothing may touch it (its completion may
// already be freeing it on the loop's thread); serve runs once per call, and
// Finish is called once per served call. During the loop's drain (after the
// server's Shutdown) a call that arrives is freed, neither served nor armed
// again.
// Thread-safety: serve runs on the loop's thread; Finish from any one thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "src/transport/completion_loop.h"

namespace raftkv::server {

template <class Request, class Response>
class UnaryCall final : public transport::CompletionLoop::Handler {
 public:
  // One method of a service: how to request its next call, and what to do
  // with each (it must eventually call Finish).
  struct Method {
    transport::CompletionLoop* loop;
    std::function<void(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                       grpc::ServerCompletionQueue*, void* tag)>
        request;
    std::function<void(UnaryCall*)> serve;
  };

  // Asks the server for method's next call. *method must outlive the loop.
  static void Arm(const Method* method) {
    auto* call = new UnaryCall(method);
    method->request(&call->context_, &call->request_, &call->writer_, method->loop->cq(), call);
  }

  grpc::ServerContext* context() { return &context_; }
  const Request& request() const { return request_; }
  Response* response() { return &response_; }

  // Sends the response (status OK) or the error; the call then frees itself.
  void Finish(const grpc::Status& status) {
    finishing_ = true;
    if (status.ok()) {
      writer_.Finish(response_, status, this);
    } else {
      writer_.FinishWithError(status, this);
    }
  }

  void OnEvent(bool ok) override {
    if (finishing_ || !ok || method_->loop->draining()) {
      delete this;  // sent (or failed to), or the server is shutting down
      return;
    }
    Arm(method_);
    method_->serve(this);
  }

 private:
  explicit UnaryCall(const Method* method) : method_(method), writer_(&context_) {}
  ~UnaryCall() = default;

  const Method* const method_;
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  grpc::ServerAsyncResponseWriter<Response> writer_;
  bool finishing_ = false;
};

}  // namespace raftkv::server
