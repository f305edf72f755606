#include "tests/chaos/harness/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "tests/chaos/harness/stop_flag.h"

namespace raftkv::chaos {

std::string CommandText(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::string& stdin_text, absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  // Everything the child needs is built before fork (only async-signal-safe
  // calls between fork and exec).
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (std::string& a : copy) args.push_back(a.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(out_pipe[1], 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (!stdin_text.empty()) {
    // The scripts are small (well under a pipe buffer).
    size_t off = 0;
    while (off < stdin_text.size()) {
      ssize_t n = write(in_pipe[1], stdin_text.data() + off, stdin_text.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  close(in_pipe[1]);

  CommandResult result;
  const int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(timeout);
  bool timed_out = false;
  char buf[4096];
  while (true) {
    int64_t left_ms = (deadline - MonotonicNanos()) / 1'000'000;
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(out_pipe[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", CommandText(argv), "' did not finish within ", absl::FormatDuration(timeout)));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.exit_code == 127 && result.output.empty()) {
    return absl::NotFoundError(absl::StrCat("could not run '", argv[0], "' (not installed?)"));
  }
  return result;
}

absl::Status RunChecked(const std::vector<std::string>& argv, const std::string& stdin_text,
                        absl::Duration timeout) {
  absl::StatusOr<CommandResult> r = RunCommand(argv, stdin_text, timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("'", CommandText(argv), "' exited ", r->exit_code, ": ",
                                            absl::StripAsciiWhitespace(r->output)));
  }
  return absl::OkStatus();
}

}  // namespace raftkv::chaos
