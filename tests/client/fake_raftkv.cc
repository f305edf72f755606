// fake_raftkv: a stand-in for build/bin/raftkv that takes the server's flags
// and serves the client API from memory without Raft, for exercising
// scripts/cluster.sh and kvctl end to end before (or without) the real
// server. Node 1 is always the leader and serves every request; the others
// answer "not leader" naming node 1, as the real followers do. Not a store:
// nothing is replicated or persisted.
//
// Use: link it as bin/raftkv next to bin/kvctl in a directory and point
// RAFTKV_BUILD_DIR at that directory.
// Threads: gRPC's; main waits for SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/client/fake_node.h"

namespace {

// "1=a:1,2=b:2" -> {1: "a:1", 2: "b:2"}
std::map<uint64_t, std::string> ParseMembers(const std::string& text) {
  std::map<uint64_t, std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    uint64_t id = 0;
    if (absl::SimpleAtoi(kv.first, &id)) out[id] = kv.second;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t id = 0;
  std::string clients, listen_client, data_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--id" && !absl::SimpleAtoi(argv[i + 1], &id)) id = 0;
    if (flag == "--initial-cluster-client") clients = argv[i + 1];
    if (flag == "--listen-client") listen_client = argv[i + 1];
    if (flag == "--data-dir") data_dir = argv[i + 1];
  }
  const std::map<uint64_t, std::string> members = ParseMembers(clients);
  if (id == 0 || members.count(id) == 0 || members.count(1) == 0) {
    std::fprintf(stderr, "fake_raftkv: need --id N and --initial-cluster-client naming 1 and N\n");
    return 2;
  }
  if (listen_client.empty()) listen_client = members.at(id);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  namespace t = raftkv::client::testing;
  t::FakeNode node(id, id == 1 ? raftkv::v1::ROLE_LEADER : raftkv::v1::ROLE_FOLLOWER, listen_client,
                   /*leader_id=*/1);
  if (node.address().empty()) {
    std::fprintf(stderr, "fake_raftkv: cannot listen on %s\n", listen_client.c_str());
    return 1;
  }
  if (id != 1) node.SetBehavior(t::NotLeader(members.at(1), 1));
  std::fprintf(stderr, "raftkv: node %llu ready: clients on %s, peers on -, data in %s\n",
               static_cast<unsigned long long>(id), node.address().c_str(), data_dir.c_str());
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "fake_raftkv: signal %d: shutting down\n", sig);
  node.Shutdown();
  return 0;
}
