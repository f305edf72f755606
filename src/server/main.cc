// raftkv: the server binary. Parses flags (config.h), opens the node's
// database, and starts the node with one gRPC server that carries both the
// peer transport and the client services; the server listens on no port of
// its own: two ConnectionListeners (src/transport/connection_listener.h)
// accept the peer address's and the client address's connections and hand
// them over, so that each call knows its socket and its port, and each side
// refuses calls that came in on the other's port. One CompletionLoop thread runs all of that
// server's calls, the transport's outgoing streams and, between their events, the node loop's
// rounds (completion_loop.h, node.h). Runs until SIGINT or
// SIGTERM, then shuts down in order: the listeners, the node (answering every
// waiting request), the transport, the server, the loop.
//
// Any start-up failure prints one line "raftkv: <what was wrong and what to
// do>" and exits 1 (2 for bad flags).
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/common/logging.h"
#include "src/common/status_macros.h"
#include "src/server/config.h"
#include "src/server/node.h"
#include "src/server/services.h"
#include "src/storage/db.h"
#include "src/storage/kv_state_machine.h"
#include "src/storage/power_cut.h"
#include "src/storage/raft_log_store.h"
#include "src/transport/completion_loop.h"
#include "src/transport/connection_listener.h"
#include "src/transport/grpc_transport.h"

namespace raftkv::server {
namespace {

absl::Status Run(const ServerConfig& config) {
  RETURN_IF_ERROR(InitLogging(config.log_level, absl::StrCat("node", config.id)));

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (config.test_power_cut_signal) {
    sigaddset(&signals, SIGUSR2);
    storage::power_cut::Enable();
  }
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  storage::DbOptions db_options;
  db_options.write_buffer_bytes = config.memtable_bytes;
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Db> db,
                   storage::Db::Open(config.data_dir, config.cluster_id, config.id, db_options));
  ASSIGN_OR_RETURN(std::unique_ptr<storage::RaftLogStore> log,
                   storage::RaftLogStore::Open(db.get()));
  if (log->IsEmpty()) {
    raft::ConfState cs;
    for (const auto& [id, addr] : config.initial_cluster) cs.voters.push_back(id);
    RETURN_IF_ERROR(log->Bootstrap(cs));
    spdlog::info("bootstrapped a new cluster {:#x} with {} members", config.cluster_id,
                 cs.voters.size());
  }
  ASSIGN_OR_RETURN(std::unique_ptr<storage::KvStateMachine> kv,
                   storage::KvStateMachine::Open(db.get()));

  transport::TransportConfig tc;
  tc.cluster_id = config.cluster_id;
  tc.node_id = config.id;
  ASSIGN_OR_RETURN(std::unique_ptr<transport::GrpcTransport> transport,
                   transport::GrpcTransport::Create(tc));
  for (const auto& [id, addr] : config.initial_cluster) {
    if (id != config.id) RETURN_IF_ERROR(transport->AddPeer(id, addr.peer));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Node> node,
                   Node::Create(config, log.get(), kv.get(), transport.get()));
  KvService kv_service(config, node.get(), kv.get());
  ClusterService cluster_service(config, node.get(), kv.get(), db.get());

  // One gRPC server carries the peer service and the client services, all
  // run by one CompletionLoop thread, which also runs the node loop. It
  // listens on no port itself: ConnectionListeners hand it the connections
  // of both addresses.
  grpc::ServerBuilder builder;
  transport::ConfigureServerBuilder(tc, &builder);
  // Let client requests somewhat over the limit through to validation,
  // which names the limit; gRPC refuses anything larger still.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(
      std::max<uint64_t>(tc.message_bytes_max, config.limits.max_request_bytes * 2 + (1 << 20)),
      INT32_MAX)));
  builder.SetMaxSendMessageSize(-1);
  builder.RegisterService(transport->service());
  kv_service.Register(&builder);
  cluster_service.Register(&builder);
  transport::CompletionLoop loop(builder.AddCompletionQueue(), "raft-loop");
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return absl::InternalError("gRPC could not start the node's server");
  // On every way out, in the order gRPC needs: the server's Shutdown, then
  // the loop's drain, then (by scope) the server's end.
  auto stop_server = absl::MakeCleanup([&] {
    kv_service.StopScans();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    loop.Stop();
  });
  // Peers may connect from here on; their streams are refused (UNAVAILABLE,
  // and retried) until the transport starts below.
  ASSIGN_OR_RETURN(std::unique_ptr<transport::ConnectionListener> peer_listener,
                   transport::ConnectionListener::Start(config.listen_peer,
                                                        transport::NodePort::kPeer, server.get()));

  transport::TransportHandlers handlers;
  Node* n = node.get();
  handlers.on_message = [n](raft::Message m) { n->OnPeerMessage(std::move(m)); };
  handlers.on_unreachable = [n](raft::NodeId peer) { n->OnUnreachable(peer); };
  transport->SetCompletionLoop(&loop);
  RETURN_IF_ERROR(transport->Start(std::move(handlers)));
  node->Start(&loop);
  kv_service.Start(&loop);
  cluster_service.Start(&loop);
  loop.Start();

  absl::StatusOr<std::unique_ptr<transport::ConnectionListener>> listener =
      transport::ConnectionListener::Start(config.listen_client, transport::NodePort::kClient,
                                           server.get());
  if (!listener.ok()) {
    peer_listener->Stop();
    node->Stop();
    transport->Stop();
    return listener.status();
  }
  std::fprintf(stderr, "raftkv: node %llu ready: clients on %s, peers on %s, data in %s\n",
               static_cast<unsigned long long>(config.id), config.listen_client.c_str(),
               config.listen_peer.c_str(), config.data_dir.c_str());
  std::fflush(stderr);

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGUSR2) storage::power_cut::Cut();  // only with --test-power-cut-signal
  spdlog::info("signal {}: shutting down", sig);
  (*listener)->Stop();  // no new connections for a server shutting down
  peer_listener->Stop();
  node->Stop();       // off the loop; answers every waiting request
  transport->Stop();  // cancels the peer streams (the loop still runs them)
  std::move(stop_server).Invoke();
  node.reset();
  RETURN_IF_ERROR(db->Close());
  return absl::OkStatus();
}

}  // namespace
}  // namespace raftkv::server

int main(int argc, char** argv) {
  // Debian's abseil is built with absl::Mutex deadlock detection on; gRPC
  // locks absl::Mutexes on every call, and the detector's bookkeeping showed
  // in profiles of the write path. Our own locks are std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  raftkv::server::ParseResult parsed = raftkv::server::ParseServerConfig(argc, argv);
  if (!parsed.config) {
    std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  absl::Status st = raftkv::server::Run(*parsed.config);
  if (!st.ok()) {
    std::fprintf(stderr, "raftkv: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}
