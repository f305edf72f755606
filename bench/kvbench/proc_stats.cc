#include "bench/kvbench/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace raftkv::kvbench {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::StatusOr<double> ProcessCpuSeconds(int pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return stat.status();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // split after the last ')'. Fields after it start at field 3 (state);
  // utime and stime are fields 14 and 15.
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return absl::DataLossError("malformed /proc/<pid>/stat");
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::DataLossError(absl::StrCat("malformed /proc/", pid, "/stat"));
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

absl::StatusOr<uint64_t> ProcessPeakRssBytes(int pid) {
  absl::StatusOr<std::string> status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return status.status();
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmHWM:")) continue;
    // "   12345 kB"
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t kb = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &kb)) break;
    return kb * 1024;
  }
  return absl::DataLossError(absl::StrCat("no VmHWM in /proc/", pid, "/status"));
}

bool CommandLineNames(const std::string& cmdline, const std::string& endpoint) {
  for (size_t at = cmdline.find(endpoint); at != std::string::npos;
       at = cmdline.find(endpoint, at + 1)) {
    const size_t end = at + endpoint.size();
    if (end == cmdline.size() || !std::isdigit(static_cast<unsigned char>(cmdline[end]))) {
      return true;
    }
  }
  return false;
}

std::vector<int> FindServerPids(const std::string& program,
                                const std::vector<std::string>& endpoints) {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* d = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(d->d_name, &pid) || pid <= 0) continue;
    absl::StatusOr<std::string> raw = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (!raw.ok() || raw->empty()) continue;
    std::vector<std::string> argv = absl::StrSplit(*raw, '\0', absl::SkipEmpty());
    if (argv.empty()) continue;
    const size_t slash = argv[0].rfind('/');
    const std::string base = slash == std::string::npos ? argv[0] : argv[0].substr(slash + 1);
    if (base != program) continue;
    const std::string cmdline = absl::StrJoin(argv, " ");
    for (const std::string& e : endpoints) {
      if (CommandLineNames(cmdline, e)) {
        pids.push_back(pid);
        break;
      }
    }
  }
  closedir(proc);
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace raftkv::kvbench
