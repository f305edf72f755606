#include "tests/integration/process_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/testing/loopback_port.h"

namespace raftkv::testing {

namespace {

std::string SelfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return std::filesystem::path(buf).parent_path().string();
}

}  // namespace

std::string BinaryPath(const std::string& name) { return SelfDir() + "/" + name; }

ProcessCluster::ProcessCluster(ProcessClusterOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/raftkv-it-XXXXXX";
  root_ = mkdtemp(tmpl);
  for (int id = 1; id <= options_.nodes; ++id) {
    client_ports_[id] = UnusedLoopbackPort();
    peer_ports_[id] = UnusedLoopbackPort();
  }
}

ProcessCluster::~ProcessCluster() {
  for (auto& [id, pid] : pids_) {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  if (std::getenv("RAFTKV_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
}

std::string ProcessCluster::ClientAddress(int id) const {
  return absl::StrCat("127.0.0.1:", client_ports_.at(id));
}

std::string ProcessCluster::PeerAddress(int id) const {
  return absl::StrCat("127.0.0.1:", peer_ports_.at(id));
}

std::vector<std::string> ProcessCluster::ClientAddresses() const {
  std::vector<std::string> out;
  for (const auto& [id, port] : client_ports_) out.push_back(ClientAddress(id));
  return out;
}

std::string ProcessCluster::DataDir(int id) const { return absl::StrCat(root_, "/node", id); }
std::string ProcessCluster::LogFile(int id) const {
  return absl::StrCat(root_, "/node", id, ".log");
}

std::vector<std::string> ProcessCluster::Flags(int id) const {
  std::vector<std::string> peers, clients;
  for (const auto& [n, port] : peer_ports_) peers.push_back(absl::StrCat(n, "=127.0.0.1:", port));
  for (const auto& [n, port] : client_ports_) {
    clients.push_back(absl::StrCat(n, "=127.0.0.1:", port));
  }
  return {BinaryPath("raftkv"),
          "--id",
          absl::StrCat(id),
          "--initial-cluster",
          absl::StrJoin(peers, ","),
          "--initial-cluster-client",
          absl::StrJoin(clients, ","),
          "--data-dir",
          DataDir(id),
          "--tick-ms",
          absl::StrCat(options_.tick_ms),
          "--election-ticks",
          absl::StrCat(options_.election_ticks),
          "--log-level",
          "info"};
}

absl::Status ProcessCluster::Start() {
  for (int id = 1; id <= options_.nodes; ++id) {
    absl::Status st = StartNode(id);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::StartNode(int id, const std::vector<std::string>& extra) {
  if (Running(id)) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is running"));
  std::vector<std::string> args = Flags(id);
  args.insert(args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  args.insert(args.end(), extra.begin(), extra.end());
  std::string log = LogFile(id);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pids_[id] = pid;
  return absl::OkStatus();
}

bool ProcessCluster::Running(int id) const {
  auto it = pids_.find(id);
  return it != pids_.end() && it->second > 0;
}

void ProcessCluster::Kill(int id) {
  auto it = pids_.find(id);
  if (it == pids_.end() || it->second <= 0) return;
  kill(it->second, SIGKILL);
  waitpid(it->second, nullptr, 0);
  it->second = 0;
}

std::vector<std::string> ProcessCluster::PowerCutAll() {
  std::vector<int> cut;
  for (auto& [id, pid] : pids_) {
    if (pid > 0 && kill(pid, SIGUSR2) == 0) cut.push_back(id);
  }
  std::vector<std::string> how;
  for (int id : cut) {
    int status = 0;
    waitpid(pids_[id], &status, 0);
    pids_[id] = 0;
    how.push_back(WIFEXITED(status) ? absl::StrCat("exited with status ", WEXITSTATUS(status))
                                    : absl::StrCat("wait status ", status));
  }
  return how;
}

void ProcessCluster::Pause(int id) {
  auto it = pids_.find(id);
  if (it != pids_.end() && it->second > 0) kill(it->second, SIGSTOP);
}

void ProcessCluster::Resume(int id) {
  auto it = pids_.find(id);
  if (it != pids_.end() && it->second > 0) kill(it->second, SIGCONT);
}

void ProcessCluster::Stop(int id) {
  auto it = pids_.find(id);
  if (it == pids_.end() || it->second <= 0) return;
  kill(it->second, SIGTERM);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (waitpid(it->second, nullptr, WNOHANG) == it->second) {
      it->second = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill(id);
}

absl::StatusOr<int> ProcessCluster::WaitForLeader(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  auto client = NewClient(absl::Seconds(1));
  while (absl::Now() < deadline) {
    if (absl::Status exited = CheckNoNodeExited(); !exited.ok()) return exited;
    std::map<uint64_t, int> votes;
    std::map<uint64_t, int> leader_node;
    bool every_running_node_answers = true;
    std::vector<client::EndpointStatus> all = client->StatusAll();
    for (size_t i = 0; i < all.size(); ++i) {
      if (!all[i].status.ok()) {
        if (Running(static_cast<int>(i) + 1)) every_running_node_answers = false;
        continue;
      }
      const auto& s = *all[i].status;
      if (s.leader_id() != 0) ++votes[s.leader_id()];
      if (s.role() == v1::ROLE_LEADER) leader_node[s.member_id()] = static_cast<int>(i) + 1;
    }
    for (const auto& [leader, n] : votes) {
      if (n > options_.nodes / 2 && leader_node.count(leader) && every_running_node_answers) {
        return static_cast<int>(leader);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no leader within ", absl::FormatDuration(timeout)));
}

absl::Status ProcessCluster::CheckNoNodeExited() {
  for (auto& [id, pid] : pids_) {
    if (pid <= 0) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) continue;
    pid = 0;
    return absl::FailedPreconditionError(
        absl::StrCat("node ", id, " exited by itself (",
                     WIFEXITED(status) ? absl::StrCat("exit code ", WEXITSTATUS(status))
                                       : absl::StrCat("signal ", WTERMSIG(status)),
                     "); the end of its log:\n", LogTail(id)));
  }
  return absl::OkStatus();
}

absl::Status ProcessCluster::WaitForApplied(int id, uint64_t index, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  auto client = NewClientFor(id, absl::Seconds(1));
  uint64_t last = 0;
  while (absl::Now() < deadline) {
    auto s = client->Status(ClientAddress(id));
    if (s.ok()) {
      last = s->applied_index();
      if (last >= index) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("node ", id, " applied only ", last, " of ",
                                                  index, " within ",
                                                  absl::FormatDuration(timeout)));
}

std::unique_ptr<client::Client> ProcessCluster::NewClient(absl::Duration timeout) const {
  client::Options o;
  o.endpoints = ClientAddresses();
  o.call_timeout = timeout;
  o.dial_timeout = std::min(timeout, absl::Seconds(1));
  return std::move(*client::Client::Create(o));
}

std::unique_ptr<client::Client> ProcessCluster::NewClientFor(int id, absl::Duration timeout) const {
  client::Options o;
  o.endpoints = {ClientAddress(id)};
  o.call_timeout = timeout;
  o.dial_timeout = std::min(timeout, absl::Seconds(1));
  return std::move(*client::Client::Create(o));
}

std::pair<int, std::string> ProcessCluster::RunCommand(const std::vector<std::string>& argv,
                                                       const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) return {-1, "pipe failed"};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(out_pipe[1], 2);
    close(in_pipe[1]);
    close(out_pipe[0]);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (!stdin_text.empty()) {
    ssize_t ignored = write(in_pipe[1], stdin_text.data(), stdin_text.size());
    (void)ignored;
  }
  close(in_pipe[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(out_pipe[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

std::string ProcessCluster::LogTail(int id, int lines) const {
  std::ifstream in(LogFile(id));
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&out, all[i], "\n");
  return out;
}

}  // namespace raftkv::testing
