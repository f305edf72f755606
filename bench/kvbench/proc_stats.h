// Proc stats: CPU time and peak memory of server processes on this machine,
// read from Linux's /proc, and finding those processes.
//
// CPU is utime + stime of /proc/<pid>/stat (all threads of the process), in
// seconds; kvbench samples it at the start and end of the measured window.
// Peak RSS is VmHWM of /proc/<pid>/status: the high-water mark of the
// process's resident memory over its whole life (not just the window).
// Threads: pure functions of /proc; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace raftkv::kvbench {

// utime + stime of pid, in seconds. NOT_FOUND if the process is gone.
absl::StatusOr<double> ProcessCpuSeconds(int pid);

// VmHWM of pid, in bytes. NOT_FOUND if the process is gone.
absl::StatusOr<uint64_t> ProcessPeakRssBytes(int pid);

// The processes whose program (argv[0]'s basename) is `program` and whose
// command line names one of the endpoints (e.g. "--listen-client
// 127.0.0.1:7001" or "--listen-client-urls http://127.0.0.1:2379"), in pid
// order. Empty if there are none (e.g. remote servers).
std::vector<int> FindServerPids(const std::string& program,
                                const std::vector<std::string>& endpoints);

// True if `cmdline` (arguments joined by spaces) contains `endpoint` not
// followed by another digit (so 127.0.0.1:7001 does not match :70011).
bool CommandLineNames(const std::string& cmdline, const std::string& endpoint);

}  // namespace raftkv::kvbench
