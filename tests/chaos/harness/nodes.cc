#include "tests/chaos/harness/nodes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raftkv::chaos {

namespace {

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

void AppendToLog(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

}  // namespace

char ProcessState(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) S ...": comm may hold spaces and parentheses; the state
  // follows the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return 0;
  return text[close + 2];
}

std::string ProcessExe(pid_t pid) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec);
  return ec ? "" : p.string();
}

NodeProcesses::NodeProcesses(std::map<int, NodeLaunch> launches, CleanupRegistry* registry)
    : launches_(std::move(launches)), registry_(registry) {}

NodeProcesses::~NodeProcesses() { KillAll(); }

std::vector<int> NodeProcesses::Nodes() const {
  std::vector<int> out;
  for (const auto& [node, launch] : launches_) out.push_back(node);
  return out;
}

bool NodeProcesses::Running(int node) const {
  auto it = state_.find(node);
  return it != state_.end() && it->second.pid > 0;
}

bool NodeProcesses::Paused(int node) const {
  auto it = state_.find(node);
  return it != state_.end() && it->second.pid > 0 && it->second.paused;
}

pid_t NodeProcesses::Pid(int node) const {
  auto it = state_.find(node);
  return it == state_.end() ? 0 : it->second.pid;
}

absl::Status NodeProcesses::Start(int node) {
  auto launch_it = launches_.find(node);
  if (launch_it == launches_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("no node ", node));
  }
  if (Running(node)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is running"));
  }
  const NodeLaunch& launch = launch_it->second;
  std::vector<std::string> argv = {"ip", "netns", "exec", launch.netns, launch.raftkv_path};
  argv.insert(argv.end(), launch.flags.begin(), launch.flags.end());
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  int log_fd = open(launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", launch.log_path, ": ", std::strerror(errno)));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the harness died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  state_[node] = State{pid, false};
  if (registry_ != nullptr) registry_->AddPid(pid);

  // `ip netns exec` enters the namespace and execs raftkv in the same process.
  std::error_code ec;
  const std::string want = std::filesystem::canonical(launch.raftkv_path, ec).string();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string exe;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      state_[node] = State{};
      if (registry_ != nullptr) registry_->RemovePid(pid);
      return absl::InternalError(absl::StrCat("node ", node, " (pid ", pid, ") ",
                                              DescribeWaitStatus(status), " at start; log tail:\n",
                                              LogTail(node)));
    }
    exe = ProcessExe(pid);
    if (exe == want) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::InternalError(absl::StrCat("node ", node, " (pid ", pid, ") runs '", exe, "', not ",
                                          want, ", 5 s after start"));
}

absl::StatusOr<std::string> NodeProcesses::Kill(int node) {
  if (absl::Status st = Signal(node, SIGKILL); !st.ok()) return st;
  return Reap(node, 5000);
}

absl::Status NodeProcesses::Signal(int node, int sig) {
  if (!Running(node)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is not running"));
  }
  if (kill(state_[node].pid, sig) != 0) {
    return absl::InternalError(
        absl::StrCat("kill -", sig, " ", state_[node].pid, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NodeProcesses::Reap(int node, int wait_ms) {
  if (!Running(node)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is not running"));
  }
  State& s = state_[node];
  int status = 0;
  std::string late;
  for (int waited_ms = 0;; waited_ms += 5) {
    pid_t r = waitpid(s.pid, &status, WNOHANG);
    if (r == s.pid) break;
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid ", s.pid, ": ", std::strerror(errno)));
    }
    if (waited_ms >= wait_ms && late.empty()) {
      late = absl::StrCat(" (still running after ", wait_ms, " ms: killed)");
      kill(s.pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (registry_ != nullptr) registry_->RemovePid(s.pid);
  s = State{};
  return DescribeWaitStatus(status) + late;
}

absl::Status NodeProcesses::Pause(int node) {
  if (!Running(node)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is not running"));
  }
  State& s = state_[node];
  if (kill(s.pid, SIGSTOP) != 0) {
    return absl::InternalError(absl::StrCat("kill -STOP ", s.pid, ": ", std::strerror(errno)));
  }
  s.paused = true;
  for (int i = 0; i < 200; ++i) {
    if (ProcessState(s.pid) == 'T') return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::InternalError(absl::StrCat("node ", node, " (pid ", s.pid,
                                          ") not stopped 1 s after SIGSTOP (state '",
                                          std::string(1, ProcessState(s.pid)), "')"));
}

absl::Status NodeProcesses::Resume(int node) {
  if (!Running(node)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is not running"));
  }
  State& s = state_[node];
  if (kill(s.pid, SIGCONT) != 0) {
    return absl::InternalError(absl::StrCat("kill -CONT ", s.pid, ": ", std::strerror(errno)));
  }
  s.paused = false;
  for (int i = 0; i < 200; ++i) {
    char state = ProcessState(s.pid);
    if (state != 'T' && state != 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::InternalError(
      absl::StrCat("node ", node, " (pid ", s.pid, ") still stopped 1 s after SIGCONT"));
}

std::vector<std::string> NodeProcesses::ReapUnexpectedExits() {
  std::vector<std::string> out;
  for (auto& [node, s] : state_) {
    if (s.pid <= 0) continue;
    int status = 0;
    if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
      out.push_back(absl::StrCat("node ", node, " (pid ", s.pid, ") ", DescribeWaitStatus(status)));
      AppendToLog(launches_.at(node).log_path,
                  absl::StrCat("=== chaos: this process ", DescribeWaitStatus(status),
                               " without being killed ==="));
      if (registry_ != nullptr) registry_->RemovePid(s.pid);
      s = State{};
    }
  }
  return out;
}

void NodeProcesses::KillAll() {
  for (auto& [node, s] : state_) {
    if (s.pid <= 0) continue;
    kill(s.pid, SIGKILL);
    while (waitpid(s.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (registry_ != nullptr) registry_->RemovePid(s.pid);
    s = State{};
  }
}

std::string NodeProcesses::LogTail(int node, int lines) const {
  std::ifstream in(launches_.at(node).log_path);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&out, all[i], "\n");
  return out;
}

}  // namespace raftkv::chaos
